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

import sys

from qapi.main import main

if __name__ == '__main__':
    sys.exit(main())
