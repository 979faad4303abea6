"""C++ naming (QAPI names to identifiers) and the text helpers the back
ends share."""

import re
import textwrap


CPP_KEYWORDS = frozenset('''
    alignas alignof and and_eq asm auto bitand bitor bool break case catch
    char char8_t char16_t char32_t class compl concept const consteval
    constexpr constinit const_cast continue co_await co_return co_yield
    decltype default delete do double dynamic_cast else enum explicit export
    extern false float for friend goto if inline int long mutable namespace
    new noexcept not not_eq nullptr operator or or_eq private protected
    public register reinterpret_cast requires return short signed sizeof
    static static_assert static_cast struct switch template this
    thread_local throw true try typedef typeid typename union unsigned using
    virtual void volatile wchar_t while xor xor_eq
    linux unix errno assert NULL
'''.split())


def c_name(name):
    """A C++ identifier for a QAPI member or command name ("cpu-max" ->
    "cpu_max"), with QEMU's q_ prefix for names C++ reserves."""
    ident = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if ident in CPP_KEYWORDS or ident[0].isdigit():
        ident = 'q_' + ident
    return ident


def camel_case(name):
    """CamelCase for an enum value or a command ("not-advertised" ->
    "NotAdvertised", "qom-list-types" -> "QomListTypes")."""
    parts = [p for p in re.split(r'[-_]', name) if p]
    return ''.join(p[0].upper() + p[1:] for p in parts)


def enum_constant(value):
    """The enumerator for an enum value: CamelCase across hyphens, with
    underscores kept ("x86_64" -> "X86_64")."""
    parts = [p for p in value.split('-') if p]
    ident = ''.join(p[0].upper() + p[1:] for p in parts)
    ident = re.sub(r'[^A-Za-z0-9_]', '_', ident)
    if ident[0].isdigit():
        ident = '_' + ident
    return ident


def event_camel(name):
    """"GUEST_PANICKED" -> "GuestPanicked"."""
    return ''.join(p.capitalize() for p in name.split('_') if p)


def comment(text, indent='', width=78):
    """A /// comment from schema documentation: "@name" references become
    plain names, paragraphs are rewrapped."""
    text = re.sub(r'@([A-Za-z0-9_-]+)', r'\1', text or '').strip()
    if not text:
        return ''
    out = []
    for i, para in enumerate(text.split('\n\n')):
        if i:
            out.append(indent + '///')
        lines = textwrap.wrap(' '.join(para.split()),
                              width=max(30, width - len(indent) - 4))
        out.extend(indent + '/// ' + line for line in lines)
    return '\n'.join(out) + '\n'


def wrap_call(indent, head, args, tail=';'):
    """Format head(args...)tail at `indent`, aligning arguments under the
    opening parenthesis when one line would pass 80 columns."""
    line = '%s%s(%s)%s' % (indent, head, ', '.join(args), tail)
    if len(line) <= 80 or len(args) < 2:
        return line + '\n'
    align = ' ' * (len(indent) + len(head) + 1)
    return '%s%s(%s' % (indent, head, args[0]) + ''.join(
        ',\n' + align + a for a in args[1:]) + ')' + tail + '\n'


def cpp_string(s):
    return '"%s"' % s.replace('\\', '\\\\').replace('"', '\\"')


def raw_string_literal(text):
    delimiter = 'qapi'
    while ')%s"' % delimiter in text:
        delimiter += '_'
    return 'R"%s(%s)%s"' % (delimiter, text, delimiter)
