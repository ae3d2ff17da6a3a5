"""measure: the runs of make bench and the figures drawn from them.

run_matrix: for each cell, fresh servers, the runs round robin over them,
then each server's summary; run_memory: the 10,000-connection checks. Each
gives a list of entries (dicts) that render.py turns into tables and files:
their keys are the results.json format.
"""
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

import idle
import neighbours
import noise
import skew
from cells import (HOST, MAX_LINE_BIG, MEM_CELL, MEM_CONNS, MEM_RATE,
                   MEM_TARGET_KB, ROOT, descriptors_short, duration_of, expected_memory_s,
                   expected_run_s, is_datagram, not_applicable, pool_workers, warmup_of)
from procs import PROCS, launch, procfs, tail
from progress import log

# ---------------------------------------------------------------- one client run

def client_argv(port, cell, duration, warmup, rate=0, udp=False):
    argv = [os.path.join(ROOT, "bin/echo-client"), "--load", "--host", HOST, "--port", str(port),
            "--connections", str(cell["conns"]), "--size", str(cell["size"]),
            "--depth", str(cell["depth"]), "--duration", f"{duration:g}",
            "--warmup", f"{warmup:g}", "--json"]
    if rate:
        argv += ["--rate", str(rate)]
    if cell.get("hold"):
        argv += ["--hold", str(cell["hold"])]
    if cell.get("churn"):
        argv += ["--churn"]
    if udp:
        argv += ["--udp"]
    return argv


def run_client(port, cell, duration, warmup, cpu, tmp, rate=0, udp=False):
    """One load run. Returns a dict: the client's JSON plus exit status, the
    client's CPU seconds (from our RUSAGE_CHILDREN, as only this child is reaped
    meanwhile) and wall time; 'failure' says why the run does not count."""
    out, err = os.path.join(tmp, "client.out"), os.path.join(tmp, "client.err")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    # connect (10 s timeout in the client) + warm-up + run + 2 s drain, and
    # slack; held connections open at 10,000/s at best, 100/s on a busy machine
    limit = warmup + duration + 30 + (cell.get("hold") or 0) * 0.01
    timed_out = False
    with open(out, "wb") as o, open(err, "wb") as e:
        p = PROCS.start(client_argv(port, cell, duration, warmup, rate, udp), cpu, o, e)
        try:
            p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            p.kill()
            p.wait()
    PROCS.reaped(p)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r = dict(exit=p.returncode, client_cpu_s=round(cpu_s, 4), client_wall_s=round(wall, 3))
    with open(out, errors="replace") as f:
        read_report(r, f.read(), err)
    if p.returncode != 0:
        why = (f"client killed after {limit:.0f} s" if timed_out else
               f"client exit status {p.returncode}" if p.returncode > 0 else
               f"client killed by signal {-p.returncode}")
        detail = r.get("error_detail") or tail(err)
        r["failure"] = r.get("failure") or (why + (": " + detail if detail else ""))
    elif r.get("errors", 0) > 0:
        r["failure"] = f"{r['errors']} verification errors: {r.get('error_detail', '')}"
    return r


def read_report(r, text, err):
    """Adds the client's --json report in `text` to r, or a 'failure'."""
    try:
        r.update(json.loads(text[text.index("{"):text.rindex("}") + 1]))
    except ValueError:
        r["failure"] = "client printed no JSON: " + (tail(err) or text.strip()[:200])
    if "failure" not in r and not isinstance(r.get("errors"), int):
        r["failure"] = "client JSON has no error count"


# ---------------------------------------------------------------- figures

def median(xs):
    return statistics.median(xs) if xs else None


def summarize(entry, cell):
    """Fills an entry's figures from its runs and its server summary."""
    runs = [r for r in entry["runs"]]
    ok = [r for r in runs if "failure" not in r]
    if not ok or len(ok) != len(runs):
        return
    mps = [r["messages_per_sec"] for r in ok]
    med = median(mps)
    entry["msgs_per_sec"] = med
    entry["msgs_per_sec_min"] = min(mps)
    entry["msgs_per_sec_max"] = max(mps)
    entry["spread"] = (max(mps) - min(mps)) / med if med and len(mps) > 1 else None
    entry["mb_per_sec"] = median([r["mb_per_sec"] for r in ok])
    for q in ("p50", "p90", "p99", "p999", "max"):
        entry[f"{q}_us"] = median([r["latency_us"][q] for r in ok])
    p99 = [r["latency_us"]["p99"] for r in ok]
    entry["p99_spread"] = ((max(p99) - min(p99)) / entry["p99_us"]
                           if entry["p99_us"] and len(p99) > 1 else None)
    entry["errors"] = sum(r.get("errors", 0) for r in runs)
    entry["client_messages"] = sum(r["messages"] for r in ok)
    busy = [r["client_cpu_s"] / r["client_wall_s"] for r in ok if r["client_wall_s"] > 0]
    entry["client_cpu_util"] = round(median(busy), 3) if busy else None
    if entry.get("server"):
        summarize_server(entry, cell, med)
    if neighbours.is_neighbours(cell):
        neighbours.summarize(entry, median)
    if idle.is_idle(cell):
        idle.summarize(entry, median)


