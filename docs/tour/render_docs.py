#!/usr/bin/env python3
"""render_docs.py: every measured figure of the docs, rendered from the record
(docs/results/record.json) between generated markers: `make docs` and the
figures half of `make docs-check`.

Markers (docs/tour/figures.py says what each NAME renders):
  <!-- figures:NAME ARG... -->      a block: the lines up to the closing
  ...                               marker, each marker on a line of its own,
  <!-- /figures -->                 are replaced whole
  <!-- figure:NAME ARG... -->TEXT<!-- /figure -->
                                    a span inside a line: TEXT is replaced
Markers inside fenced code blocks (```) are left alone: they are examples.

usage: render_docs.py [--check] [--capture [MODEL...]] [--short] [--files FILE...]
  (none)       rewrite the files of DOCS whose figures differ from the record
  --check      change nothing; list every block or span that differs from what
               the record renders, and exit 1 if there is one
  --capture    first run `make see` (docs/tour/see.sh) for the models named
               (none named: every model of models/models.list) and store each
               output as docs/results/see/MODEL.txt, which the `see` blocks show;
               --short: the demonstrations' short form (SHORT=1)
  --files      these files instead of the docs (README.md, docs/TOUR.md,
               docs/MODELS.md, docs/BENCHMARKS.md, docs/models/*.md)
Without --capture nothing is run: the transcripts are the stored captures.
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import figures  # noqa: E402  (beside this file)

RECORD = os.path.join(ROOT, "docs", "results", "record.json")
DOCS = ["README.md", "docs/TOUR.md", "docs/MODELS.md", "docs/BENCHMARKS.md", "docs/models/*.md"]
BLOCK_OPEN = re.compile(r"^<!-- figures:([^\s>]+)((?: [^\s>]+)*) -->$")
BLOCK_CLOSE = "<!-- /figures -->"
SPAN = re.compile(r"<!-- figure:([^\s>]+)((?: [^\s>]+)*) -->(.*?)<!-- /figure -->")


class Trouble(Exception):
    """A marker the renderer cannot render: unknown, unclosed, or naming a
    figure the record does not have."""


def doc_files():
    import glob
    out = []
    for pattern in DOCS:
        out += sorted(glob.glob(os.path.join(ROOT, pattern)))
    return out


def call(table, name, args, rec, where):
    if name not in table:
        raise Trouble("%s: unknown figure %r (docs/tour/figures.py knows: %s)"
                      % (where, name, ", ".join(sorted(table))))
    try:
        return table[name](rec, *args)
    except figures.NotMeasured as e:
        # A model newer than the record: a sentence now, figures after the
        # next make record.
        text = "not in the record of %s yet (make record measures %s)" % (
            rec["meta"]["date"][:10], e)
        return ["*%s%s.*" % (text[0].upper(), text[1:])] if table is figures.BLOCKS else text
    except figures.Missing as e:
        raise Trouble("%s: %s %s: %s" % (where, name, " ".join(args), e))
    except TypeError as e:
        raise Trouble("%s: %s %s: wrong arguments (%s)" % (where, name, " ".join(args), e))


def render(text, rec, path):
    """(the text with every marker rendered, [(line, marker) that changed])."""
    lines, out, stale = text.split("\n"), [], []
    rel = os.path.relpath(path, ROOT)
    i, fenced = 0, False
    while i < len(lines):
        line, where = lines[i], "%s:%d" % (rel, i + 1)
        if line.startswith("```"):  # a marker shown in a code block is an example
            fenced = not fenced
        if fenced or line.startswith("```"):
            out.append(line)
            i += 1
            continue
        m = BLOCK_OPEN.match(line)
        if m:
            try:
                end = lines.index(BLOCK_CLOSE, i + 1)
            except ValueError:
                raise Trouble("%s: %s is never closed (%s)" % (where, line, BLOCK_CLOSE))
            fresh = call(figures.BLOCKS, m.group(1), m.group(2).split(), rec, where)
            if lines[i + 1:end] != fresh:
                stale.append((i + 1, line))
            out += [line] + fresh + [BLOCK_CLOSE]
            i = end + 1
            continue

        def span(sm):
            fresh = call(figures.SPANS, sm.group(1), sm.group(2).split(), rec, where)
            if sm.group(3) != fresh:
                stale.append((i + 1, sm.group(0)))
            return "<!-- figure:%s%s -->%s<!-- /figure -->" % (sm.group(1), sm.group(2), fresh)
        out.append(SPAN.sub(span, line))
        i += 1
    return "\n".join(out), stale


def capture(models, short):
    """make see for each model, its output stored beside the record."""
    os.makedirs(figures.CAPTURES, exist_ok=True)
    env = dict(os.environ, SHORT="1" if short else "")
    for model in models:
        print("docs: capturing make see MODEL=%s%s ..." % (model, " SHORT=1" if short else ""),
              file=sys.stderr)
        run = subprocess.run([os.path.join(ROOT, "docs", "tour", "see.sh"), model], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if run.returncode != 0:
            print(run.stdout, file=sys.stderr)
            raise Trouble("make see MODEL=%s failed (exit %d): nothing stored"
                          % (model, run.returncode))
        text = "$ make see MODEL=%s%s\n%s" % (model, " SHORT=1" if short else "", run.stdout)
        with open(os.path.join(figures.CAPTURES, model + ".txt"), "w") as f:
            f.write("\n".join(line.rstrip() for line in text.rstrip("\n").split("\n")) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--capture", nargs="*", metavar="MODEL")
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--record", default=RECORD)
    ap.add_argument("--files", nargs="+", metavar="FILE")
    a = ap.parse_args()
    try:
        if a.capture is not None:
            sys.path.insert(0, os.path.join(ROOT, "bench"))
            from cells import read_models
            capture(a.capture or [m["name"] for m in read_models()], a.short)
        with open(a.record) as f:
            rec = json.load(f)
        stale_files = 0
        for path in a.files or doc_files():
            with open(path) as f:
                text = f.read()
            fresh, stale = render(text, rec, path)
            if not stale:
                continue
            stale_files += 1
            rel = os.path.relpath(path, ROOT)
            if a.check:
                for line, marker in stale:
                    print("docs-check: %s:%d: %s differs from the record" % (rel, line, marker))
            else:
                with open(path, "w") as f:
                    f.write(fresh)
                print("docs: %s: %d figure(s) rendered" % (rel, len(stale)))
    except (Trouble, OSError, json.JSONDecodeError) as e:
        print("docs: %s" % e, file=sys.stderr)
        return 1
    if a.check and stale_files:
        print("docs-check: a figure was edited by hand, or the record changed: "
              "make docs renders them from docs/results/record.json")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
