"""Reading a schema file: its expressions (QEMU's JSON-like dialect with
single-quoted strings and '#' comments) and its '##' documentation
blocks."""

import re
import textwrap
from collections import OrderedDict

from qapi.error import QAPIError, SourceInfo


# ---------------------------------------------------------------------------
# Documentation blocks


SECTION_TAGS = ('Returns', 'Errors', 'Since', 'Note', 'Notes', 'Example',
                'Examples', 'TODO')
SECTION_RE = re.compile(r'^(%s|Features)\s*:\s*(.*)$' % '|'.join(SECTION_TAGS))
DESCRIPTION_RE = re.compile(r'^@([^\s:]+)\s*:(?:\s+(.*))?$')
SYMBOL_RE = re.compile(r'^@([^\s:]+):\s*$')
QMP_EXAMPLE_RE = re.compile(r'^\.\. qmp-example::\s*$')


class DocSection:
    """A tagged part of a doc block ("Since:", "@member:", ...)."""

    def __init__(self, tag, info):
        self.tag = tag
        self.info = info
        self.lines = []

    @property
    def text(self):
        # The first line follows the tag ("@size: how big,"); continuation
        # lines are indented under it.  Dedent them as a block, so that
        # nested indentation (lists, examples) survives.
        if not self.lines:
            return ''
        rest = textwrap.dedent('\n'.join(self.lines[1:]))
        return (self.lines[0].strip() + '\n' + rest).strip()


class QAPIDoc:
    """One '##' documentation block.

    A definition's block starts with "@Name:"; other blocks are free-form
    text (section headings and the like).
    """

    def __init__(self, info):
        self.info = info
        self.symbol = None
        self.body = DocSection(None, info)
        self.args = OrderedDict()
        self.features = OrderedDict()
        self.sections = []

    def section(self, tag):
        for s in self.sections:
            if s.tag == tag:
                return s
        return None

    def examples(self):
        return [s for s in self.sections if s.tag in ('Example', 'Examples')]

    def summary(self):
        """The first paragraph of the body, or ''."""
        return self.body.text.split('\n\n')[0].strip()


def parse_doc(fname, lines):
    """Parse the lines of a doc block: [(lineno, text without '# ')]."""
    doc = QAPIDoc(SourceInfo(fname, lines[0][0] - 1 if lines else 0))
    if not lines:
        return doc
    m = SYMBOL_RE.match(lines[0][1])
    if m:
        doc.symbol = m.group(1)
        rest = lines[1:]
    else:
        rest = lines
    current = doc.body
    in_features = False
    previous_blank = False
    for lineno, text in rest:
        info = SourceInfo(fname, lineno)
        in_example = current.tag in ('Example', 'Examples')
        if QMP_EXAMPLE_RE.match(text):
            current = DocSection('Example', info)
            doc.sections.append(current)
            in_features = False
            previous_blank = False
            continue
        m = SECTION_RE.match(text)
        if m:
            tag = m.group(1)
            if tag == 'Features':
                if m.group(2):
                    raise QAPIError(info, "text must not follow 'Features:'")
                in_features = True
                current = DocSection(None, info)
            else:
                in_features = False
                current = DocSection(tag, info)
                if m.group(2):
                    current.lines.append(m.group(2))
                doc.sections.append(current)
            previous_blank = False
            continue
        m = DESCRIPTION_RE.match(text)
        if m and not in_example:
            name = m.group(1)
            table = doc.features if in_features else doc.args
            if name in table:
                raise QAPIError(info, "'%s' is documented twice" % name)
            current = DocSection(name, info)
            current.lines.append(m.group(2) or '')
            table[name] = current
            previous_blank = False
            continue
        is_description = current.tag is not None and (
            current in doc.args.values() or current in doc.features.values())
        if (is_description and previous_blank and text
                and not text[0].isspace()):
            # An unindented paragraph after a description is body text
            # again, not more of the description.
            current = DocSection('', info)
            doc.sections.append(current)
            in_features = False
        current.lines.append(text)
        previous_blank = not text.strip()
    return doc


# ---------------------------------------------------------------------------
# Schema file syntax


