"""render: make bench's entries as files: results.md (the tables, also printed
on stdout), results.csv, results.json and the gnuplot plots."""
import json
import os
import shutil
import statistics
import subprocess

from cells import (BASELINE, CELLS, MEM_CONNS, MEM_RATE, MEM_TARGET_KB, PLOT_CELLS, ROOT,
                   TARGETS, duration_of, warmup_of)
from progress import log
import idle_render
import neighbours
import skew
import noise


def scaled(x, units):
    """x in the first unit it reaches: units are (threshold, divisor, format),
    largest first; the last one takes whatever is left."""
    if x is None:
        return "-"
    for threshold, divisor, fmt in units[:-1]:
        if x >= threshold:
            return fmt % (x / divisor)
    return units[-1][2] % (x / units[-1][1])


def k(x):
    """A count: 1.23M, 45.6k, 789."""
    return scaled(x, ((1e6, 1e6, "%.2fM"), (1e3, 1e3, "%.1fk"), (0, 1, "%.0f")))


def us(x):
    """Microseconds: 12 ms, 1.2 ms, 345 µs, 6.7 µs."""
    return scaled(x, ((10000, 1000, "%.0f ms"), (1000, 1000, "%.1f ms"), (100, 1, "%.0f µs"),
                      (0, 1, "%.1f µs")))


def ratio(v, b):
    return None if v is None or not b else v / b


# A run's own value of the figures a target may compare run by run
RUN_FIGURES = {"msgs_per_sec": lambda r: r["messages_per_sec"],
               "light_p99_us": lambda r: r["latency_us"]["p99"]}


def paired_ratio(e, a, fig):
    """The median of run k's figure over run k's, for two entries of one cell:
    a cell runs every model's first run, then every model's second, so run k
    of each met the machine at the same pace, which swings by a third within
    minutes on two shared cores. None when the runs cannot be paired."""
    runs_e, runs_a, value = e.get("runs"), a.get("runs"), RUN_FIGURES.get(fig)
    if value is None or not runs_e or not runs_a or len(runs_e) != len(runs_a):
        return None
    try:
        return statistics.median(value(x) / value(y) for x, y in zip(runs_e, runs_a))
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def by_key(results):
    """{(model, cell id): entry}"""
    return {(e["model"], e["cell"]): e for e in results}


# ---------------------------------------------------------------- results.md

def shown_names(servers, meta, sep=" "):
    """{server: its name in the tables}: an external one marked so."""
    external = meta.get("external") or {}
    return {n: f"{n}{sep}(external)" if n in external else n for n in servers}


def markdown(results, mem, servers, cells, meta):
    by = by_key(results)
    out = header(meta)
    shown = shown_names(servers, meta)
    mode = meta["mode"]
    all_cells = cells
    cells = [c for c in cells
             if not neighbours.is_neighbours(c) and not c.get("idle") and not skew.is_skew(c)]
    figure_table(out, by, servers, cells, "Throughput: messages/s (ratio to baseline)",
                 ("Median of the runs, client count over the measured window. "
                  "± is half the spread (max - min) / median of the runs." if mode["runs"] > 1 else
                  "One run per cell: no spread.") +
                 " *others' CPU*: cores' worth of CPU that other processes used on the CPUs "
                 "we run on while the cell ran (busy time from /proc/stat minus our own); "
                 "the larger, the less the cell's figures mean. " + noise.NOTE,
                 "msgs_per_sec", k, shown, show_spread=True)
    figure_table(out, by, servers, cells, "p99 latency (ratio to baseline)",
                 "Median of the runs' 99th percentiles, closed loop: send to echo; ± half "
                 "their spread.", "p99_us", us, shown, show_spread=True)
    figure_table(out, by, servers, cells, "CPU µs per message (ratio to baseline)",
                 "Server (user + sys) over its whole life / messages echoed over its whole life "
                 "(bytes echoed / size; both from the SIGTERM summary). Kernel time included, as "
                 "the kernel charges it to the process (see docs/BENCHMARKS.md).",
                 "cpu_us_per_msg", lambda v: "-" if v is None else f"{v:.2f}", shown)
    figure_table(out, by, servers, cells, "Peak memory: maxrss KiB (ratio to baseline)",
                 "maxrss_kb of the summary line (fork: the larger of parent and largest child).",
                 "maxrss_kb", lambda v: "-" if v is None else f"{v:.0f}", shown)
    idle_render.tables(out, by, servers, all_cells)
    targets_table(out, by, all_cells)
    churn_table(out, by, servers, cells, mode, shown)
    neighbours.table(out, by, servers, all_cells, shown)
    skew.table(out, by, servers, all_cells, shown)
    failures(out, results)
    if mem:
        memory_table(out, mem, mode, shown_names([e["model"] for e in mem], meta))
        lines_table(out, mem, shown_names([e["model"] for e in mem], meta))
    cpu_use(out, results)
    return "\n".join(out)


