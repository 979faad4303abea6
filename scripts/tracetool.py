#!/usr/bin/env python3
"""Generate seoib's trace points from trace-events files.

Usage: tracetool.py --source-root DIR --output-dir DIR --table NAME.cc EVENTS...

The input is QEMU's trace-events format (QEMU's docs/devel/tracing.rst):

    # a comment
    name(type1 arg1, type2 arg2) "printf format"
    disable name(void) "compiled out"

The format is a sequence of C string literals and <inttypes.h> PRI* macros,
e.g. "val 0x%" PRIx64; "(void)" declares no arguments.  The only property is
"disable", which compiles the event out.  An event's directory is the path of its
trace-events file relative to the source root.

All files are read in one run, so that every event gets one index in one
process-wide table.  For each file the output directory receives
trace-<dir>.h, with '/' in <dir> replaced by '_' (hw/intc/trace-events gives
trace-hw_intc.h); it declares, per event,

    inline constexpr trace::EventId TRACE_<NAME>;
    inline void trace_<name>(args...);

and the --table source defines the event table and the enabled flags that
include/trace/control.h declares.  An error names the file and the line.
"""

import argparse
import os
import re
import sys
from dataclasses import dataclass, field


# Types a trace point may take: they need no header beyond <cstdint> and
# <sys/types.h>, and the printf format of each is well defined.  QEMU's
# tracetool allows the same set.
ALLOWED_TYPE_WORDS = frozenset([
    'bool', 'char', 'short', 'int', 'long', 'signed', 'unsigned', 'const',
    'void', 'int8_t', 'uint8_t', 'int16_t', 'uint16_t', 'int32_t',
    'uint32_t', 'int64_t', 'uint64_t', 'size_t', 'ssize_t', 'uintptr_t',
    'ptrdiff_t',
])

KNOWN_PROPERTIES = frozenset(['disable'])

# QEMU's limit; it keeps the generated calls readable.
MAX_ARGS = 10

PRI_MACRO = re.compile(
    r'PRI[diouxX](?:8|16|32|64|PTR|MAX|LEAST(?:8|16|32|64)|'
    r'FAST(?:8|16|32|64))\Z')
EVENT_LINE = re.compile(
    r'(?P<props>(?:[A-Za-z_]\w*\s+)*?)'
    r'(?P<name>[A-Za-z_]\w*)\s*'
    r'\((?P<args>[^()]*)\)'
    r'(?P<fmt>.*)\Z')


class TraceEventsError(Exception):
    """A bad trace-events file; str() is 'FILE:LINE: message'."""

    def __init__(self, filename, lineno, message):
        where = f'{filename}:{lineno}' if lineno else filename
        super().__init__(f'{where}: {message}')
        self.filename = filename
        self.lineno = lineno
        self.message = message


@dataclass
class Arg:
    type: str
    name: str


@dataclass
class Event:
    name: str
    args: list
    # The format as written: string literals and PRI macros, space-separated.
    fmt: str
    filename: str
    lineno: int
    directory: str = ''
    properties: list = field(default_factory=list)

    @property
    def disabled(self):
        return 'disable' in self.properties


def parse_type(text):
    """Normalise a C type ('const char *') and check it; raise ValueError."""
    words = text.replace('*', ' * ').split()
    base = [w for w in words if w != '*']
    stars = len(words) - len(base)
    if not base:
        raise ValueError('missing type')
    if words[len(base):] != ['*'] * stars:
        raise ValueError(f"type '{text.strip()}' is not allowed: qualifiers "
                         "go before the '*'")
    for word in base:
        if word not in ALLOWED_TYPE_WORDS:
            raise ValueError(
                f"type '{text.strip()}' is not allowed: use standard C types "
                "or fixed-size integers (int, uint64_t, const char *, ...)")
    if not stars and 'void' in base:
        raise ValueError("an argument cannot have type 'void'")
    normalised = ' '.join(base)
    return f"{normalised} {'*' * stars}" if stars else normalised


def parse_args(text):
    """Parse 'type1 arg1, type2 arg2' or 'void'; raise ValueError."""
    text = text.strip()
    if text == 'void':
        return []
    if not text:
        raise ValueError("empty argument list: write '(void)'")
    args = []
    for part in text.split(','):
        part = part.strip()
        if not part:
            raise ValueError('empty argument')
        match = re.fullmatch(r'(?P<type>.*?[\s*])(?P<name>[A-Za-z_]\w*)',
                             part)
        if match is None or not match.group('type').strip():
            raise ValueError(f"argument '{part}' must be 'type name'")
        arg_type = parse_type(match.group('type'))
        name = match.group('name')
        if name in ALLOWED_TYPE_WORDS:
            raise ValueError(f"argument '{part}' has no name")
        if any(a.name == name for a in args):
            raise ValueError(f"argument '{name}' appears twice")
        args.append(Arg(arg_type, name))
    if len(args) > MAX_ARGS:
        raise ValueError(f'more than {MAX_ARGS} arguments')
    return args


