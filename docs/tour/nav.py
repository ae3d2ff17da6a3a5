#!/usr/bin/env python3
"""nav.py: the tour's navigation, written from docs/tour/stops.list.

    docs/tour/nav.py            rewrite it (make nav)
    docs/tour/nav.py --check    exit 1, with a diff, where a file disagrees
    docs/tour/nav.py --root DIR the tree to work on (default: this one)

What it owns, each between "<!-- nav: WHAT -->" and "<!-- /nav -->":
    docs/TOUR.md      "contents": the table of stops
                      "head ANCHOR": the stop's heading, "Stop N of M: title"
                      "foot ANCHOR": its page, code, previous and next links
    docs/PAGE         "page ANCHOR": a model page's header line, under its title
Everything outside the markers is left as it is, except that `make nav`
gives a stop just added its blocks: its "## ..." heading becomes the head
block, a foot block ends its section, and its page's "> [Tour]" line (or the
line under its title) becomes the page block. A stop whose page does not
exist yet is skipped (make docs-check lists the page as a to-do); a stop of
the list with no section in TOUR.md, or a section the list does not know, is
an error: the numbering would not add up.
"""
import argparse
import difflib
import os
import re
import sys

BLOCK = re.compile(r"<!-- nav: (?P<what>[^>]*?) -->\n(?P<body>.*?)<!-- /nav -->", re.S)


class Stop:
    def __init__(self, number, fields):
        self.number = number
        (self.anchor, self.name, self.page, self.kind,
         self.title, self.solves, self.costs) = fields
        self.page = None if self.page == "-" else self.page

def read_stops(path):
    stops = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = [x.strip() for x in line.rstrip("\n").split(" | ")]
            if len(fields) != 7 or fields[3] not in ("stop", "side"):
                sys.exit(f"nav: {path}:{lineno}: expected 7 fields, kind stop or side: {line.strip()}")
            stops.append(Stop(len(stops), fields))
    if not stops:
        sys.exit(f"nav: {path}: no stops")
    return stops


def tour_link(stop, base):
    """A link to STOP from a file in BASE (relative to docs/): its page if it has one."""
    return f"[{stop.name}]({os.path.relpath('TOUR.md', base)}#{stop.anchor})"


def contents(stops, last):
    rows = ["| stop | model | solves | costs |", "|---|---|---|---|"]
    for s in stops:
        n = f"[{s.number}](#{s.anchor})" + (" side trip" if s.kind == "side" else "")
        rows.append(f"| {n} | {s.name} | {s.solves} | {s.costs} |")
    return "\n".join(rows) + "\n"


def head(s, last):
    side = ", a side trip" if s.kind == "side" else ""
    return f"## Stop {s.number} of {last}{side}: {s.title}\n"


def foot(stops, i, have_page):
    s = stops[i]
    parts = []
    if s.page and have_page(s):
        code = "../models/" + os.path.basename(s.page)[:-3] + ".c"
        parts += [f"[Page]({s.page})", f"[code]({code})"]
    if i > 0:
        p = stops[i - 1]
        parts.append(f"previous: [stop {p.number}, {p.name}](#{p.anchor})")
    if i + 1 < len(stops):
        n = stops[i + 1]
        parts.append(f"next: [stop {n.number}, {n.name}](#{n.anchor})")
    else:
        parts.append("next: [the comparison](#the-comparison)")
    return " · ".join(parts) + "\n"


def page_header(stops, i, last, have_page):
    s = stops[i]
    base = os.path.dirname(s.page)

    def link(o):
        if o.page and have_page(o):
            return f"[{o.name}]({os.path.relpath(o.page, base)})"
        return tour_link(o, base)

    parts = [f"> [Tour]({os.path.relpath('TOUR.md', base)}#{s.anchor}) stop {s.number} of {last}"
             + (", a side trip" if s.kind == "side" else "")]
    if i > 0:
        parts.append("previous: " + link(stops[i - 1]))
    if i + 1 < len(stops):
        parts.append("next: " + link(stops[i + 1]))
    else:
        parts.append(f"next: [the comparison]({os.path.relpath('TOUR.md', base)}#the-comparison)")
    parts += [f"[all models]({os.path.relpath('MODELS.md', base)})",
              f"[glossary]({os.path.relpath('GLOSSARY.md', base)})"]
    return " · ".join(parts) + "\n"


