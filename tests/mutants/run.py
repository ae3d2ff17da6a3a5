#!/usr/bin/env python3
"""make mutants: does the suite catch the bugs a real change would bring?

Each tests/mutants/NAME.mutant is one small, realistic bug: a snippet of one
source file and what replaces it. For each, a scratch copy of the project is
made, the snippet replaced, the copy built, and the narrowest suites that
should catch the bug are run against it. A mutant is caught when they fail.
Your tree is never touched.

    tests/mutants/run.py [-j JOBS] [-v] [--list] [NAME...]

    NAME      only these mutants (default: all)
    -j JOBS   mutants at once (default $ECHOLAB_MUTANT_JOBS or 2)
    -v        show how each was caught (the failing cases), not only survivors
    --list    the mutants, what each breaks and where, and stop

A .mutant file is a header of "Key: value" lines, then two sections:

    Mutant: the bug, one line (what a reviewer would call it)
    File: common/conn.c               the file it changes
    Models: epoll poll                ECHOLAB_MODELS for the run
    Suites: tests/faults.bats ...     the .bats files to run
    Filter: REGEX                     optional: only the cases matching it
    Sanitize: address,undefined       optional: built with SANITIZE=...
    --- find
    the exact text to replace; it must occur exactly once in File
    --- replace
    what replaces it (up to the next "--- find", or the end of the file)

More than one pair may follow, all in File (a bug that moves a line).
A snippet that is not found exactly once is an error, not a pass: the code
moved, and the mutant must be refreshed to the code as it is now. So is a
mutant that does not build. The exit status is 0 only when every mutant was
caught; the last line gives the mutation score.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KEYS = ("Mutant", "File", "Models", "Suites", "Filter", "Sanitize")
TOOLS = ["build/tests/fault.so", "build/tests/without-io-uring"]


class BadMutant(Exception):
    pass


def parse(path):
    name = os.path.basename(path)[: -len(".mutant")]
    text = open(path, encoding="utf-8").read()
    parts = re.split(r"^--- (find|replace)\n", text, flags=re.M)
    head, sections = parts[0], parts[1:]
    kinds = sections[0::2]
    if not kinds or kinds != ["find", "replace"] * (len(kinds) // 2):
        raise BadMutant("%s: wants '--- find' and '--- replace' sections, in pairs" % name)
    fields = {}
    for line in head.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or key not in KEYS:
            raise BadMutant("%s: header line %r is not one of %s" % (name, line, ", ".join(KEYS)))
        fields[key] = value.strip()
    for key in ("Mutant", "File", "Models", "Suites"):
        if not fields.get(key):
            raise BadMutant("%s: no %s: line" % (name, key))
    for suite in fields["Suites"].split():
        if not os.path.isfile(os.path.join(ROOT, suite)):
            raise BadMutant("%s: no suite %s" % (name, suite))
    source = os.path.join(ROOT, fields["File"])
    if not os.path.isfile(source):
        raise BadMutant("%s: no file %s" % (name, fields["File"]))
    code = open(source, encoding="utf-8").read()
    texts = sections[1::2]
    pairs = list(zip(texts[0::2], texts[1::2]))
    for find, replace in pairs:
        found = code.count(find)
        if found != 1:
            raise BadMutant("%s: the snippet %r occurs %d times in %s, not once: refresh it to the "
                            "code as it is" % (name, find.splitlines()[0] if find else "", found,
                                               fields["File"]))
        if find == replace:
            raise BadMutant("%s: a replacement is its snippet itself" % name)
    fields.update(name=name, pairs=pairs)
    return fields


def copy_tree(src, dst, with_build=True):
    """The project without .git and bench results; build/ and bin/ too unless
    a fresh build is wanted. Modification times kept, so make rebuilds only
    what the mutant changes."""
    excludes = ["--exclude=./.git", "--exclude=./bench/results"]
    if not with_build:
        excludes += ["--exclude=./build", "--exclude=./bin"]
    os.makedirs(dst)
    tar = subprocess.Popen(["tar", "-C", src] + excludes + ["-cf", "-", "."], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-C", dst, "-xf", "-"], stdin=tar.stdout, check=True)
    if tar.wait() != 0:
        raise RuntimeError("tar of %s failed" % src)


def run_one(m, base, scratch):
    start = time.monotonic()
    tree = os.path.join(scratch, m["name"])
    log = []
    try:
        sanitize = m.get("Sanitize")
        copy_tree(base, tree, with_build=not sanitize)
        path = os.path.join(tree, m["File"])
        text = open(path, encoding="utf-8").read()
        for find, replace in m["pairs"]:
            text = text.replace(find, replace, 1)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        models = m["Models"].split()
        if sanitize:
            # only what the run needs: a sanitizer build of everything is minutes
            targets = ["bin/echo-%s" % x for x in models] + ["bin/echo-client"] + TOOLS
            make = ["make", "-s", "-j1", "SANITIZE=" + sanitize] + targets
        else:
            make = ["make", "-s", "-j1", "all"] + TOOLS
        b = subprocess.run(make, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if b.returncode != 0:
            return ("error", m, time.monotonic() - start, "does not build:\n" + b.stdout)
        env = dict(os.environ, ECHOLAB_MODELS=" ".join(models))
        # A caught mutant usually fails by a deadline ("this must happen
        # soon"): 10 s instead of 30 still leaves a wait of a second or two
        # ten times its length, and makes the run minutes shorter.
        env.setdefault("ECHOLAB_WAIT", "10")
        env.pop("ECHOLAB_MODEL", None)
        if sanitize:
            env["ECHOLAB_ALLOW_MISSING"] = "1"
        cmd = ["tests/run.sh", "-j1"] + (["-f", m["Filter"]] if m.get("Filter") else []) + m["Suites"].split()
        t = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        log.append(t.stdout)
        verdict = "caught" if t.returncode != 0 else "survived"
        if t.returncode == 2:
            verdict = "error"
        return (verdict, m, time.monotonic() - start, t.stdout)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description="make mutants (see the top of this file)")
    ap.add_argument("-j", type=int, default=int(os.environ.get("ECHOLAB_MUTANT_JOBS", "2")))
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    if args.j < 1:
        ap.error("-j wants a positive number")

    files = sorted(f for f in os.listdir(HERE) if f.endswith(".mutant"))
    if args.names:
        missing = [n for n in args.names if n + ".mutant" not in files]
        if missing:
            ap.error("no mutant %s (try --list)" % ", ".join(missing))
        files = [n + ".mutant" for n in args.names]
    mutants, errors = [], []
    for f in files:
        try:
            mutants.append(parse(os.path.join(HERE, f)))
        except BadMutant as e:
            errors.append(str(e))
    if args.list:
        for m in mutants:
            print("%-32s %-24s %s" % (m["name"], m["File"], m["Mutant"]))
    for e in errors:
        print("mutants: ERROR %s" % e, file=sys.stderr)
    if args.list or errors:
        return 1 if errors else 0

    start = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="echolab-mutants.")
    try:
        base = os.path.join(scratch, "base")
        print("mutants: %d, %d at a time; building the unmutated copy" % (len(mutants), args.j), flush=True)
        copy_tree(ROOT, base)
        b = subprocess.run(["make", "-s", "-j%d" % args.j, "all"] + TOOLS, cwd=base,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if b.returncode != 0:
            print(b.stdout)
            print("mutants: the project itself does not build", file=sys.stderr)
            return 1
        counts = {"caught": 0, "survived": 0, "error": 0}
        with ThreadPoolExecutor(max_workers=args.j) as pool:
            futures = [pool.submit(run_one, m, base, scratch) for m in mutants]
            for fut in futures:
                verdict, m, secs, out = fut.result()
                counts[verdict] += 1
                label = {"caught": "caught  ", "survived": "SURVIVED", "error": "ERROR   "}[verdict]
                print("%s %-32s %4.0fs  %s" % (label, m["name"], secs, m["Mutant"]), flush=True)
                if verdict != "caught" or args.v:
                    print("\n".join("    " + line for line in out.splitlines()[-40:]), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    total = len(mutants)
    print("mutation score: %d/%d caught (%.0f %%), %d survived, %d errors, in %.0f s"
          % (counts["caught"], total, 100.0 * counts["caught"] / max(total, 1), counts["survived"],
             counts["error"], time.monotonic() - start))
    return 0 if counts["caught"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
