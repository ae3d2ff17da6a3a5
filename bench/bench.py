#!/usr/bin/env python3
"""bench.py: the measurement driver behind bench/run.sh (make bench).

Runs every model of models/models.list, plus the baseline ceiling
(build/bench/echo-baseline), through `bin/echo-client --load` over a fixed
matrix of cells, then writes bench/results/{results.md,results.csv,
results.json} and the plots (bench/plot.gp), and prints the tables on stdout.

For each cell every server of the cell is started fresh (127.0.0.1, port 0,
the port read from its "listening on" line) and the runs go round robin over
them: run 1 of every server, then run 2 of every server, ... so the baseline
and the models it is compared with share the same moments of a busy machine.
Servers run on --server-cpus (default: every CPU we may use but the last,
which the client gets to itself); a concurrent model that takes --workers
(reuseport) gets one worker per server CPU. A model that says it is
unavailable here (echo-uring without io_uring) is n/a, not a failure.
Each run is one client invocation with its own warm-up. When the runs are
done, every server gets SIGTERM and its summary line gives CPU time and peak
memory over its whole life.

Figures:
  msgs/s          median of the runs' messages_per_sec (client count, measured
                  window only); spread = (max - min) / median.
  p99 latency     median of the runs' p99.
  CPU us/message  (user + sys) / messages echoed over the server's whole life
                  (all warm-ups and runs), both from the server's summary line;
                  messages echoed = bytes echoed / message size, because the
                  baseline counts bytes only (for the models this equals their
                  own message count to within the messages in flight).
  peak memory     maxrss_kb of the summary line: the server's own peak
                  (VmHWM), or its largest child's.
  ratio           model / baseline in the same cell of the same run.
  others' CPU     CPU that other processes used on the CPUs we use during the
                  cell, in cores: a busy shared machine shows here.
Then 10,000 connections are held open at a low open-loop rate against the
event-driven servers and the peak memory of each is read the same way.

The idle cells (idle0, idle1k, idle10k; QUICK: the first two) put 10
connections in open loop at 2,000 messages/s beside N idle ones, and
measure the server's CPU per message over a window inside the client's
(idle.py). --scale max (make bench SCALE=max) runs only the scale cell:
as many idle connections as the descriptor limit allows, against
epoll, uring, libev, libevent, reuseport and coro, one run each.

A figure whose runs spread by more than +-10 %, or whose cell ran while
other processes used more than 0.2 cores of our CPUs, is marked noisy (~)
in the tables and plots and "noisy" in results.json (noise.py).

The modules, in the order a run uses them:
  cells.py     what is measured: the cells, run lengths, targets, the models
               of models/models.list and which cell each can take;
  procs.py     processes and pinning: every process started and reaped, the
               servers (start, "listening on", stop, summary line), CPU sets;
  measure.py   the runs and the figures drawn from them (the entries that are
               results.json), the others' CPU, the 10,000-connection checks;
  idle.py      the idle-connection cells (the C10K curve) and the scale mode:
               CPU per message over a window, memory per idle connection;
  neighbours.py  the noisy-neighbours cell;
  noise.py     which figures are noisy (spread, others' CPU), and whether the
               machine is busy before we start;
  render.py    results.md (printed too), results.csv, results.json, plots;
  idle_render.py  the idle cells' tables and plot (idle.gp);
  tlpi.py      TLPI Table 63-9, beside poll's growth;
  progress.py  the steps and ETA on stderr.
/proc is read through tests/probelib/procfs.py, shared with the tests.

Only the standard library; nothing but 127.0.0.1.
"""
import argparse
import datetime
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from cells import (BASELINE, CELLS, MAX_CLIENTS, MAX_LINE_BIG, MEM_SERVERS_DEFAULT,
                   MEM_SERVERS_QUICK, MODES, ROOT, SCALE_CELL, SCALE_MODELS, expected_memory_s,
                   expected_run_s, not_applicable, read_models)
from measure import machine, run_matrix, run_memory
from procs import (PROCS, Interrupted, catch_stop_signals, choose_cpus, ignore_stop_signals,
                   model_args)
import idle
from noise import busy_warning
from progress import Progress, fmt_duration, log
from render import render_only, write_outputs


