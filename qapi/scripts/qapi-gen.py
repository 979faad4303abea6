#!/usr/bin/env python3
#
# qapi-gen: turn a QAPI schema written in QEMU's dialect into C++.
#
# The schema language is QEMU's (docs/devel/qapi-code-gen.rst): a sequence
# of JSON-like expressions with single-quoted strings and '#' comments,
# 'enum', 'struct', 'command', 'event', 'include' and 'pragma' expressions,
# '*optional' members, and '##' documentation blocks whose "Example:"
# sections hold "->"/"<-" QMP exchanges.  'union' and 'alternate' are not
# supported; 'if' conditions are accepted and ignored.
#
# Outputs (into --output-dir, file names optionally prefixed):
#   qapi-builtin-types.h/.cc  codecs for the built-in types (once per program)
#   qapi-types.h/.cc          enum classes, structs, QObject codecs
#   qapi-commands.h/.cc       class QmpCommands, qmp_dispatch(), name tables
#   qapi-events.h/.cc         qapi_event_*() builders
#   qapi-introspect.h/.cc     the schema as query-qmp-schema's SchemaInfo list
#   qapi-examples.json/.h     every documented QMP exchange, as data
#
# Python 3 standard library only.

import argparse
import json
import os
import re
import sys
import textwrap
from collections import OrderedDict

from qapi.common import (c_name, camel_case, comment, cpp_string,
                         enum_constant, event_camel, raw_string_literal,
                         wrap_call)
from qapi.error import QAPIError, SourceInfo


# ---------------------------------------------------------------------------
# Documentation blocks


SECTION_TAGS = ('Returns', 'Errors', 'Since', 'Note', 'Notes', 'Example',
                'Examples', 'TODO')
SECTION_RE = re.compile(r'^(%s|Features)\s*:\s*(.*)$' % '|'.join(SECTION_TAGS))
DESCRIPTION_RE = re.compile(r'^@([^\s:]+)\s*:(?:\s+(.*))?$')
SYMBOL_RE = re.compile(r'^@([^\s:]+):\s*$')
QMP_EXAMPLE_RE = re.compile(r'^\.\. qmp-example::\s*$')


class DocSection:
    """A tagged part of a doc block ("Since:", "@member:", ...)."""

    def __init__(self, tag, info):
        self.tag = tag
        self.info = info
        self.lines = []

    @property
    def text(self):
        # The first line follows the tag ("@size: how big,"); continuation
        # lines are indented under it.  Dedent them as a block, so that
        # nested indentation (lists, examples) survives.
        if not self.lines:
            return ''
        rest = textwrap.dedent('\n'.join(self.lines[1:]))
        return (self.lines[0].strip() + '\n' + rest).strip()


class QAPIDoc:
    """One '##' documentation block.

    A definition's block starts with "@Name:"; other blocks are free-form
    text (section headings and the like).
    """

    def __init__(self, info):
        self.info = info
        self.symbol = None
        self.body = DocSection(None, info)
        self.args = OrderedDict()
        self.features = OrderedDict()
        self.sections = []

    def section(self, tag):
        for s in self.sections:
            if s.tag == tag:
                return s
        return None

    def examples(self):
        return [s for s in self.sections if s.tag in ('Example', 'Examples')]

    def summary(self):
        """The first paragraph of the body, or ''."""
        return self.body.text.split('\n\n')[0].strip()


def parse_doc(fname, lines):
    """Parse the lines of a doc block: [(lineno, text without '# ')]."""
    doc = QAPIDoc(SourceInfo(fname, lines[0][0] - 1 if lines else 0))
    if not lines:
        return doc
    m = SYMBOL_RE.match(lines[0][1])
    if m:
        doc.symbol = m.group(1)
        rest = lines[1:]
    else:
        rest = lines
    current = doc.body
    in_features = False
    previous_blank = False
    for lineno, text in rest:
        info = SourceInfo(fname, lineno)
        in_example = current.tag in ('Example', 'Examples')
        if QMP_EXAMPLE_RE.match(text):
            current = DocSection('Example', info)
            doc.sections.append(current)
            in_features = False
            previous_blank = False
            continue
        m = SECTION_RE.match(text)
        if m:
            tag = m.group(1)
            if tag == 'Features':
                if m.group(2):
                    raise QAPIError(info, "text must not follow 'Features:'")
                in_features = True
                current = DocSection(None, info)
            else:
                in_features = False
                current = DocSection(tag, info)
                if m.group(2):
                    current.lines.append(m.group(2))
                doc.sections.append(current)
            previous_blank = False
            continue
        m = DESCRIPTION_RE.match(text)
        if m and not in_example:
            name = m.group(1)
            table = doc.features if in_features else doc.args
            if name in table:
                raise QAPIError(info, "'%s' is documented twice" % name)
            current = DocSection(name, info)
            current.lines.append(m.group(2) or '')
            table[name] = current
            previous_blank = False
            continue
        is_description = current.tag is not None and (
            current in doc.args.values() or current in doc.features.values())
        if (is_description and previous_blank and text
                and not text[0].isspace()):
            # An unindented paragraph after a description is body text
            # again, not more of the description.
            current = DocSection('', info)
            doc.sections.append(current)
            in_features = False
        current.lines.append(text)
        previous_blank = not text.strip()
    return doc


class ExampleMessage:
    def __init__(self, direction, text, info):
        self.direction = direction
        self.text = text
        self.info = info
        self.message = None


def parse_example(section):
    """Split an Example section into its "->"/"<-" messages.

    A message starts at an arrow and continues over the following
    non-blank lines until its text is a complete JSON value.  Lines
    outside messages are prose and are skipped.
    """
    messages = []
    current = None
    for offset, line in enumerate(section.lines):
        info = SourceInfo(section.info.fname, section.info.line + offset)
        stripped = line.strip()
        if stripped.startswith('->') or stripped.startswith('<-'):
            if current is not None and current.message is None:
                raise QAPIError(current.info,
                                'example message is not valid JSON')
            current = ExampleMessage(stripped[:2], stripped[2:].strip(), info)
            messages.append(current)
        elif current is not None and current.message is None and stripped:
            current.text += '\n' + stripped
        else:
            continue
        try:
            current.message = json.loads(current.text)
        except ValueError:
            pass
    if current is not None and current.message is None:
        raise QAPIError(current.info, 'example message is not valid JSON')
    return messages


# ---------------------------------------------------------------------------
# Schema file syntax


class SchemaFileParser:
    """Reads one schema file: its expressions and the docs before them."""

    def __init__(self, fname, text):
        self.fname = fname
        self.src = text
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def info(self):
        return SourceInfo(self.fname, self.line)

    def error(self, msg):
        return QAPIError(self.info(), msg)

    def at_line_start(self):
        return not self.src[self.line_start:self.pos].strip()

    def skip_space(self):
        """Skip blanks and comments; return a doc block if one starts."""
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch == '\n':
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif ch in ' \t\r':
                self.pos += 1
            elif ch == '#':
                end = self.src.find('\n', self.pos)
                if end < 0:
                    end = len(self.src)
                comment = self.src[self.pos:end]
                if comment.rstrip() == '##' and self.at_line_start():
                    return self.read_doc()
                self.pos = end
            else:
                return None
        return None

    def read_doc(self):
        start = self.line
        lines = []
        # Skip the opening '##'.
        self.pos = self.src.find('\n', self.pos)
        while True:
            if self.pos < 0 or self.pos >= len(self.src):
                raise QAPIError(SourceInfo(self.fname, start),
                                'documentation comment must end with ##')
            self.pos += 1
            self.line += 1
            self.line_start = self.pos
            end = self.src.find('\n', self.pos)
            if end < 0:
                end = len(self.src)
            text = self.src[self.pos:end].rstrip()
            if text == '##':
                self.pos = end
                return parse_doc(self.fname, lines)
            if not text.startswith('#'):
                raise QAPIError(self.info(),
                                "documentation comment must end with '##'")
            if text.startswith('# '):
                text = text[2:]
            elif text == '#':
                text = ''
            else:
                raise QAPIError(self.info(),
                                "missing space after '#' in documentation")
            lines.append((self.line, text))
            self.pos = end

    def parse(self):
        """Return [(kind, value, info, doc)] with kind 'expr' or 'doc'."""
        items = []
        pending_doc = None
        while True:
            doc = self.skip_space()
            if doc is not None:
                if pending_doc is not None:
                    items.append(('doc', pending_doc, pending_doc.info, None))
                pending_doc = doc
                continue
            if self.pos >= len(self.src):
                break
            info = self.info()
            if self.src[self.pos] != '{':
                raise self.error("expected '{' at the start of an expression")
            expr = self.value()
            items.append(('expr', expr, info, pending_doc))
            pending_doc = None
        if pending_doc is not None:
            items.append(('doc', pending_doc, pending_doc.info, None))
        return items

    def value(self):
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.pos >= len(self.src):
            raise self.error('unexpected end of file')
        ch = self.src[self.pos]
        if ch == '{':
            return self.dict_value()
        if ch == '[':
            return self.list_value()
        if ch == "'":
            return self.string()
        for word, result in (('true', True), ('false', False)):
            if self.src.startswith(word, self.pos):
                self.pos += len(word)
                return result
        if ch == '"':
            raise self.error("strings must be quoted with ' in a schema")
        raise self.error("stray '%s'" % ch)

    def string(self):
        self.pos += 1
        start = self.pos
        while True:
            if self.pos >= len(self.src) or self.src[self.pos] == '\n':
                raise self.error('missing terminating "\'"')
            ch = self.src[self.pos]
            if ch == "'":
                text = self.src[start:self.pos]
                self.pos += 1
                return text
            if ch == '\\':
                raise self.error('backslash escapes are not supported')
            if not (' ' <= ch <= '~'):
                raise self.error('only printable ASCII is allowed in strings')
            self.pos += 1

    def punct(self, expected):
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.pos < len(self.src) and self.src[self.pos] in expected:
            ch = self.src[self.pos]
            self.pos += 1
            return ch
        raise self.error('expected %s' % ' or '.join(
            "'%s'" % c for c in expected))

    def dict_value(self):
        self.pos += 1
        result = OrderedDict()
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.src.startswith('}', self.pos):
            self.pos += 1
            return result
        while True:
            if self.skip_space() is not None:
                raise self.error('documentation comment inside an expression')
            if self.src.startswith('"', self.pos):
                raise self.error("strings must be quoted with ' in a schema")
            if not self.src.startswith("'", self.pos):
                raise self.error('expected string as a key')
            info = self.info()
            key = self.string()
            if key in result:
                raise QAPIError(info, "duplicate key '%s'" % key)
            self.punct(':')
            result[key] = self.value()
            if self.punct(',}') == '}':
                return result

    def list_value(self):
        self.pos += 1
        result = []
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.src.startswith(']', self.pos):
            self.pos += 1
            return result
        while True:
            result.append(self.value())
            if self.punct(',]') == ']':
                return result


