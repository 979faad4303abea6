#!/usr/bin/env python3
"""seoib-compat against ../shared/reference/qemu-compat-props.json (a copy is
tests/data/qemu-compat-props.json): compare's rows for chosen machine pairs are
computed here from the JSON's tables, folded in each machine's order; the JSON
output's schema; list; show; errors.  Usage: seoib-compat-test.py BINARY JSON"""
import json
import subprocess
import sys
import unittest

BINARY, REFERENCE = sys.argv[1], sys.argv[2]


def run(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True)


def norm(v):
    v = str(v)
    if v in ("on", "true", "yes"):
        return "true"
    if v in ("off", "false", "no"):
        return "false"
    try:
        return str(int(v, 0))
    except ValueError:
        return v


with open(REFERENCE) as f:
    REF = json.load(f)


def chain(machine):
    """driver.property -> value, the machine's tables folded in order."""
    m = next(x for x in REF["machines"] if x["name"] == machine)
    tables = dict(REF["family_defaults"])
    for family in ("hw_compat", "pc_compat"):
        for version, entries in REF[family].items():
            tables[family + "_" + version.replace(".", "_")] = entries
    out = {}
    for t in m["compat"]:
        for entry in tables[t]:
            driver, prop, value = entry[0], entry[1], entry[2]
            out[f"{driver}.{prop}"] = value
    return out


PAIRS = [("pc-q35-2.8", "pc-q35-4.0"), ("pc-q35-6.2", "pc-q35-7.2"),
         ("pc-i440fx-2.8", "pc-i440fx-7.2"), ("pc-q35-10.2", "pc-q35-11.0"),
         ("pc-q35-4.0", "pc-q35-4.0.1"), ("pc-i440fx-5.2", "pc-q35-5.2")]


class Compare(unittest.TestCase):
    def compare(self, *machines):
        r = run("--format", "json", "compare", *machines)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_pairs_match_the_reference_tables(self):
        for a, b in PAIRS:
            with self.subTest(pair=(a, b)):
                out = self.compare(a, b)
                self.assertEqual(out["machines"], [a, b])
                rows = {r["name"]: r["values"] for r in out["rows"] if r["kind"] != "seoib"}
                ca, cb = chain(a), chain(b)
                checked = 0
                for key in set(ca) | set(cb):
                    if key in ca and key in cb:
                        if norm(ca[key]) == norm(cb[key]):
                            self.assertNotIn(key, rows, "both set it to the same value")
                        else:
                            self.assertIn(key, rows)
                            self.assertEqual([norm(v) for v in rows[key]],
                                             [norm(ca[key]), norm(cb[key])])
                        checked += 1
                    elif key in rows:
                        # One chain sets it; the other has the class default.
                        mine = 0 if key in ca else 1
                        value = ca[key] if key in ca else cb[key]
                        self.assertEqual(norm(rows[key][mine]), norm(value))
                        self.assertNotEqual(norm(rows[key][1 - mine]), norm(value))
                        checked += 1
                self.assertGreater(checked, 0)
                # Every row shown differs.
                for name, values in rows.items():
                    self.assertGreater(len({norm(v) for v in values}), 1, name)

    def test_legacy_and_new_machine_differ_in_policy(self):
        out = self.compare("pc-q35-10.2", "pc-q35-11.0")
        seoib = {r["name"]: r["values"] for r in out["rows"] if r["kind"] == "seoib"}
        key = "seoib.policy[kernel=model,irqchip=split,ioapic=0x20]"
        self.assertEqual(seoib[key], ["quirked", "respected"])
        key = "seoib.lvr-bit24[kernel=model,irqchip=split,ioapic=0x11]"
        self.assertEqual(seoib[key], ["1", "0"])

    def test_json_schema(self):
        out = self.compare("pc-q35-6.2", "pc-q35-7.2", "pc-q35-10.2", "pc-q35-11.0")
        self.assertEqual(set(out), {"machines", "rows"})
        self.assertTrue(all(isinstance(m, str) for m in out["machines"]))
        self.assertTrue(out["rows"])
        for row in out["rows"]:
            self.assertEqual(set(row), {"name", "kind", "values"})
            self.assertIn(row["kind"], ("compat", "accel", "seoib"))
            self.assertRegex(row["name"], r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_.,=\[\]-]+$")
            self.assertEqual(len(row["values"]), len(out["machines"]))
            self.assertTrue(all(isinstance(v, str) for v in row["values"]))

    def test_filters(self):
        r = run("--format", "json", "compare", "pc-q35-2.8", "pc-q35-11.0",
                "--driver", "virtio-*", "--property", "*vectors*")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)["rows"]
        self.assertTrue(rows)
        for row in rows:
            driver, prop = row["name"].split(".", 1)
            self.assertTrue(driver.startswith("virtio-"))
            self.assertIn("vectors", prop)

    def test_all_has_every_machine(self):
        out = self.compare("--all")
        self.assertEqual(len(out["machines"]), len(REF["machines"]))

    def test_csv_has_a_header_and_one_line_per_row(self):
        j = self.compare("pc-q35-6.2", "pc-q35-7.2")
        r = run("--format", "csv", "compare", "pc-q35-6.2", "pc-q35-7.2")
        lines = r.stdout.strip().split("\n")
        self.assertEqual(lines[0], "driver.property,pc-q35-6.2,pc-q35-7.2")
        self.assertEqual(len(lines) - 1, len(j["rows"]))