def parse_format(text):
    """Split a format into string literals and PRI macros; raise ValueError.

    Returns (tokens, literal_text), literal_text being the concatenated
    contents of the string literals, still escaped.
    """
    tokens = []
    literal = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        if text[pos] == '"':
            end = pos + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == '\\' else 1
            if end >= len(text):
                raise ValueError('unterminated string in the format')
            tokens.append(text[pos:end + 1])
            literal.append(text[pos + 1:end])
            pos = end + 1
            continue
        match = re.match(r'[A-Za-z_]\w*', text[pos:])
        if match is None:
            raise ValueError(
                f"unexpected '{text[pos:].strip()}' in the format: only "
                "string literals and PRI* macros may follow the arguments")
        word = match.group(0)
        if PRI_MACRO.match(word) is None:
            raise ValueError(
                f"'{word}' in the format is not a PRI* macro from "
                "<inttypes.h>")
        tokens.append(word)
        pos += len(word)
    if not literal:
        raise ValueError('missing format string after the arguments')
    return tokens, ''.join(literal)


def parse_line(line, filename, lineno):
    """Parse one line of a trace-events file.

    Returns None for blank and comment lines, else an Event; raises
    TraceEventsError naming the file and line.
    """
    text = line.strip()
    if not text or text.startswith('#'):
        return None
    match = EVENT_LINE.match(text)
    if match is None:
        raise TraceEventsError(
            filename, lineno,
            "expected 'name(type arg, ...) \"format\"', got "
            f"'{text}'")
    try:
        properties = match.group('props').split()
        for prop in properties:
            if prop not in KNOWN_PROPERTIES:
                raise ValueError(f"unknown property '{prop}' (known: "
                                 f"{', '.join(sorted(KNOWN_PROPERTIES))})")
        args = parse_args(match.group('args'))
        tokens, literal = parse_format(match.group('fmt'))
        # The log backend adds the newline, and an event that needs errno
        # should take it as an argument: %m would print the errno of
        # whatever ran last.
        if literal.endswith('\\n'):
            raise ValueError('the format must not end with a newline')
        if not literal and args:
            raise ValueError('the format is empty but there are arguments')
        if re.search(r'(?<!%)(?:%%)*%m', literal):
            raise ValueError("'%m' is not allowed: pass the error as an "
                             "argument")
    except ValueError as e:
        raise TraceEventsError(filename, lineno,
                               f"event '{match.group('name')}': {e}") from None
    # printf's checker rejects an empty format, so an event with nothing to
    # say formats an empty string instead.
    fmt = ' '.join(tokens) if literal else '"%s", ""'
    return Event(name=match.group('name'), args=args, fmt=fmt,
                 filename=filename, lineno=lineno, properties=properties)


def parse_events(text, filename, directory=''):
    """Parse the text of one trace-events file into a list of Events."""
    events = []
    for lineno, line in enumerate(text.splitlines(), 1):
        event = parse_line(line, filename, lineno)
        if event is not None:
            event.directory = directory
            events.append(event)
    return events


def check_unique(events):
    """Event names are one namespace across all files, as in QEMU."""
    seen = {}
    for event in events:
        first = seen.get(event.name)
        if first is not None:
            raise TraceEventsError(
                event.filename, event.lineno,
                f"event '{event.name}' is already declared at "
                f'{first.filename}:{first.lineno}')
        seen[event.name] = event


def group_name(directory):
    """'hw/intc' -> 'hw_intc'; the top-level file is 'root' as in QEMU."""
    return directory.replace('/', '_') if directory else 'root'


def header_name(directory):
    return f'trace-{group_name(directory)}.h'


def event_id(event):
    return f'TRACE_{event.name.upper()}'