class Builtin:
    def __init__(self, name, cpp, json_type, by_value=True, lo=None, hi=None):
        self.name = name
        self.cpp = cpp
        self.json_type = json_type
        self.by_value = by_value
        self.lo = lo
        self.hi = hi
        self.meta = 'builtin'


BUILTINS = OrderedDict((b.name, b) for b in [
    Builtin('str', 'std::string', 'string', by_value=False),
    Builtin('number', 'double', 'number'),
    Builtin('int', 'int64_t', 'int', lo=-2**63, hi=2**63 - 1),
    Builtin('int8', 'int8_t', 'int', lo=-2**7, hi=2**7 - 1),
    Builtin('int16', 'int16_t', 'int', lo=-2**15, hi=2**15 - 1),
    Builtin('int32', 'int32_t', 'int', lo=-2**31, hi=2**31 - 1),
    Builtin('int64', 'int64_t', 'int', lo=-2**63, hi=2**63 - 1),
    Builtin('uint8', 'uint8_t', 'int', lo=0, hi=2**8 - 1),
    Builtin('uint16', 'uint16_t', 'int', lo=0, hi=2**16 - 1),
    Builtin('uint32', 'uint32_t', 'int', lo=0, hi=2**32 - 1),
    Builtin('uint64', 'uint64_t', 'int', lo=0, hi=2**64 - 1),
    Builtin('size', 'uint64_t', 'int', lo=0, hi=2**64 - 1),
    Builtin('bool', 'bool', 'boolean'),
    Builtin('null', 'std::nullptr_t', 'null'),
    Builtin('any', 'QObject', 'value', by_value=False),
])


class TypeRef:
    """A reference to a type from a member, 'returns' or list: 'T' or
    ['T'].  resolve() binds it to the definition."""

    def __init__(self, name, is_list, info):
        self.name = name
        self.is_list = is_list
        self.info = info
        self.target = None

    def schema_name(self):
        return '[%s]' % self.name if self.is_list else self.name

    def cpp(self):
        element = self.target.cpp if self.target.meta == 'builtin' \
            else self.target.name
        return 'std::vector<%s>' % element if self.is_list else element

    def by_value(self):
        if self.is_list:
            return False
        return self.target.meta == 'enum' or (
            self.target.meta == 'builtin' and self.target.by_value)


class Member:
    def __init__(self, name, typeref, optional, features, info):
        self.name = name
        self.type = typeref
        self.optional = optional
        self.features = features
        self.info = info
        self.doc = ''

    @property
    def c_name(self):
        return c_name(self.name)

    def cpp_type(self):
        t = self.type.cpp()
        return 'std::optional<%s>' % t if self.optional else t


class Feature:
    def __init__(self, name, info):
        self.name = name
        self.info = info


class Definition:
    meta = None

    def __init__(self, name, info, doc, features):
        self.name = name
        self.info = info
        self.doc = doc
        self.features = features


class EnumValue:
    def __init__(self, name, features, info):
        self.name = name
        self.features = features
        self.info = info
        self.doc = ''

    @property
    def cpp(self):
        return enum_constant(self.name)


class EnumDef(Definition):
    meta = 'enum'

    def __init__(self, name, info, doc, features, values):
        super().__init__(name, info, doc, features)
        self.values = values


class StructDef(Definition):
    meta = 'struct'

    def __init__(self, name, info, doc, features, members, base=None,
                 implicit_for=None):
        super().__init__(name, info, doc, features)
        self.own_members = members
        self.base_name = base
        self.base = None
        # The command or event whose inline 'data' this is, if any.
        self.implicit_for = implicit_for

    def members(self):
        inherited = self.base.members() if self.base else []
        return inherited + self.own_members

    def introspection_name(self):
        if self.implicit_for is None:
            return self.name
        return 'q_obj_%s-arg' % self.implicit_for.name


class CommandDef(Definition):
    meta = 'command'

    def __init__(self, name, info, doc, features, arg_type, returns, boxed,
                 allow_oob, allow_preconfig):
        super().__init__(name, info, doc, features)
        self.arg_type = arg_type
        self.returns = returns
        self.boxed = boxed
        self.allow_oob = allow_oob
        self.allow_preconfig = allow_preconfig

    @property
    def method(self):
        return 'qmp_' + c_name(self.name)


class EventDef(Definition):
    meta = 'event'

    def __init__(self, name, info, doc, features, arg_type, boxed):
        super().__init__(name, info, doc, features)
        self.arg_type = arg_type
        self.boxed = boxed

    @property
    def function(self):
        return 'qapi_event_' + c_name(self.name.lower())


TYPE_NAME_RE = re.compile(r'^[A-Z][A-Za-z0-9]*$')
COMMAND_NAME_RE = re.compile(r'^[a-z][a-z0-9]*(-[a-z0-9]+)*$')
EVENT_NAME_RE = re.compile(r'^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$')
LOWER_NAME_RE = re.compile(r'^[a-z][a-z0-9]*(-[a-z0-9]+)*$')
ENUM_VALUE_RE = re.compile(r'^[a-z0-9]+(-[a-z0-9]+)*$')
EXCEPTION_NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_-]*$')

KNOWN_PRAGMAS = ('doc-required', 'command-name-exceptions',
                 'command-returns-exceptions', 'documentation-exceptions',
                 'member-name-exceptions')

EXPR_KEYS = {
    'enum': ('enum', 'data', 'prefix', 'if', 'features'),
    'struct': ('struct', 'data', 'base', 'if', 'features'),
    'command': ('command', 'data', 'returns', 'boxed', 'if', 'features',
                'gen', 'success-response', 'allow-oob', 'allow-preconfig',
                'coroutine'),
    'event': ('event', 'data', 'boxed', 'if', 'features'),
    'include': ('include',),
    'pragma': ('pragma',),
}