def header(meta):
    """The title and the paragraph that says how, when and where."""
    mode, m = meta["mode"], meta["machine"]
    later = (f", {mode['rewarmup']:g} s before later runs"
             if mode["runs"] > 1 and mode["rewarmup"] != mode["warmup"] else "")
    return [f"# echolab benchmark ({mode['name']}: {mode['runs']} run(s) per cell of "
            f"{mode['duration']:g} s measured, {mode['warmup']:g} s warm-up before the first{later})",
            "",
            f"{meta['date']}; {m['nproc']} CPUs ({m['cpu_model']}), kernel {m['kernel']}; "
            f"{meta['pinning']}; load average (1, 5, 15 min) {m['loadavg_at_start']} at the "
            f"start, {m.get('loadavg_at_end')} at the end; {meta['elapsed_s']:.0f} s.",
            "Ratio in parentheses: model / baseline in the same cell of the same run. "
            "n/a: the model cannot take the cell (reason below)."] + external_note(meta) + [""]


def external_note(meta):
    """What the external servers are and which figures they cannot give."""
    external = meta.get("external") or {}
    if not external:
        return []
    return ["External servers (make bench SERVER=...): " + "; ".join(
        f"{n}: `{c}`" for n, c in external.items()) + ". They print no summary: their CPU "
        "time and peak memory (VmHWM) are read from /proc just before SIGTERM, and the "
        "figures that need their own message or connection count (CPU per message, per "
        "connection) are n/a."]


def figure_table(out, by, servers, cells, title, note, fig, fmt, shown, show_spread=False):
    """One figure, a row per server and a column per cell, with its ratio to
    the baseline (and, for throughput, the spread and the others' CPU row).
    Nothing when only the cells with their own tables ran."""
    if not cells:
        return
    out.append(f"## {title}")
    out.append("")
    if note:
        out.append(note)
        out.append("")
    out.append("| model | " + " | ".join(c["label"] for c in cells) + " |")
    out.append("|---|" + "---:|" * len(cells))
    for name in servers:
        row = [shown[name]] + [figure_cell(by.get((name, c["id"])), by.get((BASELINE, c["id"])),
                                           fig, fmt, show_spread) for c in cells]
        out.append("| " + " | ".join(row) + " |")
    if show_spread and fig == "msgs_per_sec":
        row = ["*others' CPU*"]
        for c in cells:
            b = by.get((BASELINE, c["id"]))
            i = b.get("interference") if b else None
            row.append("-" if not i else f"*{i['others_cores']:.2f}*")
        out.append("| " + " | ".join(row) + " |")
    out.append("")


def figure_cell(e, b, fig, fmt, show_spread):
    if e is None:
        return ""
    if e["status"] == "n/a":
        return "n/a"
    if e["status"] != "ok":
        return "**FAILED**"
    v = e.get(fig)
    if v is None and e.get("external"):
        return "n/a"
    bv = b.get(fig) if b and b["status"] == "ok" else None
    rt = ratio(v, bv)
    s = fmt(v) + (f" ({rt:.2f})" if rt is not None and e["model"] != BASELINE else "")
    spread = noise.spread_of(e, fig)
    if show_spread and spread is not None:
        s += f" ±{spread * 50:.0f}%"
    return s + (f" {noise.NOISY_MARK}" if e.get("noisy") else "")


