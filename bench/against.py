#!/usr/bin/env python3
"""bench/against.py COMMIT [--cells c100,c1000] [--models a,b] [--runs N] [--extra NAME=PATH]

CPU per message of today's models against another commit's build of the
same models, in the same interleaved bench run: the question "did this
change make any model cost more?" answered with figures.

COMMIT's tree is exported (git archive) to build/against-SHA/ and its
servers built there; then bench/bench.py runs each cell once with those
servers as external ones (old-NAME, --external), beside today's. An echolab
server prints its summary line, so an external one counts its messages and
gets a CPU per message as a model does. Each cell is a bench run of its own
(a pool's --workers depends on the cell). --extra NAME=PATH adds another
echolab server binary (say, a third build of one model) as NAME.

Prints, per cell, each model's CPU per message now and at COMMIT and their
ratio, marking ratios outside 0.97-1.03; writes each cell's bench output
to bench/results/against-CELL/."""
import argparse
import json
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cells import CELLS, MAX_CLIENTS, not_applicable, pool_workers, read_models  # noqa: E402
from procs import choose_cpus, model_args  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 0.03


def build(commit):
    """COMMIT's servers, built in build/against-SHA/ (kept: a second
    comparison with the same commit builds nothing), and today's."""
    sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", commit + "^{commit}"],
                         check=True, capture_output=True, text=True).stdout.strip()
    tree = os.path.join(ROOT, "build", f"against-{sha[:12]}")
    if not os.path.isdir(os.path.join(tree, "bin")):
        os.makedirs(tree, exist_ok=True)
        archive = subprocess.run(["git", "-C", ROOT, "archive", sha], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        make(tree, "all")
    make(ROOT, "all", "build/bench/echo-baseline")
    return tree


def make(tree, *targets):
    subprocess.run(["nice", "-n", "10", "make", "-C", tree, "-j2", *targets], check=True,
                   stdout=subprocess.DEVNULL)


def command(path, model, cell, workers):
    """An external server's command line, with the arguments bench.py gives the model."""
    argv = [path, "--host", "{host}", "--port", "{port}", "--max-clients", str(MAX_CLIENTS)]
    if cell["size"] > 4096:
        argv += ["--max-line", str(cell["size"])]
    pool = pool_workers(model, cell)
    if pool:
        argv += ["--workers", str(pool)]
    elif workers:
        argv += list(workers)
    return " ".join(shlex.quote(a) for a in argv)


def run_cell(cell, tree, models, extra, runs):
    olds = [m for m in read_models_at(tree) if m["name"] in models and not not_applicable(m, cell)]
    now = {m["name"]: m for m in read_models()}
    spec = []
    for m in olds:
        args = model_args(now[m["name"]], workers()) if m["name"] in now else ()
        spec.append(f"old-{m['name']}=" + shlex.quote(
            command(os.path.join(tree, f"bin/echo-{m['name']}"), m, cell, args)))
    for name, path in extra:
        spec.append(f"{name}=" + shlex.quote(command(path, {}, cell, ())))
    out = os.path.join(ROOT, "bench/results", f"against-{cell['id']}")
    argv = ["nice", "-n", "10", "python3", os.path.join(ROOT, "bench/bench.py"),
            "--cells", cell["id"], "--models", ",".join(models), "--no-memory",
            "--out", out, "--external", " ".join(spec)]
    if runs:
        argv += ["--runs", str(runs)]
    # a FAILED cell (fork's 1,000 processes on a loaded machine, say) fails
    # the bench run; the others' figures are still worth reading
    subprocess.run(argv, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)["results"]


def workers():
    """What bench.py gives a concurrent model that takes --workers: one per server CPU."""
    servers = choose_cpus(None)[0][0]
    return len(servers) if servers else len(os.sched_getaffinity(0))


def read_models_at(tree):
    with open(os.path.join(tree, "models/models.list")) as f:
        rows = [line.split("#", 1)[0].split() for line in f]
    return [dict(name=r[0], serves=r[1] if len(r) > 1 else "concurrent") for r in rows if r]


def report(cell, results, extra):
    ok = {e["model"]: e for e in results if e.get("status") == "ok" and e.get("cpu_us_per_msg")}

    def user(e):   # the user-space share: where a copy or an allocation costs
        return e["server"]["user_s"] / e["server_messages_echoed"] * 1e6

    print(f"\n{cell['label']} ({cell['id']}): server CPU µs per message (user+sys; user), "
          "now and old (old-NAME)")
    print(f"{'model':14} {'now':>8} {'old':>8} {'ratio':>7} {'user now':>9} {'user old':>9}")
    pairs = [(n, f"old-{n}") for n in sorted(ok) if f"old-{n}" in ok]
    pairs += [("uring", name) for name, _ in extra if "uring" in ok and name in ok]
    for name, other in pairs:
        a, b = ok[name], ok[other]
        ratio = a["cpu_us_per_msg"] / b["cpu_us_per_msg"]
        flag = "" if abs(ratio - 1) <= TOLERANCE else "  outside ±3 %"
        label = name if other == f"old-{name}" else f"{name}/{other}"
        print(f"{label:14} {a['cpu_us_per_msg']:8.2f} {b['cpu_us_per_msg']:8.2f} {ratio:7.3f} "
              f"{user(a):9.2f} {user(b):9.2f}{flag}")
    for e in results:
        if e.get("status") == "FAILED":
            print(f"{e['model']}: FAILED: {e.get('reason', '')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("commit")
    ap.add_argument("--cells", default="c100,c1000")
    ap.add_argument("--models", help="comma-separated (default: every model both builds have)")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--extra", action="append", default=[], metavar="NAME=PATH")
    args = ap.parse_args()
    by_id = {c["id"]: c for c in CELLS}
    cells = args.cells.split(",")
    bad = [c for c in cells if c not in by_id]
    if bad:
        ap.error(f"unknown cell(s) {','.join(bad)}: choose from {','.join(by_id)}")
    extra = []
    for word in args.extra:
        name, _, path = word.partition("=")
        if not name or not os.access(path, os.X_OK):
            ap.error(f"--extra {word}: not NAME=PATH of an executable server")
        extra.append((name, os.path.abspath(path)))
    tree = build(args.commit)
    old = {m["name"] for m in read_models_at(tree)}
    models = (args.models.split(",") if args.models
              else [m["name"] for m in read_models() if m["name"] in old])
    for cid in cells:
        report(by_id[cid], run_cell(by_id[cid], tree, models, extra, args.runs), extra)


if __name__ == "__main__":
    main()