class Schema:
    """A whole schema: the top file and everything it includes."""

    def __init__(self, fname):
        self.fname = fname
        self.files = []
        self.definitions = OrderedDict()
        self.docs = []
        self.pragma = {'doc-required': True, 'command-name-exceptions': [],
                       'member-name-exceptions': [],
                       'documentation-exceptions': []}
        self.examples = []
        self._current_command = None
        self._read_file(fname, None)
        self._resolve()
        self._check_docs()
        self._collect_examples()

    # -- reading ----------------------------------------------------------

    def _read_file(self, fname, incl_info, display_name=None):
        path = os.path.normpath(fname)
        if path in self.files:
            return
        try:
            with open(path, encoding='utf-8') as f:
                text = f.read()
        except OSError as e:
            raise QAPIError(incl_info, "can't read %s file '%s': %s" % (
                'include' if incl_info else 'schema', display_name or fname,
                e.strerror))
        self.files.append(path)
        for kind, value, info, doc in SchemaFileParser(path, text).parse():
            if kind == 'doc':
                if value.symbol is not None:
                    raise QAPIError(info, "documentation for '%s' is not "
                                    "followed by the definition" % value.symbol)
                self.docs.append(value)
                continue
            self._expression(value, info, doc, path)

    def _expression(self, expr, info, doc, path):
        metas = [k for k in EXPR_KEYS if k in expr]
        if 'union' in expr or 'alternate' in expr:
            raise QAPIError(info, "'%s' is not supported by this generator"
                            % ('union' if 'union' in expr else 'alternate'))
        if len(metas) != 1:
            raise QAPIError(info, 'expression must have exactly one of %s'
                            % ', '.join("'%s'" % k for k in EXPR_KEYS))
        meta = metas[0]
        for key in expr:
            if key not in EXPR_KEYS[meta]:
                raise QAPIError(info, "%s has unknown key '%s'" % (meta, key))
        if meta == 'include':
            if doc is not None and doc.symbol is not None:
                raise QAPIError(doc.info, 'documentation for an include')
            name = expr['include']
            if not isinstance(name, str):
                raise QAPIError(info, "value of 'include' must be a string")
            self._read_file(os.path.join(os.path.dirname(path), name), info,
                            name)
            return
        if meta == 'pragma':
            self._pragma(expr['pragma'], info)
            return
        name = expr[meta]
        if not isinstance(name, str):
            raise QAPIError(info, "name of %s must be a string" % meta)
        if doc is not None:
            if doc.symbol is None:
                # A free-form block (a section heading) before a definition.
                self.docs.append(doc)
                doc = None
            elif doc.symbol != name:
                raise QAPIError(info, "documentation comment is for '%s'"
                                % doc.symbol)
        features = self._features(expr.get('features', []), info)
        if meta == 'enum':
            self._check_name(name, TYPE_NAME_RE, 'enum', info)
            values = self._enum_values(name, expr.get('data'), info)
            self._add(EnumDef(name, info, doc, features, values))
        elif meta == 'struct':
            self._check_name(name, TYPE_NAME_RE, 'struct', info)
            members = self._members(name, expr.get('data'), info)
            base = expr.get('base')
            if base is not None and not isinstance(base, str):
                raise QAPIError(info, "'base' must name a struct")
            self._add(StructDef(name, info, doc, features, members, base))
        elif meta == 'command':
            if name not in self.pragma['command-name-exceptions']:
                self._check_name(name, COMMAND_NAME_RE, 'command', info)
            if expr.get('gen', True) is not True:
                raise QAPIError(info, "'gen': false is not supported")
            cmd = CommandDef(name, info, doc, features, None, None,
                             self._flag(expr, 'boxed', info),
                             self._flag(expr, 'allow-oob', info),
                             self._flag(expr, 'allow-preconfig', info))
            cmd.arg_type = self._arg_type(cmd, expr, camel_case(name) + 'Args',
                                          info)
            if 'returns' in expr:
                cmd.returns = self._typeref(expr['returns'], info)
            self._add(cmd)
        elif meta == 'event':
            self._check_name(name, EVENT_NAME_RE, 'event', info)
            event = EventDef(name, info, doc, features, None,
                             self._flag(expr, 'boxed', info))
            event.arg_type = self._arg_type(
                event, expr, event_camel(name) + 'EventArgs', info)
            self._add(event)

    def _pragma(self, pragma, info):
        if not isinstance(pragma, dict):
            raise QAPIError(info, "value of 'pragma' must be an object")
        for key, value in pragma.items():
            if key not in KNOWN_PRAGMAS:
                raise QAPIError(info, "unknown pragma '%s'" % key)
            if key == 'doc-required':
                if not isinstance(value, bool):
                    raise QAPIError(info, "pragma 'doc-required' must be "
                                    "true or false")
                self.pragma[key] = value
            else:
                if not isinstance(value, list) or not all(
                        isinstance(v, str) for v in value):
                    raise QAPIError(info, "pragma '%s' must be a list of "
                                    "strings" % key)
                self.pragma.setdefault(key, [])
                self.pragma[key] = self.pragma[key] + value

    @staticmethod
    def _flag(expr, key, info):
        value = expr.get(key, False)
        if not isinstance(value, bool):
            raise QAPIError(info, "'%s' must be true or false" % key)
        return value

    @staticmethod
    def _check_name(name, regex, what, info):
        if not regex.match(name):
            raise QAPIError(info, "%s name '%s' does not follow the QAPI "
                            "naming rules" % (what, name))

    def _check_lower_name(self, name, owner, what, info):
        # Enum values may start with a digit ("2_5" in QEMU's PCIe link
        # speeds); members may not.  Upper case and '_' need the owner in
        # the 'member-name-exceptions' pragma, as in QEMU.
        if owner in self.pragma['member-name-exceptions']:
            regex = EXCEPTION_NAME_RE
        elif what == 'value':
            regex = ENUM_VALUE_RE
        else:
            regex = LOWER_NAME_RE
        if not regex.match(name):
            raise QAPIError(info, "%s '%s' of '%s' must be lower-case words "
                            "separated by '-'" % (what, name, owner))

    def _features(self, raw, info):
        if not isinstance(raw, list):
            raise QAPIError(info, "'features' must be a list")
        features = []
        for f in raw:
            if isinstance(f, dict):
                unknown = set(f) - {'name', 'if'}
                if unknown or 'name' not in f:
                    raise QAPIError(info, "feature must be a name or "
                                    "{'name': ..., 'if': ...}")
                f = f['name']
            if not isinstance(f, str) or not LOWER_NAME_RE.match(f):
                raise QAPIError(info, "feature name %r is not valid" % (f,))
            if f in [x.name for x in features]:
                raise QAPIError(info, "feature '%s' is listed twice" % f)
            features.append(Feature(f, info))
        return features

    def _enum_values(self, owner, data, info):
        if not isinstance(data, list):
            raise QAPIError(info, "enum 'data' must be a list")
        values = []
        seen = {}
        for v in data:
            features = []
            if isinstance(v, dict):
                unknown = set(v) - {'name', 'if', 'features'}
                if unknown or 'name' not in v:
                    raise QAPIError(info, "enum value must be a string or "
                                    "{'name': ..., 'if': ..., 'features': ...}")
                features = self._features(v.get('features', []), info)
                v = v['name']
            if not isinstance(v, str) or not v:
                raise QAPIError(info, "enum value must be a string")
            self._check_lower_name(v, owner, 'value', info)
            value = EnumValue(v, features, info)
            if value.cpp in seen:
                raise QAPIError(info, "enum values '%s' and '%s' clash in C++"
                                % (seen[value.cpp], v))
            seen[value.cpp] = v
            values.append(value)
        return values

    def _typeref(self, raw, info):
        if isinstance(raw, str):
            return TypeRef(raw, False, info)
        if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str):
            return TypeRef(raw[0], True, info)
        raise QAPIError(info, "a type must be 'Name' or ['Name']")

    def _members(self, owner, data, info):
        if data is None:
            return []
        if not isinstance(data, dict):
            raise QAPIError(info, "'data' of '%s' must be an object" % owner)
        members = []
        for key, raw in data.items():
            optional = key.startswith('*')
            name = key[1:] if optional else key
            features = []
            if isinstance(raw, dict):
                unknown = set(raw) - {'type', 'if', 'features'}
                if unknown or 'type' not in raw:
                    raise QAPIError(info, "member '%s' must be a type or "
                                    "{'type': ..., 'if': ..., 'features': ...}"
                                    % name)
                features = self._features(raw.get('features', []), info)
                raw = raw['type']
            self._check_lower_name(name, owner, 'member', info)
            members.append(Member(name, self._typeref(raw, info), optional,
                                  features, info))
        return members

    def _arg_type(self, owner, expr, implicit_name, info):
        data = expr.get('data')
        if data is None:
            if owner.boxed:
                raise QAPIError(info, "'boxed': true requires 'data'")
            return None
        if isinstance(data, str):
            # Checked to be a struct once everything is read.
            return TypeRef(data, False, info)
        if owner.boxed:
            raise QAPIError(info, "'boxed': true requires 'data' to name "
                            "a struct")
        members = self._members(owner.name, data, info)
        struct = StructDef(implicit_name, info, None, [], members,
                           implicit_for=owner)
        self._add(struct)
        return struct

    def _add(self, definition):
        other = self.definitions.get(definition.name)
        if other is not None:
            raise QAPIError(definition.info, "'%s' is already defined at %s"
                            % (definition.name, other.info))
        if definition.name in BUILTINS:
            raise QAPIError(definition.info, "'%s' is a built-in type"
                            % definition.name)
        self.definitions[definition.name] = definition

    # -- resolution -------------------------------------------------------

    def lookup_type(self, name):
        if name in BUILTINS:
            return BUILTINS[name]
        d = self.definitions.get(name)
        if d is not None and d.meta in ('enum', 'struct'):
            return d
        return None

    def _bind(self, ref, what):
        target = self.lookup_type(ref.name)
        if target is None:
            raise QAPIError(ref.info, "%s uses unknown type '%s'"
                            % (what, ref.name))
        ref.target = target

    def structs(self):
        return [d for d in self.definitions.values() if d.meta == 'struct']

    def enums(self):
        return [d for d in self.definitions.values() if d.meta == 'enum']

    def commands(self):
        return [d for d in self.definitions.values() if d.meta == 'command']

    def events(self):
        return [d for d in self.definitions.values() if d.meta == 'event']

    def _resolve(self):
        for s in self.structs():
            if s.base_name is not None:
                base = self.definitions.get(s.base_name)
                if base is None or base.meta != 'struct' or base.implicit_for:
                    raise QAPIError(s.info, "base '%s' of '%s' is not a struct"
                                    % (s.base_name, s.name))
                s.base = base
        for s in self.structs():
            seen = set()
            cur = s
            while cur is not None:
                if cur.name in seen:
                    raise QAPIError(s.info, "'%s' is its own base" % s.name)
                seen.add(cur.name)
                cur = cur.base
            names = {}
            for m in s.members():
                self._bind(m.type, "member '%s' of '%s'" % (m.name, s.name))
                if m.c_name in names:
                    raise QAPIError(m.info, "member '%s' of '%s' clashes with "
                                    "'%s'" % (m.name, s.name, names[m.c_name]))
                names[m.c_name] = m.name
        for d in list(self.commands()) + list(self.events()):
            if isinstance(d.arg_type, TypeRef):
                target = self.definitions.get(d.arg_type.name)
                if target is None or target.meta != 'struct' \
                        or target.implicit_for is not None:
                    raise QAPIError(d.info, "'data' of '%s' must name a "
                                    "struct" % d.name)
                d.arg_type = target
        for c in self.commands():
            if c.returns is not None:
                self._bind(c.returns, "'returns' of '%s'" % c.name)
        self._check_recursion()

    def _check_recursion(self):
        # A struct may contain itself only through a list: by value (or
        # through std::optional) it would be infinitely large.
        state = {}

        def visit(s, path):
            state[s.name] = 'visiting'
            for m in s.members():
                t = m.type.target
                if t.meta != 'struct' or m.type.is_list:
                    continue
                if state.get(t.name) == 'visiting':
                    raise QAPIError(s.info, "'%s' contains itself: %s" % (
                        t.name, ' -> '.join(path + [t.name])))
                if t.name not in state:
                    visit(t, path + [t.name])
            state[s.name] = 'done'

        for s in self.structs():
            if s.name not in state:
                visit(s, [s.name])

    # -- documentation ----------------------------------------------------

    def _check_docs(self):
        for d in self.definitions.values():
            if d.meta == 'struct' and d.implicit_for is not None:
                continue
            doc = d.doc
            if doc is None:
                if (self.pragma['doc-required'] and d.name
                        not in self.pragma['documentation-exceptions']):
                    raise QAPIError(d.info, "definition '%s' lacks "
                                    "documentation" % d.name)
                continue
            if d.meta == 'enum':
                items = d.values
                what = 'value'
            elif d.meta == 'struct':
                items = d.own_members
                what = 'member'
            elif d.arg_type is not None and d.arg_type.implicit_for is d:
                items = d.arg_type.own_members
                what = 'argument' if d.meta == 'command' else 'member'
            else:
                items = []
                what = 'member'
            names = [i.name for i in items]
            for name, section in doc.args.items():
                if name not in names:
                    raise QAPIError(section.info, "documented %s '%s' does "
                                    "not exist in '%s'" % (what, name, d.name))
            for item in items:
                if item.name not in doc.args:
                    raise QAPIError(doc.info, "%s '%s' of '%s' lacks "
                                    "documentation" % (what, item.name, d.name))
                item.doc = doc.args[item.name].text
            features = {f.name for f in d.features}
            for item in items:
                features |= {f.name for f in getattr(item, 'features', [])}
            for name, section in doc.features.items():
                if name not in features:
                    raise QAPIError(section.info, "documented feature '%s' "
                                    "does not exist in '%s'" % (name, d.name))
            for name in sorted(features - set(doc.features)):
                raise QAPIError(doc.info, "feature '%s' of '%s' lacks "
                                "documentation" % (name, d.name))

    # -- examples ---------------------------------------------------------

    def _collect_examples(self):
        for d in self.definitions.values():
            if d.doc is None:
                continue
            for section in d.doc.examples():
                messages = parse_example(section)
                if not messages:
                    raise QAPIError(section.info, 'example has no "->" or '
                                    '"<-" message')
                # A return answers the latest command of its own example.
                self._current_command = None
                for msg in messages:
                    self._check_example_message(msg)
                self.examples.append((d, section, messages))

    def _check_example_message(self, msg):
        """Check an example against the schema, so documentation cannot
        show a command, argument or member that does not exist."""
        m = msg.message
        if not isinstance(m, dict):
            raise QAPIError(msg.info, 'example message must be an object')
        if msg.direction == '->':
            unknown = set(m) - {'execute', 'arguments', 'id'}
            if 'execute' not in m or unknown:
                raise QAPIError(msg.info, 'a "->" message is a command: '
                                '{"execute": ..., "arguments": ...}')
            cmd = self.definitions.get(m['execute'])
            if cmd is None or cmd.meta != 'command':
                raise QAPIError(msg.info, "example runs unknown command '%s'"
                                % m['execute'])
            self._current_command = cmd
            args = m.get('arguments', {})
            if cmd.arg_type is None:
                if args != {}:
                    raise QAPIError(msg.info, "'%s' takes no arguments"
                                    % cmd.name)
            else:
                self._check_value(args, cmd.arg_type, False, msg.info,
                                  'arguments')
            return
        keys = set(m) - {'id'}
        if keys == {'return'}:
            cmd = self._current_command
            if cmd is None:
                raise QAPIError(msg.info, 'a return before any command')
            if cmd.returns is None:
                if m['return'] != {}:
                    raise QAPIError(msg.info, "'%s' returns nothing: "
                                    '{"return": {}}' % cmd.name)
            else:
                self._check_value(m['return'], cmd.returns.target,
                                  cmd.returns.is_list, msg.info, 'return')
        elif keys == {'error'}:
            err = m['error']
            if not isinstance(err, dict) or set(err) != {'class', 'desc'}:
                raise QAPIError(msg.info, 'an error is {"class": ..., '
                                '"desc": ...}')
        elif 'event' in keys and keys <= {'event', 'data', 'timestamp'}:
            event = self.definitions.get(m['event'])
            if event is None or event.meta != 'event':
                raise QAPIError(msg.info, "example shows unknown event '%s'"
                                % m['event'])
            if event.arg_type is None:
                if 'data' in m:
                    raise QAPIError(msg.info, "event '%s' has no data"
                                    % event.name)
            else:
                self._check_value(m.get('data', {}), event.arg_type, False,
                                  msg.info, 'data')
        else:
            raise QAPIError(msg.info, 'a "<-" message is a return, an error '
                            'or an event')

    def _check_value(self, value, target, is_list, info, where):
        def fail(expected):
            raise QAPIError(info, "example: '%s' should be %s, not %s"
                            % (where, expected, json.dumps(value)))
        if is_list:
            if not isinstance(value, list):
                fail('a list')
            for i, v in enumerate(value):
                self._check_value(v, target, False, info,
                                  '%s[%d]' % (where, i))
            return
        if target.meta == 'builtin':
            if target.name == 'any':
                return
            if target.name == 'str':
                ok = isinstance(value, str)
            elif target.name == 'bool':
                ok = isinstance(value, bool)
            elif target.name == 'null':
                ok = value is None
            elif target.name == 'number':
                ok = isinstance(value, (int, float)) \
                    and not isinstance(value, bool)
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) \
                    and target.lo <= value <= target.hi
            if not ok:
                fail("'%s'" % target.name)
            return
        if target.meta == 'enum':
            if value not in [v.name for v in target.values]:
                fail('one of %s' % ', '.join(v.name for v in target.values))
            return
        if not isinstance(value, dict):
            fail("a '%s' object" % target.name)
        members = target.members()
        for key in value:
            if key not in [m.name for m in members]:
                raise QAPIError(info, "example: '%s' has no member '%s'"
                                % (where, key))
        for m in members:
            if m.name in value:
                self._check_value(value[m.name], m.type.target,
                                  m.type.is_list, info,
                                  m.name if where in ('arguments', 'data')
                                  else '%s.%s' % (where, m.name))
            elif not m.optional:
                raise QAPIError(info, "example: '%s' lacks member '%s'"
                                % (where, m.name))