def targets_table(out, by, cells):
    """The TARGETS whose models ran, cell by cell: the ratio and whether it is met."""
    ids = {c["id"]: c["label"] for c in cells}
    rows = []
    for t in TARGETS:
        for cid in t["cells"]:
            acid = t.get("against_cell", cid)
            e, a = by.get((t["model"], cid)), by.get((t["against"], acid))
            if cid not in ids or e is None or a is None:
                continue
            where = ids[cid] + (f" / {ids.get(acid, acid)}" if acid != cid else "")
            if e["status"] != "ok" or a["status"] != "ok":
                rows.append(f"| {t['what']} | {where} | - | {e['status']}/{a['status']} |")
                continue
            paired = paired_ratio(e, a, t["fig"]) if acid == cid else None
            r = paired if paired is not None else ratio(e.get(t["fig"]), a.get(t["fig"]))
            if r is None:
                continue
            if "at_least" in t:
                met = "yes" if r >= t["at_least"] else "**no**"
            else:
                met = "yes" if r <= t["at_most"] else "**no**"
            # the ratio's spread: the two figures' half-spreads added
            spreads = [noise.spread_of(x, t["fig"]) for x in (e, a)]
            pm = (f" ±{sum(s or 0 for s in spreads) * 50:.0f}%"
                  if any(s is not None for s in spreads) else "")
            mark = f" {noise.NOISY_MARK}" if e.get("noisy") or a.get("noisy") else ""
            rows.append(f"| {t['what']} | {where} | {r:.2f}{pm}{mark} | {met} |")
    if not rows:
        return
    out.append("## Targets")
    out.append("")
    out.append("Ratios in the same cell of the same run (the median of run k over run k: "
               "the runs of a cell are interleaved, so each pair met the machine at one "
               "pace), or of the same model in two cells (cell / against, their medians), "
               "± the two figures' half-spreads added (docs/BENCHMARKS.md says what a missed "
               "one pays for). " + noise.NOTE)
    out.append("")
    out.append("| target | cell | ratio | met |")
    out.append("|---|---|---:|---|")
    out.extend(rows)
    out.append("")


def not_ok_row(name, e, columns):
    """A table row for an entry that is n/a or FAILED: its status, then
    `columns` empty cells."""
    return (f"| {name} | {'n/a' if e['status'] == 'n/a' else '**FAILED**'} |"
            + " |" * columns)


def churn_table(out, by, servers, cells, mode, shown):
    """UNP Figure 30.1's table: what a connection costs each server."""
    cell = next((c for c in cells if c.get("churn")), None)
    if not cell:
        return
    base = by.get(("iterative", cell["id"]))
    base_cpu = base.get("cpu_us_per_conn") if base and base["status"] == "ok" else None
    out.append("## Connection churn: the cost of a connection (UNP Figure 30.1)")
    out.append("")
    out.append(f"{cell['conns']} client loops, each: connect, one {cell['size']}-byte message, "
               "its echo checked, close (echo-client --load --churn). CPU per connection: the "
               "server's user + sys time over its whole life, reaped children included, / the "
               "connections it accepted (warm-ups included). *Over iterative*: minus the "
               "iterative server's CPU per connection, which does nothing per connection but "
               "accept, serve and close: UNP's \"process control CPU time\". Runs trimmed to "
               f"{duration_of(mode, cell):g} s measured after at most "
               f"{warmup_of(mode, 0, cell):g} s of warm-up.")
    out.append("")
    out.append("| model | connections/s | CPU µs per connection | over iterative "
               "| p99 connection time |")
    out.append("|---|---:|---:|---:|---:|")
    for name in servers:
        e = by.get((name, cell["id"]))
        if e is None:
            continue
        if e["status"] != "ok":
            out.append(not_ok_row(shown[name], e, 3))
            continue
        cpu = e.get("cpu_us_per_conn")
        over = cpu - base_cpu if cpu is not None and base_cpu is not None else None
        none = "n/a" if e.get("external") else "-"
        out.append(f"| {shown[name]} | {k(e.get('connections_per_sec'))} | "
                   f"{none if cpu is None else f'{cpu:.1f}'} | "
                   f"{none if over is None else f'{over:+.1f}'} | {us(e.get('p99_us'))} |")
    out.append("")


def failures(out, results):
    """The cells that were n/a or FAILED, with why."""
    notes = [(e["model"], e["label"], e["status"], e["reason"]) for e in results
             if e["status"] != "ok"]
    if notes:
        out.append("## n/a and failures")
        out.append("")
        for model, label, status, reason in notes:
            out.append(f"- {model}, {label}: {status}: {reason}")
        out.append("")


