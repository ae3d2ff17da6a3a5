#!/usr/bin/env python3
"""bench/against.py COMMIT [--cells c100,c1000] [--models a,b] [--pairs N] [--duration S]
                   [--callgrind] [--extra MODEL=PATH]

CPU per message of today's models against another commit's build of the
same models: the question "did this change make any model cost more?"
answered with figures that a drifting, shared machine cannot fake.

COMMIT's tree is exported (git archive) to build/against-SHA/ and its
servers built there (kept: a second comparison builds nothing). Then, per
cell, each model runs in pairs: a fresh server of each build, side by
side over the same seconds, each with a client of its own (the servers
share the server CPUs of make bench, every CPU but the last; the clients
share the last). Whatever the machine does meanwhile (a neighbour's job,
a slower host) it does to both halves of the pair, which no interleaving
of runs one after the other can promise on a machine whose speed moves
by a third within a minute. Both servers start the same way (one argv,
one launcher), and which starts first alternates from pair to pair. Each
pair gives a ratio, now / old, of CPU per message over the server's life
(user + sys of its summary line, over the messages it echoed); round k
runs pair k of every model, so a burst spoils one pair of each, not every
pair of one. The figure is the median of a model's ratios, with their
quartiles.

--callgrind adds a cross-check that load hardly moves: the instructions a
server executes in user space per message, counted by valgrind
--tool=callgrind (threads and children too) under the cell's own closed
loop. Under valgrind the server is always the slower side, so every
wake-up finds about as many clients ready whatever the machine does, and
repeated counts agree to a per cent or two (uring's to about ten: how
many completions one io_uring_enter reaps still depends on timing). Each build runs twice, a short
and a long client run on fresh servers; the difference of their totals
over the difference of their messages leaves out what does not grow with
messages (start-up, connecting, exit). Instructions are not time (a
system call costs the same few instructions and microseconds of kernel):
they show where the user-space code path changed, not by how much CPU.
Models that run a process per connection or per worker (fork, prefork)
are left out: a valgrind per process.
--extra MODEL=PATH pairs today's MODEL with one more echolab binary (say,
a build of MODEL from before a change to it), as a row "MODEL/DIR", DIR
the directory that holds the binary's bin/.

Prints, per cell, each model's median CPU per message now and old, the
median ratio and its quartiles, marking a median outside 0.97-1.03, and
the median ratio of user time alone; writes every run to
bench/results/against.json."""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cells import CELLS, MAX_CLIENTS, MODES, not_applicable, pool_workers, read_models  # noqa: E402
from measure import Interference, client_argv, read_report  # noqa: E402
from procs import (PROCS, External, Interrupted, catch_stop_signals, choose_cpus,  # noqa: E402
                   ignore_stop_signals, model_args, tail)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 0.03
# One run of a pair: what make bench gives a server's first run.
WARMUP, DURATION = MODES["default"]["warmup"], MODES["default"]["duration"]
# --callgrind's client runs: the warm-up (a pool under valgrind is slow to
# answer its first clients), a short and a long measured time.
CG_WARMUP, CG_SHORT, CG_LONG = 1.0, 0.5, 2.5
CG_SKIP = {"fork", "prefork"}