def generate_header(events, filename, index_of, header):
    """The text of trace-<dir>.h for the events of one file."""
    lines = [
        f'// Generated by scripts/tracetool.py from {filename}; do not edit.',
        '//',
        '// One trace_<event>() per event.  While an event is disabled a call',
        '// costs one load and one predictable branch; see',
        '// include/trace/control.h for the run-time control.',
        '#pragma once',
        '',
        '#include "trace/control.h"',
        '',
        '#include <cinttypes>',
        '#include <cstddef>',
        '#include <cstdint>',
        '',
        '#include <sys/types.h>',
    ]
    for event in events:
        ident = event_id(event)
        params = ', '.join(f'{a.type} {a.name}' if not a.type.endswith('*')
                           else f'{a.type}{a.name}' for a in event.args)
        call_args = ''.join(f', {a.name}' for a in event.args)
        lines.append('')
        lines.append(f'inline constexpr trace::EventId {ident} '
                     f'{{ {index_of[event.name]} }};')
        lines.append('')
        if event.disabled:
            lines.append('// "disable": compiled out, but the format is still '
                         'checked against the arguments.')
        lines.append(f'inline void trace_{event.name}({params})')
        lines.append('{')
        if event.disabled:
            lines.append('    if constexpr (false) {')
        else:
            lines.append(f'    if (trace::event_enabled({ident})) '
                         '[[unlikely]] {')
        # Format errors are reported at the trace-events line.
        lines.append(f'#line {event.lineno} "{filename}"')
        lines.append(f'        trace::detail::log_event({ident}, {event.fmt}'
                     f'{call_args});')
        lines.append(f'#line {len(lines) + 2} "{header}"')
        lines.append('    }')
        lines.append('}')
    lines.append('')
    return '\n'.join(lines)


def generate_table(events, inputs):
    """The text of the event table source."""
    lines = [
        '// Generated by scripts/tracetool.py; do not edit.',
        '//',
        '// The event table and the enabled flags of every event, from:',
    ]
    lines.extend(f'//   {name}' for name in inputs)
    lines.extend([
        '',
        '#include "trace/control.h"',
        '',
        '#include <array>',
        '',
        'namespace trace::detail {',
        '',
        'namespace {',
        '',
        f'constexpr std::array<EventInfo, {len(events)}> EVENTS {{{{',
    ])
    for event in events:
        traceable = 'false' if event.disabled else 'true'
        lines.append(f'    {{ "{event.name}", "{event.directory}", '
                     f'{traceable} }},')
    lines.extend([
        '}};',
        '',
        '} // namespace',
        '',
        '// Every event starts disabled, as with QEMU\'s log backend.',
        f'constinit std::atomic<bool> event_state[{max(len(events), 1)}] {{}};',
        '',
        'std::span<const EventInfo> event_table()',
        '{',
        '    return EVENTS;',
        '}',
        '',
        '} // namespace trace::detail',
        '',
    ])
    return '\n'.join(lines)


def directory_of(path, source_root):
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(source_root))
    if rel.startswith('..'):
        raise TraceEventsError(path, None, 'not under the source root '
                               f'{source_root}')
    return os.path.dirname(rel).replace(os.sep, '/')


def write_if_changed(path, text):
    """Keep the timestamp of unchanged outputs to spare rebuilds."""
    try:
        with open(path, encoding='utf-8') as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def run(source_root, output_dir, table, inputs):
    groups = []
    all_events = []
    for path in inputs:
        directory = directory_of(path, source_root)
        display = f'{directory}/{os.path.basename(path)}' if directory \
            else os.path.basename(path)
        with open(path, encoding='utf-8') as f:
            events = parse_events(f.read(), display, directory)
        groups.append((display, directory, events))
        all_events.extend(events)
    check_unique(all_events)
    headers = [header_name(directory) for _, directory, _ in groups]
    if len(set(headers)) != len(headers):
        raise TraceEventsError(inputs[0], None, 'two trace-events files map '
                               'to the same header')

    index_of = {event.name: index for index, event in enumerate(all_events)}
    for (display, directory, events), header in zip(groups, headers):
        write_if_changed(os.path.join(output_dir, header),
                         generate_header(events, display, index_of, header))
    write_if_changed(os.path.join(output_dir, table),
                     generate_table(all_events,
                                    [display for display, _, _ in groups]))


def main(argv):
    parser = argparse.ArgumentParser(
        description='Generate trace points from trace-events files.')
    parser.add_argument('--source-root', required=True)
    parser.add_argument('--output-dir', required=True)
    parser.add_argument('--table', required=True,
                        help='file name of the generated event table source')
    parser.add_argument('inputs', nargs='+', metavar='TRACE-EVENTS')
    options = parser.parse_args(argv)
    try:
        run(options.source_root, options.output_dir, options.table,
            options.inputs)
    except TraceEventsError as e:
        print(f'tracetool: {e}', file=sys.stderr)
        return 1
    except OSError as e:
        print(f'tracetool: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
