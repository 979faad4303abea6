"""The schema model: definitions (enums, structs, commands, events), the
built-in types, and the semantic checks that bind them together.

Schema(fname) reads the top file and everything it includes, resolves
every type reference, checks the documentation against the definitions
and collects the documentation's examples; any error is a QAPIError that
names the file and line.
"""

import os
import re
from collections import OrderedDict

from qapi.common import c_name, camel_case, enum_constant, event_camel
from qapi.error import QAPIError
from qapi.examples import collect_examples
from qapi.parser import SchemaFileParser


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
        self._read_file(fname, None)
        self._resolve()
        self._check_docs()
        # [(definition, section, messages)]: the documentation's QMP
        # exchanges, in schema order.
        self.examples = collect_examples(self)

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