class Output:
    def __init__(self, opts, schema):
        self.opts = opts
        self.schema = schema
        self.ns = opts.namespace
        self.prefix = opts.prefix
        self.incl = opts.include_prefix

    def banner(self, what):
        return ('/*\n * AUTOMATICALLY GENERATED by qapi-gen.py from %s;'
                ' DO NOT EDIT.\n *\n * %s\n */\n' % (
                    os.path.basename(self.schema.fname), what))

    def include(self, name):
        return '#include "%s%s%s"\n' % (self.incl, self.prefix, name)

    def open_ns(self, usings=True):
        out = 'namespace %s {\n\n' % self.ns
        if usings and self.ns != 'qapi':
            out += ('using qapi::Error;\nusing qapi::InputPath;\n'
                    'using qapi::QapiEvent;\nusing qapi::QObject;\n'
                    'using qapi::Result;\nusing qapi::to_qobject;\n'
                    'using qapi::visit_input;\n\n')
        return out

    def close_ns(self):
        return '} // namespace %s\n' % self.ns

    def qualified(self, name):
        return name if self.ns == 'qapi' else '%s::%s' % (self.ns, name)

    # -- types ------------------------------------------------------------

    def struct_order(self):
        order = []
        state = {}

        def visit(s):
            state[s.name] = 'visiting'
            for m in s.members():
                t = m.type.target
                if t.meta == 'struct' and t.name not in state:
                    visit(t)
            state[s.name] = 'done'
            order.append(s)

        for s in self.schema.structs():
            if s.name not in state:
                visit(s)
        return order

    def types_h(self):
        schema = self.schema
        out = self.banner('QAPI types: enums, structs and their QObject '
                          'codecs.')
        out += ('#pragma once\n\n#include "qapi/qapi-builtin-types.h"\n\n'
                '#include <array>\n#include <cstdint>\n#include <optional>\n'
                '#include <string>\n#include <string_view>\n'
                '#include <type_traits>\n#include <vector>\n\n')
        out += self.open_ns()
        for e in schema.enums():
            out += comment(e.doc.summary() if e.doc else '')
            out += 'enum class %s {\n' % e.name
            for v in e.values:
                out += comment(v.doc, '    ')
                out += '    %s,\n' % v.cpp
            out += '};\n\n'
        if self.ns != 'qapi':
            out += self.close_ns() + '\nnamespace qapi {\n\n'
        for e in schema.enums():
            out += 'template <>\nstruct EnumLookup<%s> {\n' % self.qualified(
                e.name)
            out += ('    static constexpr std::string_view type_name = %s;\n'
                    % cpp_string(e.name))
            out += ('    static constexpr std::array<std::string_view, %d> '
                    'names = {\n' % len(e.values))
            for v in e.values:
                out += '        %s,\n' % cpp_string(v.name)
            out += '    };\n};\n\n'
        if self.ns != 'qapi':
            out += '} // namespace qapi\n\n' + self.open_ns()
        for s in schema.structs():
            out += 'struct %s;\n' % s.name
        out += '\n'
        for s in self.struct_order():
            if s.implicit_for is not None:
                kind = 'command' if s.implicit_for.meta == 'command' \
                    else 'event'
                out += '/// The arguments of the %s %s.\n' % (
                    kind, s.implicit_for.name)
            else:
                out += comment(s.doc.summary() if s.doc else '')
            out += 'struct %s {\n' % s.name
            for m in s.members():
                out += comment(m.doc, '    ')
                init = '' if (m.optional or m.type.is_list or
                              not m.type.by_value()) else ' {}'
                out += '    %s %s%s;\n' % (m.cpp_type(), m.c_name, init)
            out += ('\n    bool operator==(const %s &) const = default;\n};\n\n'
                    % s.name)
            out += 'QObject to_qobject(const %s &value);\n' % s.name
            out += wrap_call('', 'Result<%s> visit_input' % s.name, [
                'const QObject &obj', 'const InputPath &path',
                'std::type_identity<%s>' % s.name]) + '\n'
        out += self.close_ns()
        return out

    def types_cc(self):
        out = self.banner('QAPI types: QObject codecs.')
        out += self.include('qapi-types.h') + '\n#include <utility>\n\n'
        out += self.open_ns()
        for s in self.struct_order():
            members = s.members()
            param = 'const %s &value' % s.name
            if not members:
                param = '[[maybe_unused]] ' + param
            out += 'QObject to_qobject(%s)\n{\n' % param
            out += '    QObject::Dict dict;\n'
            if members:
                out += '    dict.reserve(%d);\n' % len(members)
            for m in members:
                if m.optional:
                    out += '    if (value.%s) {\n' % m.c_name
                    out += wrap_call('        ', 'dict.emplace_back', [
                        cpp_string(m.name), 'to_qobject(*value.%s)' % m.c_name])
                    out += '    }\n'
                else:
                    out += wrap_call('    ', 'dict.emplace_back', [
                        cpp_string(m.name), 'to_qobject(value.%s)' % m.c_name])
            out += '    return QObject(std::move(dict));\n}\n\n'

            out += wrap_call('', 'Result<%s> visit_input' % s.name, [
                'const QObject &obj', 'const InputPath &path',
                'std::type_identity<%s>' % s.name], tail='') + '{\n'
            out += ('    static constexpr std::array<std::string_view, %d> '
                    'MEMBERS = {\n' % len(members))
            for m in members:
                out += '        %s,\n' % cpp_string(m.name)
            out += '    };\n'
            out += ('    if (!obj.is_dict()) {\n        return '
                    'qapi::invalid_parameter_type(path, "object");\n    }\n')
            out += '    %s value;\n' % s.name
            for m in members:
                fn = 'visit_optional_member' if m.optional else 'visit_member'
                call = 'TRY(qapi::%s<%s>(obj, path, %s));' % (
                    fn, m.type.cpp(), cpp_string(m.name))
                line = '    value.%s = %s\n' % (m.c_name, call)
                if len(line) > 81:
                    line = '    value.%s =\n        %s\n' % (m.c_name, call)
                out += line
            out += ('    TRY(qapi::check_unexpected_members(obj, path, '
                    'MEMBERS));\n')
            out += '    return value;\n}\n\n'
        out += self.close_ns()
        return out

    # -- commands ---------------------------------------------------------

    def ret_type(self, cmd):
        return 'void' if cmd.returns is None else cmd.returns.cpp()

    def method_decl(self, cmd, indent):
        """The pure virtual method of a command, wrapped after the return
        type when it does not fit on one line."""
        params = ''
        if cmd.arg_type is not None:
            params = 'const %s &args' % cmd.arg_type.name
        ret = 'virtual Result<%s>' % self.ret_type(cmd)
        rest = '%s(%s) = 0;' % (cmd.method, params)
        line = '%s%s %s\n' % (indent, ret, rest)
        if len(line) > 81:
            line = '%s%s\n%s%s\n' % (indent, ret, indent, rest)
        return line

    def commands_h(self):
        schema = self.schema
        commands = schema.commands()
        events = schema.events()
        out = self.banner('QMP commands: the handler interface, dispatch and '
                          'the command and event tables.')
        out += '#pragma once\n\n' + self.include('qapi-types.h')
        out += ('\n#include <array>\n#include <span>\n#include <string_view>\n'
                '\n')
        out += self.open_ns()
        out += ('/// One method per command of the schema.  The monitor '
                'implements it and\n/// hands it to qmp_dispatch(), which has '
                'already decoded and checked the\n/// arguments.  A handler '
                'reports failure as an Error; its class and text\n/// go to '
                'the client unchanged.\n')
        out += 'class QmpCommands {\npublic:\n'
        out += '    virtual ~QmpCommands() = default;\n'
        for c in commands:
            out += '\n'
            out += comment('%s: %s' % (c.name, c.doc.summary() if c.doc
                                       else ''), '    ')
            out += self.method_decl(c, '    ')
        out += '};\n\n'
        out += ('/// Run the command `name` of `commands`.\n///\n'
                '/// `args` is the request\'s "arguments" member, or nullptr '
                'when there is none.\n'
                '/// Returns the value of the reply\'s "return" member ({} for '
                'commands that\n/// return nothing).  Errors, in QEMU\'s '
                'words: an unknown name is\n/// CommandNotFound ("The command '
                'X has not been found"); arguments that do\n/// not match the '
                'schema are GenericError ("Parameter \'path\' is missing",\n'
                '/// "Invalid parameter type for \'path\', expected: string", '
                '"Parameter \'x\' is\n/// unexpected", ...); a handler\'s '
                'error is passed through.\n')
        out += ('Result<QObject> qmp_dispatch(QmpCommands &commands, '
                'std::string_view name,\n                             '
                'const QObject *args);\n\n')
        out += ('/// A command as query-commands and introspection see it.\n'
                'struct QmpCommandInfo {\n    std::string_view name;\n'
                '    /// Schema features ("deprecated", "unstable", ...).\n'
                '    std::span<const std::string_view> features;\n'
                '    /// Valid before the machine exists (-preconfig).\n'
                '    bool allow_preconfig;\n'
                '    /// May run out-of-band.\n    bool allow_oob;\n};\n\n')
        featured = [c for c in commands if c.features]
        if featured:
            out += 'namespace detail {\n'
            for c in featured:
                out += ('inline constexpr std::array<std::string_view, %d> '
                        '%s_FEATURES = { %s };\n' % (
                            len(c.features), c_name(c.name).upper(),
                            ', '.join(cpp_string(f.name) for f in c.features)))
            out += '} // namespace detail\n\n'
        out += ('/// Every command, in schema order.\n'
                'inline constexpr std::array<QmpCommandInfo, %d> '
                'QMP_COMMANDS = {{\n' % len(commands))
        for c in commands:
            features = ('detail::%s_FEATURES' % c_name(c.name).upper()
                        if c.features else '{}')
            out += '    { %s, %s, %s, %s },\n' % (
                cpp_string(c.name), features,
                'true' if c.allow_preconfig else 'false',
                'true' if c.allow_oob else 'false')
        out += '}};\n\n'
        out += ('/// The command names, in schema order (query-commands).\n'
                'inline constexpr std::array<std::string_view, %d> '
                'QMP_COMMAND_NAMES = {\n' % len(commands))
        for c in commands:
            out += '    %s,\n' % cpp_string(c.name)
        out += '};\n\n'
        out += ('/// The event names, in schema order.\n'
                'inline constexpr std::array<std::string_view, %d> '
                'QAPI_EVENT_NAMES = {\n' % len(events))
        for e in events:
            out += '    %s,\n' % cpp_string(e.name)
        out += '};\n\n'
        out += self.close_ns()
        return out

    def commands_cc(self):
        commands = self.schema.commands()
        out = self.banner('QMP commands: argument decoding and dispatch.')
        out += self.include('qapi-commands.h')
        out += ('\n#include <fmt/core.h>\n\n#include <algorithm>\n'
                '#include <array>\n\n')
        out += self.open_ns()
        out += 'namespace {\n\n'
        out += ('using Marshaller = Result<QObject> (*)(QmpCommands &, '
                'const QObject &);\n\n')
        for c in commands:
            out += ('Result<QObject> qmp_marshal_%s(QmpCommands &commands, '
                    'const QObject &args)\n{\n' % c_name(c.name))
            if c.arg_type is None:
                out += ('    TRY(qapi::check_unexpected_members(args, '
                        'InputPath {}, {}));\n')
                call = 'commands.%s()' % c.method
            else:
                out += ('    const %s decoded = TRY(qapi::from_qobject<%s>'
                        '(args));\n' % (c.arg_type.name, c.arg_type.name))
                call = 'commands.%s(decoded)' % c.method
            if c.returns is None:
                out += '    TRY(%s);\n    return QObject::dict();\n' % call
            else:
                out += '    return to_qobject(TRY(%s));\n' % call
            out += '}\n\n'
        out += ('struct MarshalEntry {\n    std::string_view name;\n'
                '    Marshaller marshal;\n};\n\n')
        out += ('// Sorted by name for the binary search in qmp_dispatch().\n'
                'constexpr std::array<MarshalEntry, %d> MARSHALLERS = {{\n'
                % len(commands))
        for c in sorted(commands, key=lambda c: c.name):
            out += '    { %s, &qmp_marshal_%s },\n' % (cpp_string(c.name),
                                                      c_name(c.name))
        out += '}};\n\n} // namespace\n\n'
        out += ('Result<QObject> qmp_dispatch(QmpCommands &commands, '
                'std::string_view name,\n                             '
                'const QObject *args)\n{\n')
        out += ('    // QEMU checks the shape of the request before looking '
                'the command up.\n'
                '    if (args && !args->is_dict()) {\n'
                '        return Error("QMP input member \'arguments\' must be '
                'an object");\n    }\n')
        out += ('    const auto *entry = std::lower_bound(\n'
                '        MARSHALLERS.begin(), MARSHALLERS.end(), name,\n'
                '        [](const MarshalEntry &e, std::string_view n) { '
                'return e.name < n; });\n')
        out += ('    if (entry == MARSHALLERS.end() || entry->name != name) {\n'
                '        return Error(fmt::format("The command {} has not been '
                'found", name),\n                     '
                'qapi::ErrorClass::CommandNotFound);\n    }\n')
        out += ('    if (!args) {\n        return entry->marshal(commands, '
                'QObject::dict());\n    }\n'
                '    return entry->marshal(commands, *args);\n}\n\n')
        out += self.close_ns()
        return out

    # -- events -----------------------------------------------------------

    def event_params(self, event):
        if event.arg_type is None:
            return []
        if event.boxed:
            return [('const %s &data' % event.arg_type.name, None)]
        params = []
        for m in event.arg_type.members():
            if m.optional or not m.type.by_value():
                params.append(('const %s &%s' % (m.cpp_type(), m.c_name), m))
            else:
                params.append(('%s %s' % (m.cpp_type(), m.c_name), m))
        return params

    def events_h(self):
        out = self.banner('QAPI events: builders for the events of the '
                          'schema.')
        out += '#pragma once\n\n' + self.include('qapi-types.h') + '\n'
        out += self.open_ns()
        for e in self.schema.events():
            out += comment('%s: %s' % (e.name, e.doc.summary() if e.doc
                                       else ''))
            params = ', '.join(p for p, _ in self.event_params(e))
            out += 'QapiEvent %s(%s);\n\n' % (e.function, params)
        out += self.close_ns()
        return out

    def events_cc(self):
        out = self.banner('QAPI events: builders.')
        out += self.include('qapi-events.h') + '\n#include <optional>\n\n'
        out += self.open_ns()
        for e in self.schema.events():
            params = self.event_params(e)
            out += 'QapiEvent %s(%s)\n{\n' % (e.function,
                                            ', '.join(p for p, _ in params))
            if e.arg_type is None:
                data = 'std::nullopt'
            elif e.boxed:
                data = 'to_qobject(data)'
            else:
                out += '    %s data;\n' % e.arg_type.name
                for _, m in params:
                    out += '    data.%s = %s;\n' % (m.c_name, m.c_name)
                data = 'to_qobject(data)'
            out += '    return QapiEvent { %s, %s };\n}\n\n' % (
                cpp_string(e.name), data)
        out += self.close_ns()
        return out

    # -- introspection ----------------------------------------------------

    def introspection(self):
        """The schema as QEMU's query-qmp-schema returns it (SchemaInfo),
        with type names left readable."""
        infos = []
        arrays = OrderedDict()
        builtins = OrderedDict()

        def type_name(ref):
            if ref.target.meta == 'builtin':
                builtins[ref.name] = ref.target
            if ref.is_list:
                arrays[ref.schema_name()] = ref.name
            return ref.schema_name()

        def features(items):
            return {'features': [f.name for f in items]} if items else {}

        def obj_name(struct):
            return struct.introspection_name() if struct else 'q_empty'

        need_empty = False
        for d in self.schema.definitions.values():
            if d.meta == 'enum':
                info = {'name': d.name, 'meta-type': 'enum',
                        'members': [dict({'name': v.name},
                                         **features(v.features))
                                    for v in d.values],
                        'values': [v.name for v in d.values]}
            elif d.meta == 'struct':
                members = []
                for m in d.members():
                    member = {'name': m.name, 'type': type_name(m.type)}
                    if m.optional:
                        member['default'] = None
                    member.update(features(m.features))
                    members.append(member)
                info = {'name': d.introspection_name(), 'meta-type': 'object',
                        'members': members}
            elif d.meta == 'command':
                need_empty |= d.arg_type is None or d.returns is None
                info = {'name': d.name, 'meta-type': 'command',
                        'arg-type': obj_name(d.arg_type),
                        'ret-type': (type_name(d.returns) if d.returns
                                     else 'q_empty')}
                if d.allow_oob:
                    info['allow-oob'] = True
            else:
                need_empty |= d.arg_type is None
                info = {'name': d.name, 'meta-type': 'event',
                        'arg-type': obj_name(d.arg_type)}
            info.update(features(d.features))
            infos.append(info)
        if need_empty:
            infos.append({'name': 'q_empty', 'meta-type': 'object',
                          'members': []})
        for name, element in arrays.items():
            infos.append({'name': name, 'meta-type': 'array',
                          'element-type': element})
        for name, b in builtins.items():
            infos.append({'name': name, 'meta-type': 'builtin',
                          'json-type': b.json_type})
        return infos

    def introspect_h(self):
        out = self.banner('QAPI introspection data.')
        out += '#pragma once\n\n#include <string_view>\n\n'
        out += self.open_ns(usings=False)
        out += ('/// The schema as query-qmp-schema returns it: a JSON array '
                'of SchemaInfo\n/// objects (QEMU\'s qapi/introspect.json), '
                'with type names unmasked.\n'
                'extern const std::string_view QAPI_SCHEMA_INTROSPECTION;\n\n')
        out += self.close_ns()
        return out

    def introspect_cc(self):
        text = json.dumps(self.introspection(), separators=(',', ':'))
        out = self.banner('QAPI introspection data.')
        out += self.include('qapi-introspect.h') + '\n'
        out += self.open_ns(usings=False)
        out += ('const std::string_view QAPI_SCHEMA_INTROSPECTION = %s;\n\n'
                % raw_string_literal(text))
        out += self.close_ns()
        return out

    # -- examples ---------------------------------------------------------

    def examples(self):
        result = []
        for definition, section, messages in self.schema.examples:
            result.append(OrderedDict([
                ('definition', definition.name),
                ('source', '%s:%d' % (os.path.basename(section.info.fname),
                                      section.info.line)),
                ('exchanges', [OrderedDict([('direction', m.direction),
                                            ('message', m.message)])
                               for m in messages]),
            ]))
        return result

    def examples_json(self):
        return json.dumps(self.examples(), indent=2) + '\n'

    def examples_h(self):
        out = self.banner('The QMP examples of the schema documentation.')
        out += '#pragma once\n\n#include <string_view>\n\n'
        out += self.open_ns(usings=False)
        out += ('/// Every "Example:" section of the schema, as a JSON array '
                'of\n///   {"definition": name, "source": "file.json:line",\n'
                '///    "exchanges": [{"direction": "->" or "<-", '
                '"message": {...}}, ...]}\n'
                '/// "->" is a command from the client, "<-" a reply or an '
                'event from the\n/// server; events carry no timestamp when '
                'the example omits it.\n'
                'inline constexpr std::string_view QAPI_EXAMPLES_JSON = %s;\n\n'
                % raw_string_literal(self.examples_json()))
        out += self.close_ns()
        return out


