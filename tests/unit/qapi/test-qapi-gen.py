#!/usr/bin/env python3
#
# Tests of the generator's schema reader: syntax, documentation blocks,
# example extraction, semantic checks and C++ naming.
#
# Run by meson with QAPI_SCRIPTS (the directory of the generator and its
# package) and QAPI_SCHEMA (the seoib schema) in the environment.

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import unittest

# The generator's package (qapi/scripts/qapi/).
sys.path.insert(0, os.environ.get('QAPI_SCRIPTS') or os.path.join(
    os.path.dirname(__file__), '..', '..', '..', 'qapi', 'scripts'))

from qapi.common import c_name, camel_case, enum_constant  # noqa: E402
from qapi.error import QAPIError  # noqa: E402
from qapi.schema import Schema  # noqa: E402
from qapi.builtin_types import BuiltinTypesGen  # noqa: E402
from qapi.commands import CommandsGen  # noqa: E402
from qapi.events import EventsGen  # noqa: E402
from qapi.examples_gen import ExamplesGen  # noqa: E402
from qapi.gen import Gen, output_files  # noqa: E402
from qapi.introspect import schema_info  # noqa: E402
from qapi.main import main  # noqa: E402
from qapi.types import TypesGen  # noqa: E402


class SchemaTestCase(unittest.TestCase):
    """Writes schema files into a scratch directory and reads them."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='qapi-gen-test-')

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def schema(self, text, pragma="{ 'pragma': { 'doc-required': false } }\n"):
        return Schema(self.write('schema.json', pragma + text))

    def assertSchemaError(self, text, message, pragma=None):
        with self.assertRaises(QAPIError) as cm:
            if pragma is None:
                self.schema(text)
            else:
                self.schema(text, pragma)
        self.assertIn(message, str(cm.exception))
        return cm.exception


class SyntaxTest(SchemaTestCase):
    def test_expressions_become_definitions_in_order(self):
        schema = self.schema("""
{ 'enum': 'Colour', 'data': [ 'red', 'dark-blue' ] }
{ 'struct': 'Paint', 'data': { 'colour': 'Colour', '*litres': 'number' } }
{ 'command': 'mix-paint', 'data': { 'paints': [ 'Paint' ] },
  'returns': 'Paint' }
{ 'event': 'PAINT_DRIED' }
""")
        self.assertEqual(list(schema.definitions),
                         ['Colour', 'Paint', 'MixPaintArgs', 'mix-paint',
                          'PAINT_DRIED'])

    def test_optional_member_drops_its_star(self):
        schema = self.schema(
            "{ 'struct': 'S', 'data': { '*opt': 'str', 'req': 'int' } }")
        members = schema.definitions['S'].members()
        self.assertEqual([(m.name, m.optional) for m in members],
                         [('opt', True), ('req', False)])

    def test_list_type_is_marked(self):
        schema = self.schema("{ 'struct': 'S', 'data': { 'l': [ 'int' ] } }")
        ref = schema.definitions['S'].members()[0].type
        self.assertEqual((ref.name, ref.is_list), ('int', True))

    def test_member_may_carry_features(self):
        schema = self.schema("""
{ 'struct': 'S', 'data': { 'm': { 'type': 'int', 'features': [ 'unstable' ] } } }
""")
        member = schema.definitions['S'].members()[0]
        self.assertEqual([f.name for f in member.features], ['unstable'])

    def test_if_conditions_are_accepted_and_ignored(self):
        schema = self.schema("""
{ 'enum': 'E', 'data': [ { 'name': 'a', 'if': 'CONFIG_A' }, 'b' ],
  'if': 'CONFIG_E' }
""")
        self.assertEqual([v.name for v in schema.definitions['E'].values],
                         ['a', 'b'])

    def test_comments_are_skipped(self):
        schema = self.schema("""
# a comment
{ 'enum': 'E',  # a comment after code
  'data': [ 'a' ] }
