#!/usr/bin/env python3
"""core_walk.py: one message's walk through the connection core, traced live.

    docs/tour/core_walk.py            print the walk (markdown)
    docs/tour/core_walk.py --write    put it, and conn.h's phase diagram, into
                                      docs/TOUR.md (make nav)
    docs/tour/core_walk.py --check    exit 1 with a diff where TOUR.md differs

It runs bin/echo-select under gdb, which stops at every system call the
server makes on a socket and records, when the call returns: the call, its
result, the server's own functions on the stack at that moment (innermost
first: from the backtrace, so renamed functions show up renamed), and the
phase of the connection (the `phase` field of the `struct conn *` argument of
the innermost function that has one). A client meanwhile sends one message
in two pieces, "hel" and "lo\\nbye", half-closes, and reads to the end; it
waits for each recv to be traced before the next piece, so the walk is the
same every run.

The diagram is copied from common/conn.h, from its "Phases" paragraph to
the line with "FAILED", between "<!-- core: diagram -->" markers; the walk
goes between "<!-- core: walk -->" markers.
"""
import argparse
import difflib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CALLS = ["accept4", "recvfrom", "sendmsg", "shutdown", "close", "pselect6"]
ERRNO = {11: "EAGAIN"}

# Runs inside gdb: one line per returning system call, in TRACE.
GDB_SCRIPT = r'''
import gdb, os
gdb.execute("set pagination off")
gdb.execute("catch syscall %(calls)s")
out = open(os.environ["CORE_WALK_TRACE"], "w")
entering = {}
def phase_of(frame):
    try:
        for sym in frame.block():
            t = sym.type
            if sym.is_argument and t.code == gdb.TYPE_CODE_PTR and t.target().strip_typedefs().tag == "conn":
                return str(sym.value(frame).dereference()["phase"])
    except (gdb.error, RuntimeError, ValueError):
        return None
    return None
def on_stop(event):
    num = int(gdb.parse_and_eval("$orig_rax"))
    # every catch stops twice: entering the call, then returning from it
    if not entering.get(num, False):
        entering[num] = True
        return
    entering[num] = False
    name = gdb.newest_frame().name() or "?"
    chain, phase, f = [], None, gdb.newest_frame()
    while f is not None:
        sal = f.find_sal()
        if f.name() and sal.symtab and sal.symtab.filename.startswith(("common/", "models/")):
            chain.append(f.name())
            phase = phase or phase_of(f)
        f = f.older()
    out.write("%%d\t%%d\t%%s\t%%s\n" %% (num, int(gdb.parse_and_eval("(long)$rax")), " <- ".join(chain), phase or "-"))
    out.flush()
gdb.events.stop.connect(on_stop)
gdb.execute("run")
while True:
    try:
        gdb.execute("continue")
    except gdb.error:
        break
''' % {"calls": " ".join(CALLS)}


def wait_for(pred, what, limit=30.0):
    end = time.monotonic() + limit
    while not pred():
        if time.monotonic() > end:
            sys.exit(f"core_walk: gave up after {limit:.0f} s waiting for {what}")
        time.sleep(0.02)