def parse_args():
    ap = argparse.ArgumentParser(description="echolab benchmark driver (see bench/run.sh)")
    ap.add_argument("--quick", action="store_true", help="1 run per cell, short runs (~1 min)")
    ap.add_argument("--models", help="comma-separated subset of models (baseline always runs)")
    ap.add_argument("--cells", help="comma-separated subset of cell ids: "
                    + ",".join(c["id"] for c in CELLS + [SCALE_CELL]))
    ap.add_argument("--runs", type=int, help="runs per cell")
    ap.add_argument("--duration", type=float, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run")
    ap.add_argument("--scale", choices=["max"],
                    help="the scale mode only: as many idle connections as one process may open "
                         "here beside 10 active ones, against " + ", ".join(SCALE_MODELS) +
                         " (or --models), with the memory each costs")
    ap.add_argument("--no-memory", action="store_true", help="skip the 10,000-connection check")
    ap.add_argument("--server-cpus", metavar="LIST",
                    help="CPUs the servers run on, e.g. 0-6 or 0,2,4 (default: every CPU we may "
                         "use but the client's, which is the last of them); models that take "
                         "--workers get one worker per server CPU")
    ap.add_argument("--workers", type=int, metavar="N",
                    help="workers for the concurrent models that take --workers (default: one "
                         "per server CPU)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results"), help="output directory")
    ap.add_argument("--external", metavar="SPEC",
                    help="other servers, as shell words NAME='COMMAND ... {port}' (make bench "
                         "SERVER=...): each a row of every table, marked external")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: rewrite tables, CSV and plots from OUT/results.json")
    return ap.parse_args()


def run_mode(args):
    """MODES' default or quick, with --runs, --duration and --warmup applied."""
    mode = dict(MODES["quick" if args.quick else "default"], name="quick" if args.quick else "default")
    for key in ("runs", "duration", "warmup"):
        if getattr(args, key) is not None:
            mode[key] = getattr(args, key)
    if args.warmup is not None:
        mode["rewarmup"] = args.warmup
    if args.scale and args.runs is None:
        mode["runs"] = 1   # tens of thousands of connections opened per run
    return mode


def choose(args, names):
    """(model names, cells) after --models, --cells, --scale and --quick (whose
    cells say quick=False); raises ValueError."""
    if args.scale and not args.models:
        names = [n for n in names if n in SCALE_MODELS]
    if args.models:
        wanted = [x for x in args.models.split(",") if x and x != BASELINE]
        unknown = [x for x in wanted if x not in names]
        if unknown:
            raise ValueError(f"unknown model(s): {', '.join(unknown)}; models: {' '.join(names)}")
        names = [n for n in names if n in wanted]
    cells = [c for c in CELLS if c.get("quick", True)] if args.quick else CELLS
    if args.scale:
        cells = [SCALE_CELL]
    elif args.cells:
        ids = args.cells.split(",")
        cells = [c for c in CELLS + [SCALE_CELL] if c["id"] in ids]
        if len(cells) != len(ids):
            raise ValueError(f"unknown cell id in {args.cells}; "
                             f"cells: {','.join(c['id'] for c in CELLS + [SCALE_CELL])}")
    return names, cells


def external_servers(spec, taken):
    """{name: command} of --external's NAME=COMMAND words; raises ValueError."""
    found = {}
    try:
        words = shlex.split(spec or "")
    except ValueError as e:
        raise ValueError(f"SERVER: {e}")
    for word in words:
        name, eq, command = word.partition("=")
        if not eq or not name or not command:
            raise ValueError(f"SERVER: '{word}' is not NAME='COMMAND ... {{port}}'")
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"SERVER: the name '{name}' is not a word (letters, digits, - and _)")
        if name in taken or name in found:
            raise ValueError(f"SERVER: the name '{name}' is taken (a model, baseline, or twice)")
        if "{port}" not in command:
            raise ValueError(f"SERVER: {name}'s command has no {{port}}: the bench picks the port")
        found[name] = command
    return found


def missing_programs(names):
    """Why the programs needed are not there, or None."""
    missing = [p for p in [f"bin/echo-{n}" for n in names] + ["build/bench/echo-baseline",
                                                              "bin/echo-client"]
               if not os.access(os.path.join(ROOT, p), os.X_OK)]
    if missing:
        return f"missing: {' '.join(missing)} (run make all build/bench/echo-baseline)"
    helptext = subprocess.run([os.path.join(ROOT, "bin/echo-client"), "--help"],
                              capture_output=True, text=True).stdout
    if "--load" not in helptext:
        return "bin/echo-client has no --load mode yet"
    return None


