"""qapi-examples.json/.h: every documented QMP exchange, as data."""

import json
import os
from collections import OrderedDict

from qapi.common import raw_string_literal
from qapi.gen import Gen


class ExamplesGen(Gen):
    """Generates qapi-examples.json/.h."""

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