def summarize_server(entry, cell, med):
    """The figures that come from the server's summary line."""
    s = entry["server"]
    cpu_s = s["user_s"] + s["sys_s"]
    # an external server counts no bytes: its CPU per message is n/a
    echoed = s["bytes"] / cell["size"] if s["bytes"] is not None else None
    entry["server_messages_echoed"] = echoed
    entry["cpu_us_per_msg"] = cpu_s / echoed * 1e6 if echoed else None
    entry["maxrss_kb"] = s["maxrss_kb"]
    # over the time its clients ran (it idles while the other servers' runs go)
    loaded = sum(r["client_wall_s"] for r in entry["runs"])
    entry["server_cpu_util"] = round(cpu_s / loaded, 3) if loaded else None
    if cell.get("churn"):
        # UNP Figure 30.1's measure: server CPU (children included) per connection
        entry["connections_per_sec"] = med
        entry["server_connections"] = s["connections"]
        entry["cpu_us_per_conn"] = (cpu_s / s["connections"] * 1e6
                                    if s["connections"] else None)


def check_bytes(entry, cell):
    """The server must have echoed at least what the client verified."""
    s = entry.get("server")
    if (entry["status"] == "ok" and s and s["bytes"] is not None
            and s["bytes"] < entry.get("client_messages", 0) * cell["size"]):
        entry["status"] = "FAILED"
        entry["reason"] = (f"server reports {s['bytes']} bytes echoed, fewer than the "
                           f"{entry['client_messages'] * cell['size']} the client verified")


