"""The command line of qapi-gen.py: read the schema, run every back end,
write the files."""

import argparse
import os
import sys

from qapi.builtin_types import BuiltinTypesGen
from qapi.commands import CommandsGen
from qapi.error import QAPIError
from qapi.events import EventsGen
from qapi.examples_gen import ExamplesGen
from qapi.gen import write_files
from qapi.introspect import IntrospectGen
from qapi.schema import Schema
from qapi.types import TypesGen


def generate(opts):
    schema = Schema(opts.schema)
    contents = {}
    if opts.builtins:
        builtins = BuiltinTypesGen(opts, schema)
        contents['qapi-builtin-types.h'] = builtins.builtin_types_h()
        contents['qapi-builtin-types.cc'] = builtins.builtin_types_cc()
    p = opts.prefix
    types = TypesGen(opts, schema)
    contents[p + 'qapi-types.h'] = types.types_h()
    contents[p + 'qapi-types.cc'] = types.types_cc()
    commands = CommandsGen(opts, schema)
    contents[p + 'qapi-commands.h'] = commands.commands_h()
    contents[p + 'qapi-commands.cc'] = commands.commands_cc()
    events = EventsGen(opts, schema)
    contents[p + 'qapi-events.h'] = events.events_h()
    contents[p + 'qapi-events.cc'] = events.events_cc()
    introspect = IntrospectGen(opts, schema)
    contents[p + 'qapi-introspect.h'] = introspect.introspect_h()
    contents[p + 'qapi-introspect.cc'] = introspect.introspect_cc()
    examples = ExamplesGen(opts, schema)
    contents[p + 'qapi-examples.json'] = examples.examples_json()
    contents[p + 'qapi-examples.h'] = examples.examples_h()
    write_files(opts, schema, contents)
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
