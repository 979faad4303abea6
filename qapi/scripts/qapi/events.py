"""qapi-events.h/.cc: the qapi_event_*() builders."""

from qapi.common import comment, cpp_string
from qapi.gen import Gen


class EventsGen(Gen):
    """Generates qapi-events.h/.cc."""

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