class SchemaFileParser:
    """Reads one schema file: its expressions and the docs before them."""

    def __init__(self, fname, text):
        self.fname = fname
        self.src = text
        self.pos = 0
        self.line = 1
        self.line_start = 0

    def info(self):
        return SourceInfo(self.fname, self.line)

    def error(self, msg):
        return QAPIError(self.info(), msg)

    def at_line_start(self):
        return not self.src[self.line_start:self.pos].strip()

    def skip_space(self):
        """Skip blanks and comments; return a doc block if one starts."""
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch == '\n':
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif ch in ' \t\r':
                self.pos += 1
            elif ch == '#':
                end = self.src.find('\n', self.pos)
                if end < 0:
                    end = len(self.src)
                comment = self.src[self.pos:end]
                if comment.rstrip() == '##' and self.at_line_start():
                    return self.read_doc()
                self.pos = end
            else:
                return None
        return None

    def read_doc(self):
        start = self.line
        lines = []
        # Skip the opening '##'.
        self.pos = self.src.find('\n', self.pos)
        while True:
            if self.pos < 0 or self.pos >= len(self.src):
                raise QAPIError(SourceInfo(self.fname, start),
                                'documentation comment must end with ##')
            self.pos += 1
            self.line += 1
            self.line_start = self.pos
            end = self.src.find('\n', self.pos)
            if end < 0:
                end = len(self.src)
            text = self.src[self.pos:end].rstrip()
            if text == '##':
                self.pos = end
                return parse_doc(self.fname, lines)
            if not text.startswith('#'):
                raise QAPIError(self.info(),
                                "documentation comment must end with '##'")
            if text.startswith('# '):
                text = text[2:]
            elif text == '#':
                text = ''
            else:
                raise QAPIError(self.info(),
                                "missing space after '#' in documentation")
            lines.append((self.line, text))
            self.pos = end

    def parse(self):
        """Return [(kind, value, info, doc)] with kind 'expr' or 'doc'."""
        items = []
        pending_doc = None
        while True:
            doc = self.skip_space()
            if doc is not None:
                if pending_doc is not None:
                    items.append(('doc', pending_doc, pending_doc.info, None))
                pending_doc = doc
                continue
            if self.pos >= len(self.src):
                break
            info = self.info()
            if self.src[self.pos] != '{':
                raise self.error("expected '{' at the start of an expression")
            expr = self.value()
            items.append(('expr', expr, info, pending_doc))
            pending_doc = None
        if pending_doc is not None:
            items.append(('doc', pending_doc, pending_doc.info, None))
        return items

    def value(self):
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.pos >= len(self.src):
            raise self.error('unexpected end of file')
        ch = self.src[self.pos]
        if ch == '{':
            return self.dict_value()
        if ch == '[':
            return self.list_value()
        if ch == "'":
            return self.string()
        for word, result in (('true', True), ('false', False)):
            if self.src.startswith(word, self.pos):
                self.pos += len(word)
                return result
        if ch == '"':
            raise self.error("strings must be quoted with ' in a schema")
        raise self.error("stray '%s'" % ch)

    def string(self):
        self.pos += 1
        start = self.pos
        while True:
            if self.pos >= len(self.src) or self.src[self.pos] == '\n':
                raise self.error('missing terminating "\'"')
            ch = self.src[self.pos]
            if ch == "'":
                text = self.src[start:self.pos]
                self.pos += 1
                return text
            if ch == '\\':
                raise self.error('backslash escapes are not supported')
            if not (' ' <= ch <= '~'):
                raise self.error('only printable ASCII is allowed in strings')
            self.pos += 1

    def punct(self, expected):
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.pos < len(self.src) and self.src[self.pos] in expected:
            ch = self.src[self.pos]
            self.pos += 1
            return ch
        raise self.error('expected %s' % ' or '.join(
            "'%s'" % c for c in expected))

    def dict_value(self):
        self.pos += 1
        result = OrderedDict()
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.src.startswith('}', self.pos):
            self.pos += 1
            return result
        while True:
            if self.skip_space() is not None:
                raise self.error('documentation comment inside an expression')
            if self.src.startswith('"', self.pos):
                raise self.error("strings must be quoted with ' in a schema")
            if not self.src.startswith("'", self.pos):
                raise self.error('expected string as a key')
            info = self.info()
            key = self.string()
            if key in result:
                raise QAPIError(info, "duplicate key '%s'" % key)
            self.punct(':')
            result[key] = self.value()
            if self.punct(',}') == '}':
                return result

    def list_value(self):
        self.pos += 1
        result = []
        if self.skip_space() is not None:
            raise self.error('documentation comment inside an expression')
        if self.src.startswith(']', self.pos):
            self.pos += 1
            return result
        while True:
            result.append(self.value())
            if self.punct(',]') == ']':
                return result