# ---------------------------------------------------------------------------
# The built-in types' codecs (qapi-builtin-types.h/.cc)

BUILTIN_TYPES_H = r'''#pragma once

#include "qapi/enum-lookup.h"
#include "qapi/qobject.h"
#include "qapi/result.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace qapi {

/// Where a value sits in the input being decoded, for error messages:
/// "qemu.major" for a member of a member, "vcpus[0]" for a list element,
/// "<anonymous>" for the root itself, as QEMU's QObject input visitor names
/// them.  A path refers to its parent and lives on the stack of the
/// decoding functions; text is only built when an error is reported.
class InputPath {
public:
    InputPath() = default;

    /// The path of member `name` of the object at this path.  `name` must
    /// outlive the result.
    InputPath member(std::string_view name) const
    {
        return InputPath(this, name, 0, false);
    }

    /// The path of element `index` of the list at this path.
    InputPath element(size_t index) const
    {
        return InputPath(this, {}, index, true);
    }

    std::string full_name() const;

private:
    InputPath(const InputPath *parent, std::string_view name, size_t index,
              bool is_element)
        : m_parent(parent)
        , m_name(name)
        , m_index(index)
        , m_is_element(is_element)
    {
    }

    const InputPath *m_parent { nullptr };
    std::string_view m_name;
    size_t m_index { 0 };
    bool m_is_element { false };
};

/// The errors of QEMU's QObject input visitor, as GenericError.
/// "Parameter 'x' is missing"
Error missing_parameter(const InputPath &path);
/// "Invalid parameter type for 'x', expected: <expected>"
Error invalid_parameter_type(const InputPath &path, std::string_view expected);
/// "Parameter 'x' expects <expected>" (a value out of range)
Error invalid_parameter_value(const InputPath &path, std::string_view expected);
/// "Parameter 'x' is unexpected"
Error unexpected_parameter(const InputPath &path);
/// "Parameter 'x' does not accept value 'y'" (an enum)
Error enum_value_not_accepted(const InputPath &path, std::string_view value);

// Decoding.  visit_input(obj, path, std::type_identity<T>) decodes `obj`
// as a T; the generated code adds an overload per struct next to the
// struct, where argument-dependent lookup finds it.

/// str: a string.
Result<std::string> visit_input(const QObject &obj, const InputPath &path,
                                std::type_identity<std::string>);
/// bool: true or false.
Result<bool> visit_input(const QObject &obj, const InputPath &path,
                         std::type_identity<bool>);
/// intN: an integer in range; a double is not an integer, even when
/// integral.
Result<int8_t> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<int8_t>);
Result<int16_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int16_t>);
Result<int32_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int32_t>);
Result<int64_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int64_t>);
/// uintN: an integer in range.  As in QEMU, a negative integer is taken
/// modulo 2^64 first, so -1 is a valid uint64 and out of range for the
/// narrower types.
Result<uint8_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<uint8_t>);
Result<uint16_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint16_t>);
Result<uint32_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint32_t>);
Result<uint64_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint64_t>);
/// number: any number.
Result<double> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<double>);
/// null: JSON null.
Result<std::nullptr_t> visit_input(const QObject &obj, const InputPath &path,
                                   std::type_identity<std::nullptr_t>);
/// any: anything.
Result<QObject> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<QObject>);

/// A QAPI enum: a string naming one of its values.
template <QapiEnum E>
Result<E> visit_input(const QObject &obj, const InputPath &path,
                      std::type_identity<E>)
{
    const std::string *name = obj.as_string();
    if (!name) {
        return invalid_parameter_type(path, "string");
    }
    if (std::optional<E> value = enum_parse<E>(*name)) {
        return *value;
    }
    return enum_value_not_accepted(path, *name);
}

/// ['T']: a list whose elements are T.
template <typename T>
Result<std::vector<T>> visit_input(const QObject &obj, const InputPath &path,
                                   std::type_identity<std::vector<T>>)
{
    const QObject::List *list = obj.as_list();
    if (!list) {
        return invalid_parameter_type(path, "array");
    }
    std::vector<T> out;
    out.reserve(list->size());
    for (size_t i = 0; i < list->size(); i++) {
        const InputPath element = path.element(i);
        out.push_back(
            TRY(visit_input((*list)[i], element, std::type_identity<T> {})));
    }
    return out;
}

/// A mandatory member of the object `dict`.
template <typename T>
Result<T> visit_member(const QObject &dict, const InputPath &path,
                       std::string_view name)
{
    const InputPath member = path.member(name);
    const QObject *value = dict.get(name);
    if (!value) {
        return missing_parameter(member);
    }
    return visit_input(*value, member, std::type_identity<T> {});
}

/// An optional member of the object `dict`: nullopt when absent.
template <typename T>
Result<std::optional<T>> visit_optional_member(const QObject &dict,
                                               const InputPath &path,
                                               std::string_view name)
{
    const QObject *value = dict.get(name);
    if (!value) {
        return std::optional<T> {};
    }
    const InputPath member = path.member(name);
    return std::optional<T>(
        TRY(visit_input(*value, member, std::type_identity<T> {})));
}

/// Fails on the first member of the object `dict` that is not in `known`.
Result<void> check_unexpected_members(const QObject &dict,
                                      const InputPath &path,
                                      std::span<const std::string_view> known);

/// Decode `obj` as a T with QEMU's input rules.  Errors name the offending
/// member relative to `obj` ("qemu.major", "vcpus[1].lvr").
template <typename T>
Result<T> from_qobject(const QObject &obj)
{
    return visit_input(obj, InputPath {}, std::type_identity<T> {});
}

// Encoding.  to_qobject(value) gives the QObject QMP sends for a value;
// the generated code adds an overload per struct.

inline QObject to_qobject(const std::string &value)
{
    return QObject(value);
}
inline QObject to_qobject(std::string_view value)
{
    return QObject(value);
}
inline QObject to_qobject(const char *value)
{
    return QObject(value);
}
inline QObject to_qobject(bool value)
{
    return QObject(value);
}
inline QObject to_qobject(int8_t value)
{
    return QObject(int64_t { value });
}
inline QObject to_qobject(int16_t value)
{
    return QObject(int64_t { value });
}
inline QObject to_qobject(int32_t value)
{
    return QObject(int64_t { value });
}
inline QObject to_qobject(int64_t value)
{
    return QObject(value);
}
inline QObject to_qobject(uint8_t value)
{
    return QObject(uint64_t { value });
}
inline QObject to_qobject(uint16_t value)
{
    return QObject(uint64_t { value });
}
inline QObject to_qobject(uint32_t value)
{
    return QObject(uint64_t { value });
}
inline QObject to_qobject(uint64_t value)
{
    return QObject(value);
}
inline QObject to_qobject(double value)
{
    return QObject(value);
}
inline QObject to_qobject(std::nullptr_t)
{
    return QObject();
}
inline QObject to_qobject(const QObject &value)
{
    return value;
}

/// A QAPI enum as its QAPI name ("not-advertised").
template <QapiEnum E>
QObject to_qobject(E value)
{
    return QObject(enum_name(value));
}

template <typename T>
QObject to_qobject(const std::vector<T> &list)
{
    QObject::List out;
    out.reserve(list.size());
    for (const T &element : list) {
        out.push_back(to_qobject(element));
    }
    return QObject(std::move(out));
}

/// An event ready to send; QMP adds the timestamp.
struct QapiEvent {
    std::string_view name;
    /// The "data" member; nullopt for events that carry none.
    std::optional<QObject> data;
};

} // namespace qapi
'''