def trace():
    """The server's returning system calls, as (name, result, chain, phase)."""
    # the numbers of this machine's calls, from gdb (for the binary's architecture)
    ask = [a for name in CALLS for a in ("-ex", f"catch syscall {name}")]
    out = subprocess.run(["gdb", "-q", "-batch", "-nx", *ask, os.path.join(ROOT, "bin", "echo-select")],
                         capture_output=True, text=True).stdout
    syscall_names = {int(num): name for name, num in re.findall(r"syscall '(\w+)' \[(\d+)\]", out)}
    if sorted(syscall_names.values()) != sorted(CALLS):
        sys.exit(f"core_walk: gdb did not give the numbers of {CALLS}: {out!r}")
    with tempfile.TemporaryDirectory() as tmp:
        script, tr, out = (os.path.join(tmp, f) for f in ("walk.py", "trace", "out"))
        open(script, "w").write(GDB_SCRIPT)
        open(tr, "w").close()
        env = dict(os.environ, CORE_WALK_TRACE=tr)
        with open(out, "w") as o:
            gdb = subprocess.Popen(["gdb", "-q", "-batch", "-nx", "-x", script, "--args",
                                    os.path.join(ROOT, "bin", "echo-select"), "--host", "127.0.0.1", "--port", "0"],
                                   stdout=o, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)
        try:
            wait_for(lambda: "listening on" in open(out).read(), "the server's 'listening on' line")
            port = int(re.search(r"listening on .*:(\d+)", open(out).read()).group(1))
            lines = lambda: open(tr).read().splitlines()
            recvs = lambda: sum(1 for ln in lines() if syscall_names.get(int(ln.split("\t")[0])) == "recvfrom")
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"hel")
            wait_for(lambda: recvs() >= 1, "the server's first recv")
            s.sendall(b"lo\nbye")
            got = b""
            while got != b"hello\n":
                got += s.recv(100)
            s.shutdown(socket.SHUT_WR)
            rest = b""
            while True:
                chunk = s.recv(100)
                if not chunk:
                    break
                rest += chunk
            s.close()
            if rest != b"bye":
                sys.exit(f"core_walk: after EOF the server sent {rest!r}, expected b'bye'")
            server = [int(p) for p in subprocess.run(["pgrep", "-P", str(gdb.pid)], capture_output=True,
                                                     text=True).stdout.split()]
            wait_for(lambda: any(syscall_names.get(int(ln.split("\t")[0])) == "close" and ln.split("\t")[2]
                                 for ln in lines()), "the server's close")
        finally:
            for pid in server if "server" in locals() else []:
                os.kill(pid, 15)
            try:
                gdb.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(gdb.pid, 9)
                gdb.wait()
        rows = []
        for ln in open(tr).read().splitlines():
            num, res, chain, phase = ln.split("\t")
            rows.append((syscall_names.get(int(num), num), int(res), chain, phase))
    return rows


def walk_markdown(rows):
    """The calls from the accept to the client's close, select's timeouts left out."""
    start = next(i for i, r in enumerate(rows) if r[0] == "accept4")
    end = next(i for i, r in enumerate(rows) if r[0] == "close" and r[2] and i > start)
    out = ["| # | system call | returned | the server's functions, innermost first | phase |",
           "|--:|---|---|---|---|"]
    n = 0
    for name, res, chain, phase in rows[start:end + 1]:
        if not chain or (name == "pselect6" and res == 0):
            continue
        if res < 0:
            shown = "-1 " + ERRNO.get(-res, f"errno {-res}")
        elif name == "accept4":
            shown = "a new descriptor"
        elif name == "pselect6":
            shown = f"{res} ready"
        else:
            shown = str(res)
        n += 1
        out.append(f"| {n} | `{name}` | {shown} | {' ← '.join(f'`{c}`' for c in chain.split(' <- '))} "
                   f"| {phase if phase != '-' else ''} |")
    return "\n".join(out) + "\n"


def diagram():
    text = open(os.path.join(ROOT, "common", "conn.h"), encoding="utf-8").read()
    lines = [re.sub(r"^ \*( |$)", "", ln) for ln in text.splitlines()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("Phases"))
    end = next(i for i, ln in enumerate(lines) if i > start and "FAILED" in ln)
    return "```\n" + "\n".join(lines[start:end + 1]) + "\n```\n"


def put(text, what, body):
    pat = re.compile(r"(<!-- core: %s -->\n).*?(<!-- /core -->)" % what, re.S)
    if not pat.search(text):
        sys.exit(f"core_walk: docs/TOUR.md has no '<!-- core: {what} -->' … '<!-- /core -->' block")
    return pat.sub(lambda m: m.group(1) + body + m.group(2), text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    walk = walk_markdown(trace())
    if not (args.write or args.check):
        sys.stdout.write(walk)
        return 0
    path = os.path.join(ROOT, "docs", "TOUR.md")
    old = open(path, encoding="utf-8").read()
    new = put(put(old, "diagram", diagram()), "walk", walk)
    if args.check:
        if old == new:
            return 0
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                   "a/docs/TOUR.md", "b/docs/TOUR.md"))
        print("core_walk: docs/TOUR.md's walk differs from what the core does now: run make nav",
              file=sys.stderr)
        return 1
    if old != new:
        with open(path + ".new", "w", encoding="utf-8") as f:
            f.write(new)
        os.replace(path + ".new", path)
        print("core_walk: wrote docs/TOUR.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
