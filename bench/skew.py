"""skew: the skewed-load cell of make bench: how evenly a server of several
event loops shares the work when a few of its clients are heavy.

Measured for the concurrent models that take --workers (reuseport, where the
kernel's hash deals the clients; acceptor, where one thread hands each to the
least loaded loop), each with --workers SKEW["workers"]. A trial: a fresh
server (--verbose, for its per-worker lines), the heavy clients connect
first (closed loop, as fast as the server echoes), then, once the server
holds them, the light ones (open loop at a low total rate); when the run
ends, SIGTERM, and the lines "worker I: connections=N messages=M" say how
the messages were shared. A trial's figure is max/min: the busiest worker's
messages over the least busy one's (1.0: even; None when a worker echoed
nothing). A fresh server per trial, because where the hash puts a client is
drawn anew for every connection: one trial is one deal.

The entry (cell "skew") keeps every trial (per-worker connections and
messages) and: msg_ratio_median (over trials, a trial with an idle worker
counting as the worst), msg_ratio_worst (None if some trial left a worker
idle), idle_trials, heavy_msgs_per_sec (median over the trials).
"""
import os
import re
import statistics
import subprocess
import time

from cells import SKEW, duration_of, not_applicable, warmup_of
from procs import PROCS, launch, procfs, tail
from progress import log

WORKER_LINE = re.compile(r"^worker (\d+): connections=(\d+) messages=(\d+)$", re.M)


def is_skew(cell):
    return bool(cell.get("skew"))


def trials_of(mode):
    return SKEW["trials_quick"] if mode["name"] == "quick" else SKEW["trials"]


def wait_for_connections(pid, more, before, deadline_s=10):
    """True once the server holds `more` descriptors beyond `before`."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if procfs.fd_count(pid) >= before + more:
            return True
        time.sleep(0.01)
    return False


def one_trial(name, model, duration, warmup, cpus, tmp):
    """One fresh server under the skewed load: its per-worker counts, or a failure."""
    from measure import client_argv, read_report, run_client  # measure imports this module
    heavy, light = SKEW["heavy"], SKEW["light"]
    srv = launch(name, model, tmp, cpus[0],
                 extra_args=("--workers", str(SKEW["workers"]), "--verbose"))
    if srv.failure or srv.unavailable:
        return dict(failure=srv.failure or srv.unavailable)
    t = {}
    before = procfs.fd_count(srv.pid)
    out, err = os.path.join(tmp, "heavy.out"), os.path.join(tmp, "heavy.err")
    with open(out, "wb") as o, open(err, "wb") as e:
        p = PROCS.start(client_argv(srv.port, heavy, duration, warmup), cpus[1], o, e)
        if not wait_for_connections(srv.pid, heavy["conns"], before):
            t["failure"] = f"the server did not hold the {heavy['conns']} heavy clients in 10 s"
        else:
            r = run_client(srv.port, light, duration, warmup, cpus[1], tmp, rate=light["rate"])
            if "failure" in r:
                t["failure"] = "light clients: " + r["failure"]
        try:
            p.wait(timeout=warmup + duration + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    PROCS.reaped(p)
    h = dict(exit=p.returncode)
    with open(out, errors="replace") as f:
        read_report(h, f.read(), err)
    if "failure" not in t and (p.returncode != 0 or "failure" in h or h.get("errors")):
        t["failure"] = "heavy clients: " + (h.get("failure") or f"status {p.returncode}: "
                                            f"{tail(err)}")
    srv.stop()
    with open(srv.err, errors="replace") as f:
        workers = [(int(c), int(m)) for _, c, m in WORKER_LINE.findall(f.read())]
    if srv.failure and "failure" not in t:
        t["failure"] = srv.failure
    if len(workers) != SKEW["workers"] and "failure" not in t:
        t["failure"] = f"{len(workers)} per-worker lines, not {SKEW['workers']}"
    t["connections"] = [c for c, _ in workers]
    t["messages"] = [m for _, m in workers]
    msgs = t["messages"]
    t["msg_ratio"] = max(msgs) / min(msgs) if msgs and min(msgs) > 0 else None
    t["heavy_msgs_per_sec"] = h.get("messages_per_sec")
    return t


def entry(name, model, cell, mode, cpus, tmp, progress):
    e = dict(model=name, cell=cell["id"], label=cell["label"], conns=cell["conns"],
             size=cell["size"], depth=cell["depth"], workers=SKEW["workers"], status="ok",
             reason="", trials=[])
    why = not_applicable(model, cell)
    if why:
        e.update(status="n/a", reason=why)
        return e
    n = trials_of(mode)
    for i in range(n):
        progress.line(progress.step, f"{name} {cell['label']} trial {i + 1}/{n}")
        t = one_trial(name, model, duration_of(mode, cell), warmup_of(mode, 0, cell), cpus, tmp)
        e["trials"].append(t)
        if "failure" in t:
            e.update(status="FAILED", reason=f"trial {i + 1}: {t['failure']}")
            log(f"    FAILED: {e['reason']}")
            return e
    ratios = [t["msg_ratio"] for t in e["trials"]]
    e["idle_trials"] = sum(1 for r in ratios if r is None)
    # an idle worker is the worst spread there is: it sorts last
    ranked = sorted(ratios, key=lambda r: float("inf") if r is None else r)
    e["msg_ratio_median"] = ranked[(len(ranked) - 1) // 2]
    e["msg_ratio_worst"] = ranked[-1]
    e["heavy_msgs_per_sec"] = statistics.median(t["heavy_msgs_per_sec"] for t in e["trials"])
    return e


def run_cell(servers, models_by_name, cell, mode, cpus, tmp, progress):
    """The cell's entries, one per server (n/a for those without worker loops)."""
    out = []
    for name in servers:
        progress.step += 1
        e = entry(name, models_by_name.get(name), cell, mode, cpus, tmp, progress)
        if e["status"] == "n/a":
            log(f"[{progress.step}/{progress.total}] {name} {cell['label']} ... n/a: {e['reason']}")
        else:
            progress.done(expected_s(cell, mode))
        out.append(e)
    return out


