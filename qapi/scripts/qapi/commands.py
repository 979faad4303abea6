"""qapi-commands.h/.cc: class QmpCommands, qmp_dispatch() and the
name tables.
"""

from qapi.common import c_name, comment, cpp_string
from qapi.gen import Gen


class CommandsGen(Gen):
    """Generates qapi-commands.h/.cc."""

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