def build(commit):
    """COMMIT's servers, built in build/against-SHA/, and today's."""
    sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", commit + "^{commit}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    tree = os.path.join(ROOT, "build", f"against-{sha[:12]}")
    if not os.path.isdir(os.path.join(tree, "bin")):
        os.makedirs(tree, exist_ok=True)
        archive = subprocess.run(["git", "-C", ROOT, "archive", sha], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        make(tree, "all")
    make(ROOT, "all")
    return tree


def make(tree, *targets):
    subprocess.run(["nice", "-n", "10", "make", "-C", tree, "-j2", *targets], check=True,
                   stdout=subprocess.DEVNULL)


def read_models_at(tree):
    with open(os.path.join(tree, "models/models.list")) as f:
        rows = [line.split("#", 1)[0].split() for line in f]
    return {r[0]: dict(name=r[0], serves=r[1] if len(r) > 1 else "concurrent") for r in rows if r}


def command(path, model, cell, args):
    """A server's command line for External: the arguments make bench gives
    the model, the same for both builds."""
    argv = [path, "--host", "{host}", "--port", "{port}", "--max-clients", str(MAX_CLIENTS)]
    if cell["size"] > 4096:
        argv += ["--max-line", str(cell["size"])]
    pool = pool_workers(model, cell)
    argv += ["--workers", str(pool)] if pool else list(args)
    return " ".join(shlex.quote(a) for a in argv)


def sides(cell, tree, names, extra, workers):
    """[(row, model, {"old": command, "new": command})] for the cell."""
    old, now = read_models_at(tree), {m["name"]: m for m in read_models()}
    rows = []
    for name in names:
        m = now[name]
        if name not in old or not_applicable(m, cell):
            continue
        args = model_args(m, workers)
        rows.append((name, m, dict(
            old=command(os.path.join(tree, f"bin/echo-{name}"), old[name], cell, args),
            new=command(os.path.join(ROOT, f"bin/echo-{name}"), m, cell, args))))
    for name, path in extra:
        m = now[name]
        args = model_args(m, workers)
        rows.append((f"{name}/{os.path.basename(os.path.dirname(os.path.dirname(path)))}", m,
                     dict(old=command(path, m, cell, args),
                          new=command(os.path.join(ROOT, f"bin/echo-{name}"), m, cell, args))))
    return rows


def together(cmds, cell, cpus, tmp, warmup=WARMUP, duration=DURATION):
    """{side: (figures, None) or (None, why)}: a fresh server per side of
    cmds ({side: command}), all at once on the server CPUs, each with its
    own client on the client CPU, started in the order of cmds."""
    busy = Interference(cpus)
    servers = {side: External(side, cmd, tmp, cpus[0]) for side, cmd in cmds.items()}
    clients = {}
    for side, srv in servers.items():
        if not srv.failure:
            with open(f"{tmp}/{side}.client", "wb") as o, open(f"{tmp}/{side}.cerr", "wb") as e:
                clients[side] = PROCS.start(client_argv(srv.port, cell, duration, warmup),
                                            cpus[1], o, e)
    for p in clients.values():
        p.wait()
        PROCS.reaped(p)
    got = {side: figures(srv, clients.get(side), cell, f"{tmp}/{side}")
           for side, srv in servers.items()}
    others = (busy.result() or {}).get("others_cores")   # once every process is reaped
    for run, _ in got.values():
        if run:
            run["others_cores"] = others
    return got


def figures(srv, client, cell, files):
    """A stopped server's CPU per message over its life, or why there is none."""
    r = {}
    if client is not None:
        with open(files + ".client", errors="replace") as f:
            read_report(r, f.read(), files + ".cerr")
        if client.returncode != 0:
            r.setdefault("failure", f"client exit status {client.returncode}: "
                         + (r.get("error_detail") or tail(files + ".cerr")))
    s = srv.stop()
    why = srv.failure or r.get("failure")
    if not why and (not s or not s.get("bytes")):
        why = "no summary line with a byte count"
    if why:
        return None, why
    echoed = s["bytes"] / cell["size"]
    if echoed < r["messages"]:
        return None, f"echoed {echoed:.0f} messages, fewer than the {r['messages']} verified"
    return dict(cpu_us_per_msg=(s["user_s"] + s["sys_s"]) / echoed * 1e6,
                user_us_per_msg=s["user_s"] / echoed * 1e6, echoed=echoed,
                msgs_per_sec=r["messages_per_sec"]), None


def paired(cell, rows, pairs, cpus, tmp, duration):
    """{row: [(old run, new run)]}: pair k of every row in round k, the
    old and new servers side by side, the first started swapped from one
    round to the next."""
    out = {row: [] for row, _, _ in rows}
    for k in range(pairs):
        for row, _, cmds in rows:
            order = ("old", "new") if k % 2 == 0 else ("new", "old")
            got = together({side: cmds[side] for side in order}, cell, cpus, tmp,
                           duration=duration)
            why = "; ".join(f"{side}: {w}" for side, (_, w) in got.items() if w)
            if why:
                log(f"{cell['id']} pair {k + 1}/{pairs} {row}: {why}")
                continue
            old, new = got["old"][0], got["new"][0]
            out[row].append((old, new))
            log(f"{cell['id']} pair {k + 1}/{pairs} {row}: now/old "
                f"{new['cpu_us_per_msg'] / old['cpu_us_per_msg']:.3f}, others' CPU "
                f"{old['others_cores']} cores")
    return out


def callgrind(cell, rows, cpus, tmp):
    """{row: {side: Ir per message, or why not}}, or {row: why not}."""
    out = {}
    for row, model, cmds in rows:
        if model["name"] in CG_SKIP:
            out[row] = "a valgrind per process"
            continue
        out[row] = {}
        for side in ("old", "new"):
            counted = [counted_run(cmds[side], side, cell, cpus, tmp, d)
                       for d in (CG_SHORT, CG_LONG)]
            why = next((c for c in counted if isinstance(c, str)), None)
            (ir1, m1), (ir2, m2) = counted if why is None else ((0, 0), (0, 0))
            out[row][side] = why or (ir2 - ir1) / (m2 - m1)
            log(f"{cell['id']} callgrind {row} {side}: {out[row][side]}")
    return out


def counted_run(cmd, side, cell, cpus, tmp, duration):
    """(instructions, messages echoed) of a fresh server under callgrind, or why not."""
    files = os.path.join(tmp, f"cg-{side}")
    os.makedirs(files, exist_ok=True)
    cmd = (f"valgrind --tool=callgrind --trace-children=yes --max-threads={cell['conns'] + 100} "
           f"--callgrind-out-file={files}/cg.%p " + cmd)
    run, why = together({side: cmd}, cell, cpus, tmp, CG_WARMUP, duration)[side]
    ir = instructions(files)
    return why or (ir, run["echoed"])


def instructions(files):
    """The instructions of every callgrind output file in `files` (then removed)."""
    total = 0
    for name in os.listdir(files):
        with open(os.path.join(files, name)) as f:
            total += sum(int(line.split()[1]) for line in f if line.startswith("totals:"))
        os.unlink(os.path.join(files, name))
    return total


def quartiles(xs):
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def report(cell, runs, cg):
    print(f"\n{cell['label']} ({cell['id']}): server CPU µs per message (user+sys), "
          "medians of the pairs")
    print(f"{'model':22} {'pairs':>5} {'now':>7} {'old':>7} {'now/old':>8} {'quartiles':>13} "
          f"{'user':>6}" + ("  callgrind Ir/msg now old ratio" if cg else ""))
    for row, pairs in runs.items():
        if not pairs:
            print(f"{row:22} no pair completed")
            continue
        ratios = sorted(n["cpu_us_per_msg"] / o["cpu_us_per_msg"] for o, n in pairs)
        med, (q1, q3) = statistics.median(ratios), quartiles(ratios)
        now = statistics.median(n["cpu_us_per_msg"] for _, n in pairs)
        old = statistics.median(o["cpu_us_per_msg"] for o, _ in pairs)
        # the user-space share alone, where a copy or an allocation costs
        # (user and sys are split by sampling: read it over many pairs)
        users = [n["user_us_per_msg"] / o["user_us_per_msg"] for o, n in pairs
                 if o["user_us_per_msg"] > 0]
        user = statistics.median(users) if users else float("nan")
        flag = "" if abs(med - 1) <= TOLERANCE else "  outside ±3 %"
        line = (f"{row:22} {len(pairs):5} {now:7.2f} {old:7.2f} {med:8.3f} {q1:6.3f}-{q3:6.3f} "
                f"{user:6.3f}")
        print(line + (callgrind_column(cg.get(row)) if cg else "") + flag)


def callgrind_column(c):
    if isinstance(c, str) or c is None:
        return f"  {c or ''}"
    if all(isinstance(v, float) for v in c.values()):
        return f"  {c['new']:8.0f} {c['old']:6.0f} {c['new'] / c['old']:6.3f}"
    return "  " + "; ".join(f"{k}: {v}" for k, v in c.items() if isinstance(v, str))


def log(text):
    print(text, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("commit")
    ap.add_argument("--cells", default="c100,c1000")
    ap.add_argument("--models", help="comma-separated (default: every model both builds have)")
    ap.add_argument("--pairs", type=int, default=10, help="paired runs per model and cell (10)")
    ap.add_argument("--duration", type=float, default=DURATION,
                    help=f"measured seconds of each run ({DURATION:g}, as make bench); longer "
                         "runs spread a model's start-up (a process or thread per client) "
                         "over more messages")
    ap.add_argument("--callgrind", action="store_true",
                    help="also instructions per message under callgrind, once per build")
    ap.add_argument("--extra", action="append", default=[], metavar="MODEL=PATH")
    args = ap.parse_args()
    by_id = {c["id"]: c for c in CELLS}
    bad = [c for c in args.cells.split(",") if c not in by_id]
    if bad:
        ap.error(f"unknown cell(s) {','.join(bad)}: choose from {','.join(by_id)}")
    if args.pairs < 1 or args.duration <= 0:
        ap.error("--pairs must be at least 1 and --duration above 0")
    names = [m["name"] for m in read_models()]
    wanted = args.models.split(",") if args.models else names
    unknown = [n for n in wanted if n not in names]
    if unknown:
        ap.error(f"unknown model(s) {','.join(unknown)}: models are {','.join(names)}")
    extra = []
    for word in args.extra:
        name, _, path = word.partition("=")
        if name not in names or not os.access(path, os.X_OK):
            ap.error(f"--extra {word}: not MODEL=PATH of a model and an executable server")
        extra.append((name, os.path.abspath(path)))
    tree = build(args.commit)
    cpus = choose_cpus(None)[0]
    workers = len(cpus[0]) if cpus[0] else len(os.sched_getaffinity(0))
    catch_stop_signals()
    tmp = tempfile.mkdtemp(prefix="echolab-against.")
    record = dict(commit=args.commit, tree=os.path.relpath(tree, ROOT), pairs=args.pairs,
                  warmup_s=WARMUP, duration_s=args.duration, cells={})
    try:
        for cid in args.cells.split(","):
            cell = by_id[cid]
            rows = sides(cell, tree, wanted, extra, workers)
            runs = paired(cell, rows, args.pairs, cpus, tmp, args.duration)
            cg = callgrind(cell, rows, cpus, tmp) if args.callgrind else {}
            report(cell, runs, cg)
            record["cells"][cid] = dict(callgrind=cg, pairs={
                row: [dict(old=o, new=n) for o, n in p] for row, p in runs.items()})
    except Interrupted as e:
        log(f"against: interrupted ({e})")
        return 130
    finally:
        ignore_stop_signals()
        PROCS.kill_all()
        subprocess.run(["rm", "-rf", tmp])
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench/results/against.json"), "w") as f:
        json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
