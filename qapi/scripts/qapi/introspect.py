"""qapi-introspect.h/.cc: the schema as query-qmp-schema returns it."""

import json
from collections import OrderedDict

from qapi.common import raw_string_literal
from qapi.gen import Gen


def schema_info(schema):
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
    for d in schema.definitions.values():
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


class IntrospectGen(Gen):
    """Generates qapi-introspect.h/.cc."""

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
        text = json.dumps(schema_info(self.schema), separators=(',', ':'))
        out = self.banner('QAPI introspection data.')
        out += self.include('qapi-introspect.h') + '\n'
        out += self.open_ns(usings=False)
        out += ('const std::string_view QAPI_SCHEMA_INTROSPECTION = %s;\n\n'
                % raw_string_literal(text))
        out += self.close_ns()
        return out