def expected_seconds(order, models_by_name, cells, mem_names, mode):
    """How long the runs should take, for the ETA."""
    expected = sum(sum(expected_run_s(c, mode, r) for r in range(mode["runs"])) *
                   sum(1 for n in order if not not_applicable(models_by_name.get(n), c))
                   for c in cells)
    return expected + len(mem_names) * expected_memory_s(mode)


def main():
    args = parse_args()
    if args.render_only:
        return render_only(args.out)
    catch_stop_signals()
    mode = run_mode(args)
    models_by_name = {m["name"]: m for m in read_models()}
    try:
        names, cells = choose(args, list(models_by_name))
        external = external_servers(args.external, set(models_by_name) | {BASELINE})
    except ValueError as e:
        log(str(e))
        return 2
    # the scale cell's idle connections depend on this machine's limit
    cells = [idle.resolved(c) if idle.is_idle(c) else c for c in cells]
    trouble = missing_programs(names)
    if trouble:
        log(trouble)
        return 2
    try:
        cpus, pinning = choose_cpus(args.server_cpus)
    except ValueError as e:
        log(f"--server-cpus: {e}")
        return 2
    workers = args.workers or (len(cpus[0]) if cpus[0] else len(os.sched_getaffinity(0)))
    for name in names:
        models_by_name[name]["args"] = model_args(models_by_name[name], workers)
    for name, command in external.items():
        models_by_name[name] = dict(name=name, serves="external", command=command)
    names += list(external)
    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                mode=mode, machine=machine(), pinning=pinning, host="127.0.0.1",
                server_cpus=sorted(cpus[0]) if cpus[0] else None,
                client_cpus=sorted(cpus[1]) if cpus[1] else None,
                model_args={n: list(models_by_name[n].get("args", ())) for n in names},
                external=external,
                max_clients=MAX_CLIENTS, max_line_64k_cell=MAX_LINE_BIG,
                cpu_per_message="server (user+sys) over its whole life / (bytes echoed / size)",
                cells=cells)
    os.makedirs(args.out, exist_ok=True)
    return measure_all(args, names, models_by_name, cells, mode, cpus, meta)


def measure_all(args, names, models_by_name, cells, mode, cpus, meta):
    """The cells, then the memory checks; every process stopped at the end,
    whatever happens; then the outputs."""
    # The baseline goes first in every cell so its runs open each round.
    order = [BASELINE] + names
    mem_names = [] if args.no_memory or args.scale else [
        n for n in (MEM_SERVERS_QUICK if args.quick else MEM_SERVERS_DEFAULT)
        if n == BASELINE or n in names] + list(meta["external"])
    expected = expected_seconds(order, models_by_name, cells, mem_names, mode)
    progress = Progress(len(order) * len(cells) + len(mem_names), expected)
    log(f"bench ({mode['name']}): {len(order)} servers x {len(cells)} cells, {mode['runs']} run(s) "
        f"of {mode['duration']:g} s after {mode['warmup']:g} s warm-up ({mode['rewarmup']:g} s for "
        f"later runs); {meta['pinning']}; about {fmt_duration(expected)}")
    busy = busy_warning(cpus)
    if busy:
        log(busy)
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="echolab-bench.")
    try:
        results = run_matrix(order, models_by_name, cells, mode, cpus, tmp, progress)
        mem = run_memory(mem_names, models_by_name, mode, cpus, tmp, progress)
    except Interrupted as e:
        log(f"bench: interrupted ({e}); stopping every server")
        return 130
    finally:
        ignore_stop_signals()
        PROCS.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    catch_stop_signals()
    meta["elapsed_s"] = round(time.monotonic() - t0, 1)
    meta["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    # Rows in table order: models as listed, baseline last.
    servers = names + [BASELINE]
    rank = {n: i for i, n in enumerate(servers)}
    results.sort(key=lambda e: ([c["id"] for c in cells].index(e["cell"]), rank[e["model"]]))
    return write_outputs(args.out, meta, servers, results, mem)


if __name__ == "__main__":
    sys.exit(main())
