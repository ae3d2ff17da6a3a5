"""neighbours: the noisy-neighbours cell of make bench.

How well a model keeps its clients apart: light clients in open loop
(cells.NEIGHBOURS["light"]) are measured alone, then again while heavy
clients pipeline long messages to the same server as fast as it goes
(cells.NEIGHBOURS["heavy"]). Both runs are in every round, so the "alone"
figure shares the moments of a busy machine with the "beside" one. A model
that serves each connection in turn for as long as it has input lets the
heavy senders' bursts sit in front of every light message: its light p99
beside them grows far past the one alone.

The entry keeps the usual figures of the light clients beside the heavy ones
(msgs_per_sec, p50_us, p99_us...) and adds alone_p50_us, alone_p99_us,
light_p99_us (= p99_us: the name the targets use) and heavy_msgs_per_sec.
"""
import os
import subprocess

from cells import NEIGHBOURS
from procs import PROCS, tail


def is_neighbours(cell):
    return bool(cell.get("neighbours"))


def sub_cell(kind):
    return dict(NEIGHBOURS[kind])


def run(port, duration, warmup, cpu, tmp):
    """One round: the light clients alone, then the heavy and the light
    clients together (same warm-up, same measured window). The dict is the
    light clients' report beside the heavy ones, with "alone" and "heavy"."""
    from measure import client_argv, read_report, run_client  # measure imports this module
    light = sub_cell("light")
    alone = run_client(port, light, duration, warmup, cpu, tmp, rate=light["rate"])
    if "failure" in alone:
        return dict(alone, failure="light clients alone: " + alone["failure"])
    heavy = dict(exit=None)
    out, err = os.path.join(tmp, "heavy.out"), os.path.join(tmp, "heavy.err")
    with open(out, "wb") as o, open(err, "wb") as e:
        p = PROCS.start(client_argv(port, sub_cell("heavy"), duration, warmup), cpu, o, e)
        beside = run_client(port, light, duration, warmup, cpu, tmp, rate=light["rate"])
        try:
            p.wait(timeout=warmup + duration + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    PROCS.reaped(p)
    heavy["exit"] = p.returncode
    with open(out, errors="replace") as f:
        read_report(heavy, f.read(), err)
    beside["alone"] = {k: alone.get(k) for k in ("messages_per_sec", "latency_us", "errors")}
    beside["heavy"] = {k: heavy.get(k) for k in ("exit", "messages_per_sec", "errors", "failure")}
    if "failure" not in beside:
        if heavy["exit"] != 0 or "failure" in heavy:
            beside["failure"] = ("heavy clients: " + (heavy.get("failure") or
                                 f"exit status {heavy['exit']}: {tail(err)}"))
        elif heavy.get("errors", 0) > 0:
            beside["failure"] = f"heavy clients: {heavy['errors']} verification errors"
    return beside


def summarize(entry, median):
    """The cell's own figures, from runs that all succeeded."""
    runs = entry["runs"]
    entry["alone_p50_us"] = median([r["alone"]["latency_us"]["p50"] for r in runs])
    entry["alone_p99_us"] = median([r["alone"]["latency_us"]["p99"] for r in runs])
    entry["light_p99_us"] = entry.get("p99_us")
    entry["heavy_msgs_per_sec"] = median([r["heavy"]["messages_per_sec"] for r in runs])
    # Light and heavy messages differ in size: no meaningful CPU per message.
    entry["cpu_us_per_msg"] = None


def table(out, by, servers, cells, shown):
    """The cell's table in results.md."""
    from render import k, not_ok_row, us  # render imports this module
    cell = next((c for c in cells if is_neighbours(c)), None)
    if not cell:
        return
    light, heavy = NEIGHBOURS["light"], NEIGHBOURS["heavy"]
    out.append("## Noisy neighbours: light clients alone and beside heavy ones")
    out.append("")
    out.append(f"{light['conns']} light clients, {light['size']}-byte messages in open loop at "
               f"{light['rate']:,} messages/s in total, measured alone and then beside "
               f"{heavy['conns']} heavy clients each pipelining {heavy['size'] // 1024} KiB "
               f"messages {heavy['depth']} deep, closed loop, on the same server. Latency from "
               "each message's due time; medians of the runs.")
    out.append("")
    out.append("| model | heavy msgs/s | light p50 alone | light p99 alone | light p50 beside "
               "| light p99 beside | p99 beside / alone |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for name in servers:
        e = by.get((name, cell["id"]))
        if e is None:
            continue
        if e["status"] != "ok":
            out.append(not_ok_row(shown[name], e, 5))
            continue
        grow = (e["light_p99_us"] / e["alone_p99_us"]
                if e.get("light_p99_us") and e.get("alone_p99_us") else None)
        out.append(f"| {shown[name]} | {k(e.get('heavy_msgs_per_sec'))} | {us(e.get('alone_p50_us'))} "
                   f"| {us(e.get('alone_p99_us'))} | {us(e.get('p50_us'))} "
                   f"| {us(e.get('light_p99_us'))} | {'-' if grow is None else f'{grow:.1f}x'} |")
    out.append("")