""")
        self.assertIn('E', schema.definitions)

    def test_double_quotes_are_rejected(self):
        self.assertSchemaError('{ "enum": "E", "data": [] }',
                               "strings must be quoted with '")

    def test_duplicate_key_is_rejected(self):
        self.assertSchemaError("{ 'enum': 'E', 'data': [], 'data': [] }",
                               "duplicate key 'data'")

    def test_unterminated_string_is_rejected(self):
        self.assertSchemaError("{ 'enum': 'E }", 'missing terminating')

    def test_trailing_comma_is_rejected(self):
        self.assertSchemaError("{ 'enum': 'E', 'data': [ 'a', ] }",
                               "stray ']'")

    def test_error_names_file_and_line(self):
        error = self.assertSchemaError("\n\n{ 'enum': 'E', 'data': 'x' }",
                                       "enum 'data' must be a list")
        self.assertEqual(error.info.line, 4)
        self.assertTrue(error.info.fname.endswith('schema.json'))


class IncludeTest(SchemaTestCase):
    def test_included_definitions_join_the_schema(self):
        self.write('sub.json', "{ 'enum': 'Sub', 'data': [ 'x' ] }\n")
        schema = self.schema("{ 'include': 'sub.json' }\n"
                             "{ 'struct': 'S', 'data': { 's': 'Sub' } }")
        self.assertIn('Sub', schema.definitions)

    def test_file_included_twice_is_read_once(self):
        self.write('common.json', "{ 'enum': 'Common', 'data': [ 'x' ] }\n")
        self.write('a.json', "{ 'include': 'common.json' }\n")
        self.write('b.json', "{ 'include': 'common.json' }\n")
        schema = self.schema("{ 'include': 'a.json' }\n"
                             "{ 'include': 'b.json' }\n")
        self.assertEqual(len(schema.files), 4)

    def test_missing_include_is_an_error(self):
        self.assertSchemaError("{ 'include': 'nowhere.json' }",
                               "can't read include file 'nowhere.json'")


class SemanticsTest(SchemaTestCase):
    def test_unknown_type_is_rejected(self):
        self.assertSchemaError("{ 'struct': 'S', 'data': { 'm': 'Nope' } }",
                               "member 'm' of 'S' uses unknown type 'Nope'")

    def test_redefinition_is_rejected(self):
        self.assertSchemaError("{ 'enum': 'E', 'data': [] }\n"
                               "{ 'struct': 'E', 'data': {} }",
                               "'E' is already defined at")

    def test_union_is_not_supported(self):
        self.assertSchemaError(
            "{ 'union': 'U', 'base': {}, 'discriminator': 'x', 'data': {} }",
            "'union' is not supported")

    def test_unknown_key_is_rejected(self):
        self.assertSchemaError("{ 'struct': 'S', 'data': {}, 'colour': 'x' }",
                               "struct has unknown key 'colour'")

    def test_type_name_must_be_camel_case(self):
        self.assertSchemaError("{ 'struct': 'bad-name', 'data': {} }",
                               "struct name 'bad-name' does not follow")

    def test_event_name_must_be_upper_case(self):
        self.assertSchemaError("{ 'event': 'Stop' }",
                               "event name 'Stop' does not follow")

    def test_command_name_with_underscore_needs_a_pragma(self):
        self.assertSchemaError("{ 'command': 'old_style' }",
                               "command name 'old_style' does not follow")

    def test_pragma_allows_legacy_command_name(self):
        schema = self.schema(
            "{ 'command': 'old_style' }",
            "{ 'pragma': { 'doc-required': false,"
            " 'command-name-exceptions': [ 'old_style' ] } }\n")
        self.assertIn('old_style', schema.definitions)

    def test_member_name_must_be_lower_case(self):
        self.assertSchemaError("{ 'struct': 'S', 'data': { 'Upper': 'int' } }",
                               "member 'Upper' of 'S' must be lower-case")

    def test_members_clashing_in_cpp_are_rejected(self):
        self.assertSchemaError(
            "{ 'struct': 'S', 'data': { 'a-b': 'int', 'a_b': 'int' } }",
            "member 'a_b' of 'S' clashes with 'a-b'",
            "{ 'pragma': { 'doc-required': false,"
            " 'member-name-exceptions': [ 'S' ] } }\n")

    def test_base_member_redeclared_is_rejected(self):
        self.assertSchemaError(
            "{ 'struct': 'B', 'data': { 'x': 'int' } }\n"
            "{ 'struct': 'S', 'base': 'B', 'data': { 'x': 'str' } }",
            "member 'x' of 'S' clashes with 'x'")

    def test_struct_containing_itself_by_value_is_rejected(self):
        self.assertSchemaError(
            "{ 'struct': 'A', 'data': { '*b': 'B' } }\n"
            "{ 'struct': 'B', 'data': { 'a': 'A' } }",
            "contains itself")

    def test_struct_containing_itself_through_a_list_is_accepted(self):
        schema = self.schema(
            "{ 'struct': 'Tree', 'data': { 'children': [ 'Tree' ] } }")
        self.assertIn('Tree', schema.definitions)

    def test_boxed_command_needs_a_named_struct(self):
        self.assertSchemaError(
            "{ 'command': 'c', 'data': { 'x': 'int' }, 'boxed': true }",
            "'boxed': true requires 'data' to name a struct")

    def test_named_command_data_must_be_a_struct(self):
        self.assertSchemaError(
            "{ 'enum': 'E', 'data': [] }\n{ 'command': 'c', 'data': 'E' }",
            "'data' of 'c' must name a struct")

    def test_enum_values_clashing_in_cpp_are_rejected(self):
        self.assertSchemaError(
            "{ 'enum': 'E', 'data': [ 'a-b', 'AB' ] }",
            "enum values 'a-b' and 'AB' clash in C++",
            "{ 'pragma': { 'doc-required': false,"
            " 'member-name-exceptions': [ 'E' ] } }\n")

    def test_enum_value_must_be_lower_case(self):
        self.assertSchemaError("{ 'enum': 'E', 'data': [ 'Red' ] }",
                               "value 'Red' of 'E' must be lower-case")


DOCUMENTED = """
##
# = Section heading
##