def own_cpu():
    """CPU seconds of this process and every child it has reaped."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Interference:
    """How much CPU others used on our CPUs over a stretch of time: busy time
    on those CPUs minus our own (bench.py, servers, clients: everything we
    reaped by the end), in cores. A benchmark on a shared machine is only as
    good as this is small."""

    def __init__(self, cpus):
        self.cpus = None if cpus[0] is None else sorted(cpus[0] | cpus[1])
        self.t0, self.own0 = time.monotonic(), own_cpu()
        self.busy0 = procfs.cpus_busy_seconds(self.cpus)

    def result(self):
        wall = time.monotonic() - self.t0
        busy = procfs.cpus_busy_seconds(self.cpus)
        if not busy or not self.busy0 or wall <= 0:
            return None
        others = busy[0] - self.busy0[0] - (own_cpu() - self.own0)
        return dict(wall_s=round(wall, 2), others_cores=round(max(0.0, others) / wall, 3),
                    steal_cores=round((busy[1] - self.busy0[1]) / wall, 3),
                    loadavg_1min=round(os.getloadavg()[0], 2))


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return dict(nproc=os.cpu_count(), cpus_allowed=len(os.sched_getaffinity(0)), cpu_model=cpu,
                kernel=platform.release(), hostname=platform.node(),
                loadavg_at_start=[round(x, 2) for x in load] if load else None,
                nofile_limit=resource.getrlimit(resource.RLIMIT_NOFILE))


# ---------------------------------------------------------------- the matrix

def run_matrix(servers, models_by_name, cells, mode, cpus, tmp, progress):
    """Every cell in turn: its entries, one per server (the baseline's model is None)."""
    results = []
    for cell in cells:
        if idle.is_idle(cell):
            cell = idle.resolved(cell)
        if skew.is_skew(cell):   # fresh servers per trial: a loop of its own
            results.extend(skew.run_cell(servers, models_by_name, cell, mode, cpus, tmp,
                                         progress))
            continue
        results.extend(run_cell(servers, models_by_name, cell, mode, cpus, tmp, progress,
                                earlier=results))
    return results


def run_cell(servers, models_by_name, cell, mode, cpus, tmp, progress, earlier=()):
    """Fresh servers for the cell; the runs round robin over them (run 1 of
    each, then run 2 of each...), each round starting one server further on,
    so that drift over the cell (a neighbour's job starting, a CPU warming)
    falls on every server alike and no server always runs first or last;
    then each stopped and its figures drawn, and the cell marked noisy or
    not (noise.py). `earlier`: the entries of the cells before (idle.py
    judges from them whether a model fits the next idle cell)."""
    entries = [new_entry(name, models_by_name.get(name), cell, earlier) for name in servers]
    interference = Interference(cpus)
    live = [e for e in entries if e["status"] == "ok"]
    servers_of = {e["model"]: start_server(e, models_by_name.get(e["model"]), cell, cpus, tmp)
                  for e in live}
    live = [e for e in live if e["status"] != "n/a"]
    for e in entries:
        if e["status"] == "n/a":
            progress.step += 1
            log(f"[{progress.step}/{progress.total}] {e['model']} {cell['label']} ... n/a: "
                f"{e['reason']}")
    base_index = progress.step
    for run in range(mode["runs"]):
        for k in range(len(live)):
            i = (k + run) % len(live)
            e = live[i]
            exp = expected_run_s(cell, mode, run)
            if e["status"] == "ok":
                progress.line(base_index + i + 1,
                              f"{e['model']} {cell['label']} run {run + 1}/{mode['runs']}")
                one_run(e, servers_of[e["model"]], models_by_name.get(e["model"]), cell, mode,
                        run, cpus, tmp)
            progress.done(exp)
    progress.step = base_index + len(live)
    for e in live:
        finish_entry(e, servers_of[e["model"]], cell)
    busy = interference.result()
    for e in entries:
        e["interference"] = busy
    noise.mark(entries)
    return entries


def new_entry(name, model, cell, earlier=()):
    e = dict(model=name, cell=cell["id"], label=cell["label"], conns=cell["conns"],
             size=cell["size"], depth=cell["depth"], status="ok", reason="", runs=[])
    if model and model.get("command"):
        e["external"] = model["command"]
    if idle.is_idle(cell):
        e["hold"] = cell["hold"]
    reason = not_applicable(model, cell) or (
        idle.does_not_fit(name, cell, earlier) if idle.is_idle(cell) else None)
    if reason:
        e.update(status="n/a", reason=reason)
    return e


def start_server(e, model, cell, cpus, tmp):
    """The entry's server for this cell; marks the entry n/a or FAILED if it
    cannot run or did not start."""
    long_lines = cell["size"] > 4096 or neighbours.is_neighbours(cell)
    big = MAX_LINE_BIG if long_lines and model is not None else None
    srv = launch(e["model"], model, tmp, cpus[0], max_line=big,
                 extra_args=(model or {}).get("args", ()),
                 workers=pool_workers(model, cell), datagram=is_datagram(model))
    e["server_argv"] = " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a
                                for a in srv.argv)
    e["started"] = time.monotonic()
    if srv.unavailable:
        e.update(status="n/a", reason=srv.unavailable)
        e.pop("started")
    elif srv.failure:
        e.update(status="FAILED", reason=srv.failure)
    return srv


# The client's words for a run whose window saw no echo complete, and the
# warm-up a second try gets.
EMPTY_WINDOW = "no echo completed in the measured window"
SLOW_START_WARMUP = 3.0


def one_run(e, srv, model, cell, mode, run, cpus, tmp):
    duration, warmup = duration_of(mode, cell), warmup_of(mode, run, cell)
    if neighbours.is_neighbours(cell):
        r = neighbours.run(srv.port, duration, warmup, cpus[1], tmp)
    elif idle.is_idle(cell):
        r = idle.one_run(srv, cell, duration, warmup, cpus[1], tmp)
        if "not_held" in r:
            e["runs"].append(r)
            e.update(status="n/a", reason=r["not_held"])
            log(f"    n/a: {e['reason']}")
            return
    else:
        r = run_client(srv.port, cell, duration, warmup, cpus[1], tmp, udp=is_datagram(model))
        if EMPTY_WINDOW in r.get("failure", ""):
            # The first echoes were still on their way when the window closed:
            # a model that forks or starts a thread per connection, on a
            # stalled machine. Once more, with time for every connection to
            # be served first; the run says so.
            log(f"    {e['model']}: no echo in the window; once more after {SLOW_START_WARMUP:g} s")
            r = run_client(srv.port, cell, duration, SLOW_START_WARMUP, cpus[1], tmp,
                           udp=is_datagram(model))
            r["slow_start_retry"] = True
    e["runs"].append(r)
    if "failure" in r:
        e.update(status="FAILED", reason=f"run {run + 1}: {r['failure']}")
        log(f"    FAILED: {e['reason']}")


def finish_entry(e, srv, cell):
    """Stops the entry's server and draws the figures."""
    summary = srv.stop()
    e["server_life_s"] = round(time.monotonic() - e.pop("started"), 3)
    if summary:
        e["server"] = summary
    if srv.failure and e["status"] == "ok":
        e.update(status="FAILED", reason=srv.failure)
    summarize(e, cell)
    check_bytes(e, cell)