def expected_s(cell, mode):
    return trials_of(mode) * (warmup_of(mode, 0, cell) + duration_of(mode, cell) + 0.5)


def ratio_text(r):
    return "a worker idle" if r is None else f"{r:.2f}"


def table(out, by, servers, cells, shown):
    """The cell's table in results.md."""
    cell = next((c for c in cells if is_skew(c)), None)
    if not cell:
        return
    heavy, light = SKEW["heavy"], SKEW["light"]
    out.append("## Skewed load: messages per worker")
    out.append("")
    out.append(f"--workers {SKEW['workers']}; {heavy['conns']} heavy clients (closed loop, "
               f"{heavy['size']}-byte messages {heavy['depth']} deep) connect first, then "
               f"{light['conns']} light ones (open loop, {light['rate']:,} messages/s in total). "
               "Per trial (a fresh server each): the busiest worker's messages over the least "
               "busy one's (1.00: even); median and worst over the trials.")
    out.append("")
    out.append("| model | trials | max/min median | max/min worst | trials with a worker idle "
               "| messages per worker, each trial |")
    out.append("|---|--:|--:|--:|--:|---|")
    for name in servers:
        e = by.get((name, cell["id"]))
        if e is None or e["status"] == "n/a":
            continue
        if e["status"] != "ok":
            out.append(f"| {shown[name]} | FAILED: {e['reason']} | | | | |")
            continue
        out.append(f"| {shown[name]} | {len(e['trials'])} | {ratio_text(e['msg_ratio_median'])} "
                   f"| {ratio_text(e['msg_ratio_worst'])} | {e['idle_trials']} | "
                   + "; ".join("/".join(str(m) for m in t["messages"]) for t in e["trials"])
                   + " |")
    out.append("")