##
# @Widget:
#
# A widget.
#
# More about widgets.
#
# @size: how big,
#     in metres
#
# @colour: which colour
#
# Features:
#
# @unstable: @colour is experimental
#
# Since: 1.0
##
{ 'struct': 'Widget',
  'data': { 'size': 'number',
            'colour': { 'type': 'str', 'features': [ 'unstable' ] } } }

##
# @get-widget:
#
# Fetch the widget.
#
# Returns: the @Widget
#
# Example:
#
# Fetching it:
#
# -> { "execute": "get-widget" }
# <- { "return": { "size": 1.5,
#                  "colour": "red" } }
##
{ 'command': 'get-widget', 'returns': 'Widget' }
"""

REQUIRED = "{ 'pragma': { 'doc-required': true } }\n"


class DocumentationTest(SchemaTestCase):
    def doc(self):
        return self.schema(DOCUMENTED, REQUIRED).definitions['Widget'].doc

    def test_block_is_attached_to_its_definition(self):
        self.assertEqual(self.doc().symbol, 'Widget')

    def test_body_keeps_its_paragraphs(self):
        self.assertEqual(self.doc().body.text,
                         'A widget.\n\nMore about widgets.')

    def test_summary_is_the_first_paragraph(self):
        self.assertEqual(self.doc().summary(), 'A widget.')

    def test_member_description_continues_on_indented_lines(self):
        self.assertEqual(self.doc().args['size'].text, 'how big,\nin metres')

    def test_member_gets_its_description(self):
        schema = self.schema(DOCUMENTED, REQUIRED)
        member = schema.definitions['Widget'].members()[1]
        self.assertEqual(member.doc, 'which colour')

    def test_features_section_documents_features(self):
        self.assertEqual(self.doc().features['unstable'].text,
                         '@colour is experimental')

    def test_tagged_sections_are_kept(self):
        self.assertEqual(self.doc().section('Since').text, '1.0')

    def test_free_form_block_is_not_a_definition_doc(self):
        schema = self.schema(DOCUMENTED, REQUIRED)
        self.assertEqual(schema.docs[0].body.text, '= Section heading')

    def test_missing_documentation_is_rejected_when_required(self):
        self.assertSchemaError("{ 'enum': 'E', 'data': [] }",
                               "definition 'E' lacks documentation", REQUIRED)

    def test_undocumented_member_is_rejected(self):
        self.assertSchemaError("""