def add_tour_blocks(text, stops):
    """TOUR.md with the head and foot blocks of a section that has none (a
    stop just added): the heading after its anchor becomes the head block, and
    the foot block goes before the section's closing "---" (or its end)."""
    for s in stops:
        anchor = f'<a id="{s.anchor}"></a>\n'
        at = text.find(anchor)
        if at < 0:
            continue
        body = at + len(anchor)
        if not text.startswith(f"<!-- nav: head {s.anchor} -->", body):
            heading = re.match(r"##[^\n]*\n", text[body:])
            end = body + (heading.end() if heading else 0)
            text = text[:body] + f"<!-- nav: head {s.anchor} -->\n<!-- /nav -->\n" + text[end:]
        if f"<!-- nav: foot {s.anchor} -->" not in text:
            nxt = re.compile(r"^---\n|^## |<a id=", re.M).search(text, text.find("<!-- /nav -->", at) + 14)
            cut = nxt.start() if nxt else len(text)
            text = text[:cut].rstrip("\n") + f"\n\n<!-- nav: foot {s.anchor} -->\n<!-- /nav -->\n\n" + text[cut:]
    return text


def add_page_block(text, anchor):
    """A model page with its header block: in place of an old "> [Tour]" line,
    or under its title."""
    if f"<!-- nav: page {anchor} -->" in text:
        return text
    block = f"<!-- nav: page {anchor} -->\n<!-- /nav -->\n"
    old = re.search(r"^> \[Tour\].*\n", text, re.M)
    if old:
        return text[:old.start()] + block + text[old.end():]
    title = re.match(r"# [^\n]*\n\n?", text)
    end = title.end() if title else 0
    return text[:end] + block + "\n" + text[end:]


def fill(text, wanted, where, errors):
    """TEXT with the body of every block named in WANTED replaced; WANTED
    entries with no block, and blocks WANTED does not name, are ERRORS."""
    found = set()

    def repl(m):
        what = m.group("what")
        if what not in wanted:
            errors.append(f"{where}: a nav block '{what}' that docs/tour/stops.list does not make")
            return m.group(0)
        found.add(what)
        return f"<!-- nav: {what} -->\n{wanted[what]}<!-- /nav -->"

    out = BLOCK.sub(repl, text)
    for what in wanted:
        if what not in found:
            errors.append(f"{where}: no '<!-- nav: {what} -->' … '<!-- /nav -->' block")
    return out


def main():
    ap = argparse.ArgumentParser(description="the tour's navigation, from docs/tour/stops.list")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 where a file differs")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    args = ap.parse_args()
    docs = os.path.join(args.root, "docs")
    stops = read_stops(os.path.join(docs, "tour", "stops.list"))
    last = stops[-1].number
    errors, changed = [], []

    def have_page(s):
        return os.path.isfile(os.path.join(docs, s.page))

    files = {}
    tour = os.path.join(docs, "TOUR.md")
    text = open(tour, encoding="utf-8").read()
    anchors = re.findall(r'<a id="(stop-[^"]+)"></a>', text)
    listed = [s.anchor for s in stops]
    for a in anchors:
        if a not in listed:
            errors.append(f"TOUR.md: the section <a id=\"{a}\"></a> is not in docs/tour/stops.list")
    for a in listed:
        if a not in anchors:
            errors.append(f"TOUR.md: no section <a id=\"{a}\"></a> for the stop docs/tour/stops.list names")
    if [a for a in anchors if a in listed] != [a for a in listed if a in anchors]:
        errors.append("TOUR.md: the sections are not in the order of docs/tour/stops.list")
    wanted = {"contents": contents(stops, last)}
    for i, s in enumerate(stops):
        wanted[f"head {s.anchor}"] = head(s, last)
        wanted[f"foot {s.anchor}"] = foot(stops, i, have_page)
    if not args.check:  # a stop just added gets its blocks; --check says they are missing
        text = add_tour_blocks(text, stops)
    files[tour] = fill(text, wanted, "TOUR.md", errors)

    for i, s in enumerate(stops):
        if not s.page or not have_page(s):
            continue  # a page still to write: make docs-check's to-do
        path = os.path.join(docs, s.page)
        text = open(path, encoding="utf-8").read()
        if not args.check:
            text = add_page_block(text, s.anchor)
        files[path] = fill(text, {f"page {s.anchor}": page_header(stops, i, last, have_page)},
                           os.path.join("docs", s.page), errors)

    for path, new in files.items():
        old = open(path, encoding="utf-8").read()
        if old == new:
            continue
        rel = os.path.relpath(path, args.root)
        changed.append(rel)
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       "a/" + rel, "b/" + rel))
        else:
            with open(path + ".new", "w", encoding="utf-8") as f:
                f.write(new)
            os.replace(path + ".new", path)
    for e in errors:
        print("nav: " + e, file=sys.stderr)
    if args.check and changed:
        print("nav: %s disagree%s with docs/tour/stops.list: run make nav"
              % (", ".join(changed), "s" if len(changed) == 1 else ""), file=sys.stderr)
    elif changed:
        print("nav: wrote " + ", ".join(changed))
    return 1 if errors or (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