BUILTIN_TYPES_CC = r'''#include "qapi/qapi-builtin-types.h"

#include <fmt/core.h>

#include <limits>
#include <vector>

namespace qapi {

std::string InputPath::full_name() const
{
    std::vector<const InputPath *> chain;
    for (const InputPath *p = this; p && p->m_parent; p = p->m_parent) {
        chain.push_back(p);
    }
    std::string name;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        if ((*it)->m_is_element) {
            name += fmt::format("[{}]", (*it)->m_index);
        } else {
            if (!name.empty()) {
                name += '.';
            }
            name += (*it)->m_name;
        }
    }
    return name.empty() ? "<anonymous>" : name;
}

Error missing_parameter(const InputPath &path)
{
    return Error(fmt::format("Parameter '{}' is missing", path.full_name()));
}

Error invalid_parameter_type(const InputPath &path, std::string_view expected)
{
    return Error(fmt::format("Invalid parameter type for '{}', expected: {}",
                             path.full_name(), expected));
}

Error invalid_parameter_value(const InputPath &path, std::string_view expected)
{
    return Error(
        fmt::format("Parameter '{}' expects {}", path.full_name(), expected));
}

Error unexpected_parameter(const InputPath &path)
{
    return Error(fmt::format("Parameter '{}' is unexpected", path.full_name()));
}

Error enum_value_not_accepted(const InputPath &path, std::string_view value)
{
    return Error(fmt::format("Parameter '{}' does not accept value '{}'",
                             path.full_name(), value));
}

Result<std::string> visit_input(const QObject &obj, const InputPath &path,
                                std::type_identity<std::string>)
{
    const std::string *value = obj.as_string();
    if (!value) {
        return invalid_parameter_type(path, "string");
    }
    return *value;
}

Result<bool> visit_input(const QObject &obj, const InputPath &path,
                         std::type_identity<bool>)
{
    std::optional<bool> value = obj.as_bool();
    if (!value) {
        return invalid_parameter_type(path, "boolean");
    }
    return *value;
}

namespace {

// QEMU's qnum_get_try_int(): an integer that fits int64_t.  Unlike
// QObject::as_int(), an integral double is not an integer here.
Result<int64_t> input_int64(const QObject &obj, const InputPath &path)
{
    if (obj.kind() == QObject::Kind::Int || obj.kind() == QObject::Kind::UInt) {
        if (std::optional<int64_t> value = obj.as_int()) {
            return *value;
        }
    }
    return invalid_parameter_type(path, "integer");
}

// QEMU's uint64 input accepts negative integers "for backward
// compatibility" and wraps them.
Result<uint64_t> input_uint64(const QObject &obj, const InputPath &path)
{
    if (obj.kind() == QObject::Kind::UInt) {
        return *obj.as_uint();
    }
    if (obj.kind() == QObject::Kind::Int) {
        return static_cast<uint64_t>(*obj.as_int());
    }
    return invalid_parameter_value(path, "uint64");
}

template <typename T>
Result<T> input_signed(const QObject &obj, const InputPath &path,
                       std::string_view type)
{
    const int64_t value = TRY(input_int64(obj, path));
    if (value < std::numeric_limits<T>::min() ||
        value > std::numeric_limits<T>::max()) {
        return invalid_parameter_value(path, type);
    }
    return static_cast<T>(value);
}

template <typename T>
Result<T> input_unsigned(const QObject &obj, const InputPath &path,
                         std::string_view type)
{
    const uint64_t value = TRY(input_uint64(obj, path));
    if (value > std::numeric_limits<T>::max()) {
        return invalid_parameter_value(path, type);
    }
    return static_cast<T>(value);
}

} // namespace

Result<int8_t> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<int8_t>)
{
    return input_signed<int8_t>(obj, path, "int8_t");
}

Result<int16_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int16_t>)
{
    return input_signed<int16_t>(obj, path, "int16_t");
}

Result<int32_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int32_t>)
{
    return input_signed<int32_t>(obj, path, "int32_t");
}

Result<int64_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<int64_t>)
{
    return input_int64(obj, path);
}

Result<uint8_t> visit_input(const QObject &obj, const InputPath &path,
                            std::type_identity<uint8_t>)
{
    return input_unsigned<uint8_t>(obj, path, "uint8_t");
}

Result<uint16_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint16_t>)
{
    return input_unsigned<uint16_t>(obj, path, "uint16_t");
}

Result<uint32_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint32_t>)
{
    return input_unsigned<uint32_t>(obj, path, "uint32_t");
}

Result<uint64_t> visit_input(const QObject &obj, const InputPath &path,
                             std::type_identity<uint64_t>)
{
    return input_uint64(obj, path);
}

Result<double> visit_input(const QObject &obj, const InputPath &path,
                           std::type_identity<double>)
{
    if (!obj.is_number()) {
        return invalid_parameter_type(path, "number");
    }
    return *obj.as_double();
}

Result<std::nullptr_t> visit_input(const QObject &obj, const InputPath &path,
                                   std::type_identity<std::nullptr_t>)
{
    if (!obj.is_null()) {
        return invalid_parameter_type(path, "null");
    }
    return nullptr;
}

Result<QObject> visit_input(const QObject &obj, const InputPath &,
                            std::type_identity<QObject>)
{
    return obj;
}

Result<void> check_unexpected_members(const QObject &dict,
                                      const InputPath &path,
                                      std::span<const std::string_view> known)
{
    const QObject::Dict *members = dict.as_dict();
    if (!members) {
        return invalid_parameter_type(path, "object");
    }
    for (const auto &member : *members) {
        bool found = false;
        for (std::string_view name : known) {
            if (name == member.first) {
                found = true;
                break;
            }
        }
        if (!found) {
            return unexpected_parameter(path.member(member.first));
        }
    }
    return {};
}

} // namespace qapi
'''