class Html(unittest.TestCase):
    """The page's structure (not yet rendered in Chromium): one table row per
    JSON row, self-contained, refused cells carrying their reason."""

    def parse(self, text):
        import html.parser

        class P(html.parser.HTMLParser):
            def __init__(self):
                super().__init__()
                self.rows, self.cells, self.external = 0, [], False

            def handle_starttag(self, tag, attrs):
                a = dict(attrs)
                if tag == "tr":
                    self.rows += 1
                if tag == "td":
                    self.cells.append(a)
                if tag in ("script", "link", "img") or "src" in a or "href" in a:
                    self.external = True
        p = P()
        p.feed(text)
        return p

    def test_compare_page(self):
        j = json.loads(run("--format", "json", "compare", "pc-q35-2.8", "q35").stdout)
        page = self.parse(run("--format", "html", "compare", "pc-q35-2.8", "q35").stdout)
        self.assertEqual(page.rows, len(j["rows"]) + 1)
        self.assertFalse(page.external)
        flat = [v for r in j["rows"] for v in r["values"]]
        self.assertEqual([c["title"] for c in page.cells], flat)

    def test_matrix_page_gives_reasons_on_hover(self):
        page = self.parse(run("--format", "html", "migrate-matrix", "pc-q35-11.0").stdout)
        refused = [c for c in page.cells if c.get("class") == "refused"]
        self.assertTrue(refused)
        self.assertTrue(all(len(c["title"]) > len("refused: ") for c in refused))
        self.assertTrue(any(c.get("class") == "ok" for c in page.cells))


class ListShow(unittest.TestCase):
    def test_list_matches_reference(self):
        r = run("--format", "json", "list")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = {m["name"]: m for m in json.loads(r.stdout)["machines"]}
        for m in REF["machines"]:
            self.assertIn(m["name"], got)
            self.assertEqual(got[m["name"]]["alias"], m["alias"], m["name"])
            self.assertEqual(got[m["name"]]["irqchip"],
                             "split" if m["default_kernel_irqchip_split"] else "on", m["name"])

    def test_show_values_and_tables(self):
        r = run("--format", "json", "show", "pc-q35-4.0")
        self.assertEqual(r.returncode, 0, r.stderr)
        props = {p["name"]: p for p in json.loads(r.stdout)["properties"]}
        for key, value in chain("pc-q35-4.0").items():
            self.assertEqual(props[key]["value"], value, key)
        m = next(x for x in REF["machines"] if x["name"] == "pc-q35-4.0")
        for p in props.values():
            # seoib's own entries (design 4.3) come from seoib_compat_* tables.
            if not p["from"].startswith("seoib_compat_"):
                self.assertIn(p["from"], m["compat"], p["name"])


class Errors(unittest.TestCase):
    def one_line_error(self, *args):
        r = run(*args)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "", "no partial result")
        self.assertEqual(len(r.stderr.strip().split("\n")), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("seoib-compat: "), r.stderr)
        return r.stderr

    def test_unknown_machine(self):
        self.assertIn("pc-q35-1.0", self.one_line_error("compare", "pc-q35-1.0", "q35"))
        self.one_line_error("show", "nonesuch")

    def test_unknown_driver_and_property(self):
        self.assertIn("no-such-dev", self.one_line_error("compare", "q35", "pc", "--driver", "no-such-dev"))
        self.assertIn("no-such-prop", self.one_line_error("compare", "q35", "pc", "--property", "no-such-prop"))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