##
# @S:
#
# Text.
##
{ 'struct': 'S', 'data': { 'x': 'int' } }
""", "member 'x' of 'S' lacks documentation", REQUIRED)

    def test_documenting_a_missing_member_is_rejected(self):
        self.assertSchemaError("""
##
# @S:
#
# @y: not there
##
{ 'struct': 'S', 'data': {} }
""", "documented member 'y' does not exist in 'S'", REQUIRED)

    def test_undocumented_feature_is_rejected(self):
        self.assertSchemaError("""
##
# @E:
#
# Text.
##
{ 'enum': 'E', 'data': [], 'features': [ 'deprecated' ] }
""", "feature 'deprecated' of 'E' lacks documentation", REQUIRED)

    def test_block_for_another_name_is_rejected(self):
        self.assertSchemaError("""
##
# @Other:
##
{ 'enum': 'E', 'data': [] }
""", "documentation comment is for 'Other'")

    def test_unterminated_block_is_rejected(self):
        self.assertSchemaError("##\n# @E:\n", 'must end with')

    def test_missing_space_after_hash_is_rejected(self):
        self.assertSchemaError("##\n#@E:\n##\n{ 'enum': 'E', 'data': [] }",
                               "missing space after '#'")


class ExampleTest(SchemaTestCase):
    def examples(self, text):
        return self.schema(text).examples

    def test_exchange_is_extracted_with_multi_line_messages(self):
        (definition, section, messages), = self.examples(DOCUMENTED)
        self.assertEqual(definition.name, 'get-widget')
        self.assertEqual([(m.direction, m.message) for m in messages], [
            ('->', {'execute': 'get-widget'}),
            ('<-', {'return': {'size': 1.5, 'colour': 'red'}}),
        ])

    def test_qmp_example_directive_is_an_example(self):
        (_, _, messages), = self.examples("""