def memory_table(out, mem, mode, shown):
    """The 10,000-connection checks: peak memory under a low open-loop load."""
    out.append(f"## {MEM_CONNS:,} connections open: peak server memory")
    out.append("")
    out.append(f"Open loop at {MEM_RATE:,} messages/s in total (about one message per "
               f"connection per second), {mode['mem_warmup']:g} s + "
               f"{mode['mem_duration']:g} s. Target for epoll and libev: under 16 MiB.")
    out.append("")
    out.append("| model | status | maxrss KiB | MiB | KiB per connection | under 16 MiB "
               "| p99 latency | CPU µs/msg incl. accepts |")
    out.append("|---|---|---:|---:|---:|---|---:|---:|")
    for e in mem:
        kb = e.get("maxrss_kb")
        cpu = e.get("cpu_us_per_msg")
        status = e["status"] + (": " + e["reason"] if e["reason"] else "")
        cols = [shown[e["model"]], status, "-" if kb is None else f"{kb}",
                "-" if kb is None else f"{kb / 1024:.1f}",
                "-" if kb is None else f"{kb / MEM_CONNS:.2f}",
                "-" if kb is None else ("yes" if kb < MEM_TARGET_KB else "NO"),
                us(e.get("p99_us")),
                ("n/a" if e.get("external") else "-") if cpu is None else f"{cpu:.1f}"]
        out.append("| " + " | ".join(cols) + " |")
    out.append("")


def lines_table(out, mem, shown):
    """The same servers' VmRSS idle and holding 10,000 unfinished lines."""
    out.append(f"### {MEM_CONNS:,} connections: idle, then each holding a 100-byte "
               f"unfinished line")
    out.append("")
    out.append("Server VmRSS (KiB) of a fresh server: before any client, with every "
               "connection open and idle, with each holding 100 bytes of a line (read by "
               "the server, not yet complete), peak (the summary's maxrss_kb or a larger "
               "sample), and 2.5 s after all left.")
    out.append("")
    out.append("| model | status | before | idle | 100-byte lines | peak | after |")
    out.append("|---|---|---:|---:|---:|---:|---:|")
    for e in mem:
        if "lines_status" not in e:
            continue
        st = e["lines_status"] + (": " + e["lines_reason"] if e.get("lines_reason") else "")
        cols = [shown[e["model"]], st] + ["-" if e.get(key) is None else str(e[key]) for key in (
            "rss_before_kb", "rss_idle_kb", "rss_lines_kb", "rss_peak_kb", "rss_after_kb")]
        out.append("| " + " | ".join(cols) + " |")
    out.append("")


def cpu_use(out, results):
    """How busy client and server were: a client near 1.0 is the limit."""
    client = [e["client_cpu_util"] for e in results if e.get("client_cpu_util") is not None]
    server = [e["server_cpu_util"] for e in results if e.get("server_cpu_util") is not None]
    if client and server:
        out.append(f"CPU use while loaded, as a fraction of one core (user + system time): "
                   f"client {min(client):.2f} to {max(client):.2f} (median of its runs, "
                   f"per cell), server {min(server):.2f} to {max(server):.2f} (its CPU time over "
                   f"its clients' wall time).")
        out.append("")


# ---------------------------------------------------------------- results.csv

CSV_FIELDS = ["model", "cell", "label", "conns", "size", "depth", "status", "reason", "runs",
              "msgs_per_sec", "msgs_per_sec_min", "msgs_per_sec_max", "spread", "ratio_msgs",
              "mb_per_sec", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "ratio_p99",
              "cpu_us_per_msg", "ratio_cpu", "maxrss_kb", "ratio_maxrss", "errors",
              "client_messages", "server_messages_echoed", "client_cpu_util", "server_cpu_util",
              "others_cpu_cores", "connections_per_sec", "cpu_us_per_conn",
              "alone_p50_us", "alone_p99_us", "heavy_msgs_per_sec", "hold", "cpu_spread",
              "p99_spread", "noisy", "noisy_reason", "msg_ratio_median", "msg_ratio_worst",
              "idle_trials"]