# ---------------------------------------------------------------- 10,000 connections

def run_memory(names, models_by_name, mode, cpus, tmp, progress):
    """10,000 connections held open at a low open-loop rate; peak server memory."""
    out = []
    for name in names:
        progress.step += 1
        progress.line(progress.step, f"{name} {MEM_CONNS} connections (memory)")
        out.append(memory_entry(name, models_by_name.get(name), mode, cpus, tmp))
        progress.done(expected_memory_s(mode))
    return out


def memory_entry(name, model, mode, cpus, tmp):
    e = dict(model=name, conns=MEM_CONNS, rate=MEM_RATE, status="ok", reason="")
    if model and model.get("command"):
        e["external"] = model["command"]
    short = descriptors_short(MEM_CONNS)
    if short:
        e.update(status="n/a", reason=short)
        log(f"    n/a: {short}")
        return e
    srv = launch(name, model, tmp, cpus[0], extra_args=(model or {}).get("args", ()))
    if srv.unavailable:
        e.update(status="n/a", reason=srv.unavailable)
    elif srv.failure:
        e.update(status="FAILED", reason=srv.failure)
    else:
        r = run_client(srv.port, MEM_CELL, mode["mem_duration"], mode["mem_warmup"], cpus[1],
                       tmp, rate=MEM_RATE)
        e["run"] = r
        if "failure" in r:
            e.update(status="FAILED", reason=r["failure"])
        memory_figures(e, srv, r)
    if e["status"] == "ok":
        e.update(memory_of_lines(name, model, cpus, tmp))
    return e


def memory_figures(e, srv, r):
    """Stops the server of a memory check and fills its figures."""
    s = srv.stop()
    if s:
        e["server"] = s
        e["maxrss_kb"] = s["maxrss_kb"]
        e["connections_seen"] = s["connections"]
        e["under_16mib"] = s["maxrss_kb"] < MEM_TARGET_KB
    if srv.failure and e["status"] == "ok":
        e.update(status="FAILED", reason=srv.failure)
    if e["status"] == "ok" and s and s["connections"] is not None and s["connections"] < MEM_CONNS:
        e.update(status="FAILED", reason=f"server saw {s['connections']} connections")
    if "latency_us" in r:
        e["messages"] = r["messages"]
        e["p99_us"] = r["latency_us"]["p99"]
    if s and s["bytes"]:   # None for an external server
        # includes accepting the 10,000 connections
        e["cpu_us_per_msg"] = (s["user_s"] + s["sys_s"]) / (s["bytes"] / MEM_CELL["size"]) * 1e6


def memory_of_lines(name, model, cpus, tmp):
    """A fresh server's VmRSS before any client, with 10,000 idle connections,
    with each of them holding a 100-byte unfinished line, at peak (maxrss),
    and after they all left and the loop went quiet (glibc's heap given back).
    Driven by tests/probe.py swarm --partial, which waits for the server
    to hold the connections and to have read every partial line."""
    srv = launch(name, model, tmp, cpus[0])
    if srv.failure:
        return dict(lines_status="FAILED", lines_reason=srv.failure)
    r = dict(rss_before_kb=procfs.rss_kb(srv.pid))
    argv = [sys.executable, "-S", os.path.join(ROOT, "tests/probe.py"), "--port",
            str(srv.port), "--deadline", "120", "swarm", str(MEM_CONNS), "--partial", "100",
            "--messages", "1", "--window", "512", "--pid", str(srv.pid)]
    out = os.path.join(tmp, "lines.out")
    with open(out, "wb") as o:
        p = PROCS.start(argv, cpus[1], o, subprocess.STDOUT)
        p.wait()
    PROCS.reaped(p)
    with open(out, errors="replace") as f:
        text = f.read()
    m = re.search(r"idle_rss_kb=(\d+) partial_rss_kb=(\d+)", text)
    if p.returncode != 0 or not m:
        r.update(lines_status="FAILED", lines_reason=text.strip()[-200:])
    else:
        r.update(lines_status="ok", rss_idle_kb=int(m.group(1)), rss_lines_kb=int(m.group(2)))
        # The connections are closed; the loop trims its heap once quiet for a
        # second (common/loop.h LOOP_TRIM_AFTER_MS). Measure after that.
        time.sleep(2.5)
        r["rss_after_kb"] = procfs.rss_kb(srv.pid)
    s = srv.stop()
    if s:
        # The kernel's high-water mark may lag what was just sampled.
        r["rss_peak_kb"] = max([s["maxrss_kb"]] + [r[k] for k in ("rss_idle_kb", "rss_lines_kb")
                                                     if r.get(k) is not None])
    return r
