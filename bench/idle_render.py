"""idle_render: the idle-connection cells (bench/idle.py) in results.md and
their plot, the C10K curve: server CPU per message against the idle
connections held, one line per model (bench/idle.gp)."""
import os
import subprocess

import noise
import tlpi
from cells import IDLE_RATE, ROOT
from progress import log


def idle_cells(cells, scale=False):
    return [c for c in cells if c.get("idle") and bool(c.get("scale")) == scale]


def n_label(n):
    return f"{n // 1000:,}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def cpu_text(e):
    if e is None:
        return ""
    if e["status"] != "ok":
        return "n/a" if e["status"] == "n/a" else "**FAILED**"
    v, s = e.get("cpu_us_per_msg"), e.get("cpu_spread")
    if v is None:
        return "-"
    return (f"{v:.1f}" + (f" ±{s * 50:.0f}%" if s is not None else "")
            + (f" {noise.NOISY_MARK}" if e.get("noisy") else ""))


def growth(by, name, cells):
    """CPU per message at the largest N over at N=0, with its spread (the
    two half-spreads added), or None."""
    first, last = by.get((name, cells[0]["id"])), by.get((name, cells[-1]["id"]))
    if not first or not last or first["status"] != "ok" or last["status"] != "ok":
        return None
    a, b = first.get("cpu_us_per_msg"), last.get("cpu_us_per_msg")
    if not a or b is None:
        return None
    spreads = [x.get("cpu_spread") for x in (first, last)]
    if all(s is None for s in spreads):
        return b / a, None
    return b / a, sum(s or 0 for s in spreads) / 2


def tables(out, by, servers, cells):
    """The C10K curve's tables, then the scale mode's, for the cells that ran."""
    curve = idle_cells(cells)
    if curve:
        curve_tables(out, by, servers, curve)
    for cell in idle_cells(cells, scale=True):
        scale_table(out, by, servers, cell)


def curve_tables(out, by, servers, cells):
    heads = [n_label(c["hold"]) for c in cells]
    out.append("## The C10K curve: 10 active connections beside N idle ones")
    out.append("")
    out.append(f"10 connections, 64-byte messages in open loop at {IDLE_RATE:,} messages/s in "
               "total, while the same client holds N more connections open and silent (each "
               "echoed once first: echo-client --hold N). Server CPU per message: its CPU time "
               "(every thread and child, /proc/PID/task/*/schedstat) over 70 % of the measured "
               "window, over the messages echoed meanwhile; opening and closing the idle "
               "connections is not in it. Medians of the runs, ± half their spread. "
               "Each round of runs starts one server further on, so drift falls on every "
               "server alike. " + noise.NOTE)
    out.append("")
    out.append("| model | " + " | ".join(f"CPU µs/msg, {h} idle" for h in heads)
               + f" | {heads[-1]} / {heads[0]} | over the baseline's |")
    out.append("|---|" + "---:|" * (len(cells) + 2))
    base = growth(by, "baseline", cells) if len(cells) > 1 else None
    for name in servers:
        row = [cpu_text(by.get((name, c["id"]))) for c in cells]
        g = growth(by, name, cells) if len(cells) > 1 else None
        row.append("-" if g is None else f"{g[0]:.2f}x"
                   + ("" if g[1] is None else f" ±{g[1] * 100:.0f}%"))
        row.append("-" if g is None or base is None or name == "baseline" else
                   f"{g[0] / base[0]:.2f}x")
        out.append(f"| {name} | " + " | ".join(row) + " |")
    out.append("")
    out.append("*over the baseline's*: the growth divided by the baseline's in the same run. "
               "The baseline watches with epoll and keeps nothing per connection, so what it "
               "grows by is the machine's (the cells run one after another, and the kernel's "
               "own tables grow with the sockets), not a model's.")
    out.append("")
    from render import us  # render imports this module
    out.append("| model | " + " | ".join(f"p50 / p99, {h} idle" for h in heads)
               + " | " + " | ".join(f"RSS KiB, {h}" for h in heads) + " |")
    out.append("|---|" + "---:|" * (2 * len(cells)))
    for name in servers:
        lat, rss = [], []
        for c in cells:
            e = by.get((name, c["id"]))
            ok = e is not None and e["status"] == "ok"
            lat.append(f"{us(e.get('p50_us'))} / {us(e.get('p99_us'))}" if ok else
                       ("" if e is None else "n/a" if e["status"] == "n/a" else "**FAILED**"))
            rss.append(f"{e['maxrss_kb']:,.0f}" if ok and e.get("maxrss_kb") else
                       ("" if e is None or ok else "-"))
        out.append(f"| {name} | " + " | ".join(lat + rss) + " |")
    out.append("")
    tlpi_rows(out, by, cells)
    others = [(c["label"], (by.get(("baseline", c["id"])) or {}).get("interference"))
              for c in cells]
    out.append("*others' CPU* per cell: " + ", ".join(
        f"{label} {i['others_cores']:.2f}" if i else f"{label} -" for label, i in others) + ".")
    out.append("")