def csv_value(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\n') else s


def write_csv(path, results):
    by = by_key(results)
    with open(path, "w") as f:
        f.write(",".join(CSV_FIELDS) + "\n")
        for e in results:
            b = by.get((BASELINE, e["cell"]), {})
            row = dict(e, runs=len(e.get("runs") or e.get("trials") or []),
                       ratio_msgs=ratio(e.get("msgs_per_sec"), b.get("msgs_per_sec")),
                       ratio_p99=ratio(e.get("p99_us"), b.get("p99_us")),
                       ratio_cpu=ratio(e.get("cpu_us_per_msg"), b.get("cpu_us_per_msg")),
                       ratio_maxrss=ratio(e.get("maxrss_kb"), b.get("maxrss_kb")),
                       others_cpu_cores=(e.get("interference") or {}).get("others_cores"))
            f.write(",".join(csv_value(row.get(key)) for key in CSV_FIELDS) + "\n")


# ---------------------------------------------------------------- plots

PLOTS = (("msgs_per_sec", "throughput", "messages/s (median)",
          "64-byte ping-pong: throughput against connections"),
         ("p99_us", "p99", "p99 latency, µs (median)",
          "64-byte ping-pong: p99 latency against connections"))


def gnuplot_png_terminal():
    for term in ("pngcairo", "png"):
        r = subprocess.run(["gnuplot", "-e", f"set terminal {term}"], capture_output=True)
        if r.returncode == 0 and not r.stderr.strip():
            return term
    return None


def plots(results, servers, outdir, shown):
    """messages/s and p99 against connections (64-byte ping-pong), PNG and SVG."""
    if not shutil.which("gnuplot"):
        log("warning: gnuplot not found; no plots")
        return []
    made = []
    png = gnuplot_png_terminal()
    made += idle_render.plot(results, servers, outdir, png)
    results = [e for e in results if e.get("hold") is None]
    for fig, name, ylabel, title in PLOTS:
        data = os.path.join(outdir, f"{name}.dat")
        write_plot_data(data, by_key(results), servers, fig, shown)
        for fmt in ("png", "svg"):
            if fmt == "png" and not png:
                log("warning: gnuplot has no png terminal; no PNG plots")
                continue
            out = os.path.join(outdir, f"{name}.{fmt}")
            term = png if fmt == "png" else "svg"
            r = subprocess.run(
                ["gnuplot", "-e",
                 f"datafile='{data}'; noisyfile='{data}.noisy'; outfile='{out}'; term='{term}'; "
                 f"ylabel='{ylabel}'; "
                 f"plottitle='{title}'; ncols={len(servers) + 1}; logy={1 if fig == 'p99_us' else 0}",
                 os.path.join(ROOT, "bench/plot.gp")], capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(out):
                log(f"warning: gnuplot failed for {out}: {r.stderr.strip()[:300]}")
            else:
                made.append(os.path.relpath(out, ROOT))
    return made


def write_plot_data(path, by, servers, fig, shown):
    """A column per server, a row per PLOT_CELLS cell (its connections first);
    beside it, path's .noisy file: the noisy points, which plot.gp rings."""
    conns = {c["id"]: c["conns"] for c in CELLS}
    with open(path, "w") as f, open(path + ".noisy", "w") as g:
        f.write("conns " + " ".join(shown[s] for s in servers) + "\n")
        g.write("conns value\n")
        for cid in PLOT_CELLS:
            vals = []
            for s in servers:
                e = by.get((s, cid))
                v = e.get(fig) if e and e["status"] == "ok" else None
                vals.append("-" if v is None else f"{v:.6g}")
                if v is not None and e.get("noisy"):
                    g.write(f"{conns[cid]} {v:.6g}\n")
            f.write(f"{conns[cid]} " + " ".join(vals) + "\n")


# ---------------------------------------------------------------- all of them

def write_outputs(out, meta, servers, results, mem):
    """results.md, results.csv, the plots, results.json; the tables on stdout."""
    # an external server's failure is a finding about it, not about echolab
    failed = [e for e in results + mem if e["status"] == "FAILED" and not e.get("external")]
    external_failed = [e for e in results + mem if e["status"] == "FAILED" and e.get("external")]
    doc = dict(meta=meta, servers=servers, results=results, memory_10k=mem,
               failed=len(failed), external_failed=len(external_failed), ok=not failed)

    def write_json():   # first of all, so that a run is never lost to a later step
        with open(os.path.join(out, "results.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    write_json()
    md = markdown(results, mem, servers, meta["cells"], meta)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md + "\n")
    write_csv(os.path.join(out, "results.csv"), results)
    meta["plots"] = plots(results, servers, out, shown_names(servers, meta, sep=""))
    write_json()
    print(md, flush=True)
    log(f"bench: {meta['elapsed_s']:.0f} s; results in {os.path.relpath(out, ROOT)}/")
    for e in external_failed:
        log(f"FAILED (external): {e['model']} {e.get('label', 'memory')}: {e['reason']}")
    if failed:
        for e in failed:
            log(f"FAILED: {e['model']} {e.get('label', 'memory')}: {e['reason']}")
        return 1
    return 0


def render_only(out):
    """Rewrites the tables, CSV and plots from an existing results.json."""
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    return write_outputs(out, doc["meta"], doc["servers"], doc["results"], doc["memory_10k"])