# ---------------------------------------------------------------------------
# Driver


def output_files(opts):
    names = ['qapi-types.h', 'qapi-types.cc', 'qapi-commands.h',
             'qapi-commands.cc', 'qapi-events.h', 'qapi-events.cc',
             'qapi-introspect.h', 'qapi-introspect.cc', 'qapi-examples.json',
             'qapi-examples.h']
    files = [opts.prefix + n for n in names]
    if opts.builtins:
        files = ['qapi-builtin-types.h', 'qapi-builtin-types.cc'] + files
    return files


def generate(opts):
    schema = Schema(opts.schema)
    out = Output(opts, schema)
    contents = {}
    if opts.builtins:
        contents['qapi-builtin-types.h'] = out.banner(
            'Codecs for the QAPI built-in types, shared by every '
            'schema.') + BUILTIN_TYPES_H
        contents['qapi-builtin-types.cc'] = out.banner(
            'Codecs for the QAPI built-in types.') + BUILTIN_TYPES_CC
    p = opts.prefix
    contents[p + 'qapi-types.h'] = out.types_h()
    contents[p + 'qapi-types.cc'] = out.types_cc()
    contents[p + 'qapi-commands.h'] = out.commands_h()
    contents[p + 'qapi-commands.cc'] = out.commands_cc()
    contents[p + 'qapi-events.h'] = out.events_h()
    contents[p + 'qapi-events.cc'] = out.events_cc()
    contents[p + 'qapi-introspect.h'] = out.introspect_h()
    contents[p + 'qapi-introspect.cc'] = out.introspect_cc()
    contents[p + 'qapi-examples.json'] = out.examples_json()
    contents[p + 'qapi-examples.h'] = out.examples_h()
    os.makedirs(opts.output_dir, exist_ok=True)
    for name in output_files(opts):
        with open(os.path.join(opts.output_dir, name), 'w',
                  encoding='utf-8') as f:
            f.write(contents[name])
    if opts.depfile:
        target = os.path.join(opts.output_dir, output_files(opts)[0])
        with open(opts.depfile, 'w', encoding='utf-8') as f:
            f.write('%s: %s\n' % (target.replace(' ', '\\ '), ' '.join(
                path.replace(' ', '\\ ') for path in schema.files)))
    return schema


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate C++ from a QAPI schema in QEMU\'s dialect.')
    parser.add_argument('schema', help='the top-level schema file')
    parser.add_argument('-o', '--output-dir', default='.',
                        help='where to write the generated files')
    parser.add_argument('-p', '--prefix', default='',
                        help='prefix for the generated file names')
    parser.add_argument('--namespace', default='qapi',
                        help='C++ namespace of the generated code')
    parser.add_argument('--include-prefix', default='qapi/',
                        help='directory part of #include lines between the '
                        'generated files')
    parser.add_argument('--no-builtins', dest='builtins',
                        action='store_false',
                        help='do not write qapi-builtin-types.h/.cc (another '
                        'schema of the program provides them)')
    parser.add_argument('--depfile', help='write a Makefile-style depfile')
    opts = parser.parse_args(argv)
    try:
        generate(opts)
    except QAPIError as e:
        print('%s: %s' % (os.path.basename(sys.argv[0]), e), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
