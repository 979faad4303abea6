"""qapi-types.h/.cc: enum classes, structs and their QObject codecs."""

from qapi.common import comment, cpp_string, wrap_call
from qapi.gen import Gen


class TypesGen(Gen):
    """Generates qapi-types.h/.cc."""

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