##
# @c:
#
# .. qmp-example::
#
#     -> { "execute": "c" }
#     <- { "return": {} }
##
{ 'command': 'c' }
""")
        self.assertEqual(len(messages), 2)

    def example_error(self, body, definition="{ 'command': 'c' }",
                      arguments=()):
        docs = ''.join('# @%s: an argument\n#\n' % a for a in arguments)
        return self.assertSchemaError(
            "##\n# @c:\n#\n" + docs + "# Example:\n#\n" + ''.join(
                '# %s\n' % line for line in body.split('\n')) + '##\n'
            + definition, '')

    def test_invalid_json_is_rejected(self):
        error = self.example_error('-> { "execute": "c", }\n<- { "return": {} }')
        self.assertIn('example message is not valid JSON', str(error))

    def test_unknown_command_is_rejected(self):
        error = self.example_error('-> { "execute": "nope" }')
        self.assertIn("example runs unknown command 'nope'", str(error))

    def test_unknown_argument_is_rejected(self):
        error = self.example_error(
            '-> { "execute": "c", "arguments": { "y": 1 } }\n'
            '<- { "return": {} }',
            "{ 'command': 'c', 'data': { '*x': 'int' } }", arguments=['x'])
        self.assertIn("'arguments' has no member 'y'", str(error))

    def test_wrongly_typed_return_is_rejected(self):
        error = self.example_error(
            '-> { "execute": "c" }\n<- { "return": "five" }',
            "{ 'command': 'c', 'returns': 'int' }")
        self.assertIn("'return' should be 'int'", str(error))

    def test_value_out_of_range_is_rejected(self):
        error = self.example_error(
            '-> { "execute": "c", "arguments": { "x": 256 } }\n'
            '<- { "return": {} }',
            "{ 'command': 'c', 'data': { 'x': 'uint8' } }", arguments=['x'])
        self.assertIn("'x' should be 'uint8'", str(error))

    def test_return_for_a_command_without_result_must_be_empty(self):
        error = self.example_error('-> { "execute": "c" }\n<- { "return": 1 }')
        self.assertIn("'c' returns nothing", str(error))

    def test_error_reply_is_accepted(self):
        (_, _, messages), = self.examples(
            "##\n# @c:\n#\n# Example:\n#\n# -> { \"execute\": \"c\" }\n"
            "# <- { \"error\": { \"class\": \"GenericError\", "
            "\"desc\": \"no\" } }\n##\n{ 'command': 'c' }")
        self.assertEqual(messages[1].message['error']['desc'], 'no')


class NamingTest(unittest.TestCase):
    def test_member_names_become_snake_case(self):
        self.assertEqual(c_name('cpu-max'), 'cpu_max')

    def test_keywords_get_qemus_prefix(self):
        self.assertEqual(c_name('default'), 'q_default')

    def test_enum_values_become_camel_case(self):
        self.assertEqual(enum_constant('not-advertised'),
                         'NotAdvertised')

    def test_enum_values_keep_underscores(self):
        self.assertEqual(enum_constant('x86_64'), 'X86_64')

    def test_enum_values_starting_with_a_digit_get_an_underscore(self):
        self.assertEqual(enum_constant('2_5'), '_2_5')

    def test_commands_become_argument_struct_names(self):
        self.assertEqual(camel_case('qom-list-types') + 'Args',
                         'QomListTypesArgs')


class SeoibSchemaTest(unittest.TestCase):
    """The seoib schema itself."""

    @classmethod
    def setUpClass(cls):
        path = os.environ.get('QAPI_SCHEMA') or os.path.join(
            os.path.dirname(__file__), '..', '..', '..', 'qapi',
            'qapi-schema.json')
        cls.schema = Schema(path)

    def test_has_the_commands_seoib_answers(self):
        self.assertEqual([c.name for c in self.schema.commands()], [
            'qmp_capabilities', 'query-version', 'query-commands', 'quit',
            'query-status', 'stop', 'cont', 'qom-list', 'qom-get', 'qom-set',
            'qom-list-types', 'qom-list-properties', 'device-list-properties',
            'query-machines',
            'query-uuid', 'query-target', 'query-kvm', 'query-seoib', 'query-migrate',
            'migrate-set-parameters', 'query-migrate-parameters', 'migrate',
            'migrate-incoming', 'migrate_cancel', 'getfd', 'closefd',
            'human-monitor-command', 'query-name', 'job-dismiss',
            'job-finalize', 'query-jobs', 'snapshot-save', 'snapshot-load',
            'snapshot-delete'])

    def test_seoib_policy_has_the_four_policies(self):
        values = self.schema.definitions['SeoibPolicy'].values
        self.assertEqual([v.name for v in values],
                         ['auto', 'quirked', 'respected', 'not-advertised'])

    def test_query_seoib_has_an_example(self):
        names = [d.name for d, _, _ in self.schema.examples]
        self.assertIn('query-seoib', names)

    def test_compat_property_has_qemus_members(self):
        members = self.schema.definitions['CompatProperty'].members()
        self.assertEqual([m.name for m in members],
                         ['qom-type', 'property', 'value'])


class BackEndTest(SchemaTestCase):
    """One thing each back end module is relied on for."""

    SCHEMA = ("{ 'struct': 'Outer', 'data': { 'inner': 'Inner' } }\n"
              "{ 'struct': 'Inner', 'data': { 'n': 'int' } }\n"
              "{ 'command': 'get-outers', 'returns': [ 'Outer' ] }\n"
              "{ 'event': 'DONE' }\n")

    def opts(self, **kw):
        opts = dict(namespace='qapi_test', prefix='test-', include_prefix='',
                    builtins=False, output_dir=self.dir, depfile=None)
        opts.update(kw)
        return argparse.Namespace(**opts)

    def test_gen_qualifies_names_outside_namespace_qapi(self):
        gen = Gen(self.opts(), self.schema(self.SCHEMA))
        self.assertEqual(gen.qualified('Outer'), 'qapi_test::Outer')
        self.assertIn('using qapi::Result;', gen.open_ns())
        self.assertIn('schema.json', gen.banner('x'))

    def test_gen_lists_builtins_first_only_when_asked(self):
        self.assertEqual(output_files(self.opts())[0], 'test-qapi-types.h')
        self.assertEqual(output_files(self.opts(builtins=True))[:2],
                         ['qapi-builtin-types.h', 'qapi-builtin-types.cc'])

    def test_types_orders_a_struct_after_what_it_contains(self):
        gen = TypesGen(self.opts(), self.schema(self.SCHEMA))
        self.assertEqual([s.name for s in gen.struct_order()],
                         ['Inner', 'Outer'])

    def test_commands_declare_the_command_class(self):
        gen = CommandsGen(self.opts(), self.schema(self.SCHEMA))
        self.assertIn('class QmpCommands', gen.commands_h())

    def test_event_without_data_has_no_parameters(self):
        schema = self.schema(self.SCHEMA)
        gen = EventsGen(self.opts(), schema)
        self.assertEqual(gen.event_params(schema.definitions['DONE']), [])

    def test_schema_info_adds_q_empty_arrays_and_builtins(self):
        infos = schema_info(self.schema(self.SCHEMA))
        by_name = {i['name']: i for i in infos}
        self.assertEqual(by_name['get-outers']['arg-type'], 'q_empty')
        self.assertEqual(by_name['q_empty']['meta-type'], 'object')
        self.assertEqual(by_name['int']['json-type'], 'int')
        arrays = [i for i in infos if i['meta-type'] == 'array']
        self.assertEqual(len(arrays), 1)

    def test_examples_of_an_undocumented_schema_are_empty(self):
        gen = ExamplesGen(self.opts(), self.schema(self.SCHEMA))
        self.assertEqual(gen.examples_json(), '[]\n')

    def test_builtin_types_header_is_banner_and_fixed_text(self):
        gen = BuiltinTypesGen(self.opts(), self.schema(self.SCHEMA))
        self.assertTrue(gen.builtin_types_h().startswith('/*\n'))
        self.assertIn('#pragma once', gen.builtin_types_h())

    def test_main_writes_every_file_and_fails_on_a_bad_schema(self):
        path = self.write('good.json', "{ 'pragma': { 'doc-required': "
                          "false } }\n" + self.SCHEMA)
        out = os.path.join(self.dir, 'out')
        self.assertEqual(main([path, '-o', out]), 0)
        self.assertEqual(sorted(os.listdir(out)),
                         sorted(output_files(self.opts(prefix='',
                                                       builtins=True))))
        bad = self.write('bad.json', "{ 'enum': 'E', 'data': 'x' }\n")
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertEqual(main([bad, '-o', out]), 1)
        self.assertIn('bad.json', err.getvalue())


if __name__ == '__main__':
    unittest.main(argv=sys.argv[:1], verbosity=1)
