"""The QMP exchanges of the schema documentation's "Example:" sections,
extracted and checked against the schema, so that documentation cannot
show a command, argument or member that does not exist."""

import json

from qapi.error import QAPIError, SourceInfo


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


def collect_examples(schema):
    """Every example of the schema's definitions, in schema order, as
    [(definition, section, messages)]; each message is checked."""
    examples = []
    for d in schema.definitions.values():
        if d.doc is None:
            continue
        for section in d.doc.examples():
            messages = parse_example(section)
            if not messages:
                raise QAPIError(section.info, 'example has no "->" or '
                                '"<-" message')
            checker = ExampleChecker(schema)
            for msg in messages:
                checker.check(msg)
            examples.append((d, section, messages))
    return examples


class ExampleChecker:
    """Checks the messages of one example, in order."""

    def __init__(self, schema):
        self.schema = schema
        # A return answers the latest command of its own example.
        self.command = None

    def check(self, msg):
        """Check the next message of the example against the schema."""
        m = msg.message
        if not isinstance(m, dict):
            raise QAPIError(msg.info, 'example message must be an object')
        if msg.direction == '->':
            unknown = set(m) - {'execute', 'arguments', 'id'}
            if 'execute' not in m or unknown:
                raise QAPIError(msg.info, 'a "->" message is a command: '
                                '{"execute": ..., "arguments": ...}')
            cmd = self.schema.definitions.get(m['execute'])
            if cmd is None or cmd.meta != 'command':
                raise QAPIError(msg.info, "example runs unknown command '%s'"
                                % m['execute'])
            self.command = cmd
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
            cmd = self.command
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
            event = self.schema.definitions.get(m['event'])
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