def tlpi_rows(out, by, cells):
    """poll's (and select's) growth beside TLPI Table 63-9's for as many
    descriptors watched."""
    rows = []
    base = cells[0]
    for call in ("poll", "select"):
        a = by.get((call, base["id"]))
        for c in cells[1:]:
            e = by.get((call, c["id"]))
            watched = c["hold"] + c["conns"]
            book = min(tlpi.TABLE_63_9, key=lambda n: abs(n - watched))
            theirs = tlpi.growth(call, book)
            if e is None or a is None or theirs is None:
                continue
            ours = "n/a" if e["status"] != "ok" or a["status"] != "ok" else \
                f"{e['cpu_us_per_msg'] / a['cpu_us_per_msg']:.1f}x"
            rows.append(f"| {call} | {n_label(c['hold'])} | ~{watched:,} | {ours} "
                        f"| 10 → {book:,} | {theirs:.0f}x |")
    if not rows:
        return
    out.append("Beside the book: TLPI Table 63-9 times one poll()/select() call, N descriptors, "
               "one ready; here a message costs a wake-up's scan plus its read and write, and "
               "a wake-up may serve more than one message, so the growth is smaller than the "
               "call's but of the same kind.")
    out.append("")
    out.append("| call | idle | descriptors watched | CPU per message, ours | TLPI N "
               "| TLPI time per call |")
    out.append("|---|---:|---:|---:|---:|---:|")
    out.extend(rows)
    out.append("")


def scale_table(out, by, servers, cell):
    out.append(f"## The cost of an idle connection: {cell['hold']:,} held")
    out.append("")
    out.append(f"As many idle connections as one process may open here (the hard descriptor "
               f"limit, ulimit -Hn, less 1,000 spare) beside the 10 active ones at "
               f"{IDLE_RATE:,} messages/s. Server: (RSS in the window - RSS before the client) "
               "/ N. Kernel: /proc/net/sockstat and /proc/meminfo Slab in the window less "
               "before the client: sockets (both ends of each connection are ours), TCP buffer "
               "memory (sockstat mem pages), slab (sockets, inodes, files) per connection and "
               "per socket that appeared. Every process of the machine moves these, so on a "
               "shared machine only slab per socket is steady. Target: at most 256 bytes per idle "
               "connection for every single-loop model.")
    out.append("")
    out.append("| model | held | RSS before KiB | RSS at N KiB | server bytes/idle conn "
               "| ≤ 256 | kernel sockets | kernel TCP buffers bytes/conn "
               "| kernel slab bytes/conn | kernel slab bytes/socket | CPU µs/msg | p99 |")
    out.append("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    from render import not_ok_row, us  # render imports this module
    for name in servers:
        e = by.get((name, cell["id"]))
        if e is None:
            continue
        if e["status"] != "ok":
            out.append(not_ok_row(name, e, 10))
            continue
        i = e.get("idle") or {}
        per = i.get("bytes_per_idle_conn")

        def f(key, fmt="{:,.0f}"):
            return "-" if i.get(key) is None else fmt.format(i[key])
        out.append(f"| {name} | {cell['hold']:,} | {f('rss_before_kb')} | {f('rss_kb')} "
                   f"| {f('bytes_per_idle_conn')} "
                   f"| {'-' if per is None else 'yes' if per <= 256 else '**no**'} "
                   f"| {f('kernel_sockets')} | {f('kernel_tcp_mem_bytes_per_conn')} "
                   f"| {f('kernel_slab_bytes_per_conn')} | {f('kernel_slab_bytes_per_socket')} "
                   f"| {cpu_text(e)} | {us(e.get('p99_us'))} |")
    out.append("")


# ---------------------------------------------------------------- the plot

def plot(results, servers, outdir, term_png):
    """idle_cpu.{png,svg}: CPU µs per message against the connections open
    (N idle + 10 active), log-log, one line per server; noisy points ringed."""
    by = {(e["model"], e["cell"]): e for e in results}
    cells = sorted({(e["hold"], e["cell"]) for e in results if e.get("hold") is not None})
    if len(cells) < 2:
        return []
    data, ring = os.path.join(outdir, "idle_cpu.dat"), os.path.join(outdir, "idle_noisy.dat")
    with open(data, "w") as f, open(ring, "w") as g:
        f.write("conns " + " ".join(servers) + "\n")
        g.write("conns cpu\n")
        for hold, cid in cells:
            vals = []
            for s in servers:
                e = by.get((s, cid))
                v = e.get("cpu_us_per_msg") if e and e["status"] == "ok" else None
                vals.append("-" if v is None else f"{v:.6g}")
                if v is not None and e.get("noisy"):
                    g.write(f"{hold + 10} {v:.6g}\n")
            f.write(f"{hold + 10} " + " ".join(vals) + "\n")
    made = []
    for fmt in ("png", "svg"):
        if fmt == "png" and not term_png:
            continue
        out = os.path.join(outdir, f"idle_cpu.{fmt}")
        r = subprocess.run(
            ["gnuplot", "-e", f"datafile='{data}'; noisyfile='{ring}'; outfile='{out}'; "
             f"term='{term_png if fmt == 'png' else 'svg'}'; ncols={len(servers) + 1}",
             os.path.join(ROOT, "bench/idle.gp")], capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(out):
            log(f"warning: gnuplot failed for {out}: {r.stderr.strip()[:300]}")
        else:
            made.append(os.path.relpath(out, ROOT))
    return made
