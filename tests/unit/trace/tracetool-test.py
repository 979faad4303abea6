#!/usr/bin/env python3
"""Tests of scripts/tracetool.py: the trace-events parser and its errors."""

import contextlib
import io
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', '..', '..', 'scripts'))
import tracetool  # noqa: E402


FILE = 'hw/intc/trace-events'


class ParseLine(unittest.TestCase):
    def test_event_has_name_arguments_and_format(self):
        event = tracetool.parse_line(
            'ioapic_set_irq(int vector, int level) "vector %d level %d"',
            FILE, 4)
        self.assertEqual(event.name, 'ioapic_set_irq')
        self.assertEqual([(a.type, a.name) for a in event.args],
                         [('int', 'vector'), ('int', 'level')])
        self.assertEqual(event.fmt, '"vector %d level %d"')

    def test_pri_macros_stay_in_the_format(self):
        event = tracetool.parse_line(
            'e(uint64_t val) "val 0x%"PRIx64" end"', FILE, 1)
        self.assertEqual(event.fmt, '"val 0x%" PRIx64 " end"')

    def test_pointer_types_are_normalised(self):
        event = tracetool.parse_line(
            'e(const  char*name, const char * other) "%s %s"', FILE, 1)
        self.assertEqual([a.type for a in event.args],
                         ['const char *', 'const char *'])

    def test_void_means_no_arguments(self):
        event = tracetool.parse_line('e(void) ""', FILE, 1)
        self.assertEqual(event.args, [])

    def test_disable_property_is_kept(self):
        event = tracetool.parse_line('disable e(int x) "x %d"', FILE, 1)
        self.assertTrue(event.disabled)

    def test_comment_and_blank_lines_are_skipped(self):
        self.assertIsNone(tracetool.parse_line('  # ioapic.cc', FILE, 1))
        self.assertIsNone(tracetool.parse_line('   ', FILE, 2))


class BadLine(unittest.TestCase):
    """Every rejected line names the file and the line, and says why."""

    CASES = [
        ('e(int x)', 'missing format string'),
        ('e int x "x"', "expected 'name(type arg, ...) \"format\"'"),
        ('e() "x"', "empty argument list: write '(void)'"),
        ('e(int) "x"', "argument 'int' must be 'type name'"),
        ('e(int x, int x) "%d %d"', "argument 'x' appears twice"),
        ('e(struct S *s) "%p"', "type 'struct S *' is not allowed"),
        ('e(char * const p) "%s"', "qualifiers go before the '*'"),
        ('e(void x) "x"', "cannot have type 'void'"),
        ('bogus e(int x) "%d"', "unknown property 'bogus'"),
        ('e(int x) "%d\\n"', 'must not end with a newline'),
        ('e(int x) "%d %m"', "'%m' is not allowed"),
        ('e(int x) "%d" extra', "'extra' in the format is not a PRI* macro"),
        ('e(int x) "%d" + 1', "unexpected '+ 1' in the format"),
        ('e(int x) "%d', 'unterminated string'),
        ('e(int x) ""', 'the format is empty but there are arguments'),
        ('e(int a, int b, int c, int d, int e, int f, int g, int h, int i, '
         'int j, int k) "x"', 'more than 10 arguments'),
    ]

    def test_bad_lines_are_rejected_with_file_line_and_reason(self):
        for line, reason in self.CASES:
            with self.subTest(line=line):
                with self.assertRaises(tracetool.TraceEventsError) as cm:
                    tracetool.parse_line(line, FILE, 12)
                self.assertTrue(str(cm.exception).startswith(f'{FILE}:12: '),
                                str(cm.exception))
                self.assertIn(reason, str(cm.exception))

    def test_escaped_percent_before_m_is_allowed(self):
        event = tracetool.parse_line('e(int x) "%d%%m"', FILE, 1)
        self.assertEqual(event.name, 'e')


class ParseEvents(unittest.TestCase):
    def test_line_numbers_count_comments_and_blank_lines(self):
        text = '# comment\n\ne(int x) "%d"\n'
        events = tracetool.parse_events(text, FILE, 'hw/intc')
        self.assertEqual((events[0].lineno, events[0].directory),
                         (3, 'hw/intc'))

    def test_error_names_the_line_in_the_file(self):
        text = '# comment\ne(int x) "%d"\nf(int) "x"\n'
        with self.assertRaisesRegex(tracetool.TraceEventsError,
                                    r'^hw/intc/trace-events:3: '):
            tracetool.parse_events(text, FILE)

    def test_duplicate_event_names_across_files_are_rejected(self):
        events = (tracetool.parse_events('e(int x) "%d"\n', FILE) +
                  tracetool.parse_events('\ne(int y) "%d"\n',
                                         'hw/i386/trace-events'))
        with self.assertRaisesRegex(
                tracetool.TraceEventsError,
                r"^hw/i386/trace-events:2: event 'e' is already declared at "
                r'hw/intc/trace-events:1$'):
            tracetool.check_unique(events)


class Generate(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.TemporaryDirectory()
        self.addCleanup(self.root.cleanup)
        self.out = os.path.join(self.root.name, 'out')
        os.makedirs(os.path.join(self.root.name, 'hw', 'intc'))
        os.makedirs(self.out)

    def write_events(self, relpath, text):
        path = os.path.join(self.root.name, relpath)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        return path

    def read_output(self, name):
        with open(os.path.join(self.out, name), encoding='utf-8') as f:
            return f.read()

    def run_tracetool(self, *inputs):
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            status = tracetool.main(['--source-root', self.root.name,
                                     '--output-dir', self.out,
                                     '--table', 'table.cc', *inputs])
        return status, stderr.getvalue()

    def test_header_is_named_after_the_directory(self):
        path = self.write_events('hw/intc/trace-events',
                                 'ioapic_set_irq(int vector, int level) '
                                 '"vector %d level %d"\n')
        self.run_tracetool(path)
        header = self.read_output('trace-hw_intc.h')
        self.assertIn('inline void trace_ioapic_set_irq(int vector, '
                      'int level)', header)

    def test_table_lists_name_directory_and_traceability(self):
        path = self.write_events('hw/intc/trace-events',
                                 'a(int x) "%d"\ndisable b(int y) "%d"\n')
        self.run_tracetool(path)
        table = self.read_output('table.cc')
        self.assertIn('{ "a", "hw/intc", true },', table)
        self.assertIn('{ "b", "hw/intc", false },', table)

    def test_bad_file_exits_1_naming_file_and_line(self):
        path = self.write_events('hw/intc/trace-events',
                                 '# ok\n\nbroken(int) "x"\n')
        status, stderr = self.run_tracetool(path)
        self.assertEqual(status, 1)
        self.assertTrue(stderr.startswith(
            'tracetool: hw/intc/trace-events:3: '), stderr)


if __name__ == '__main__':
    unittest.main()
