"""figures: what each generated marker of the docs renders, from the record
(docs/results/record.json). docs/tour/render_docs.py finds the markers and
calls these; a new figure in the docs is one function here and one line in
BLOCKS or SPANS.

A block, `<!-- figures:NAME ARGS -->` ... `<!-- /figures -->`, gets the lines
BLOCKS[NAME](record, *ARGS) returns; a span, `<!-- figure:NAME ARGS -->` ...
`<!-- /figure -->` on one line, gets the text SPANS[NAME](record, *ARGS).
A figure the record marks noisy, or that its run could not measure, renders
as a word that says so, never as a number; so does a figure of a model the
record does not have yet (a model added since: the next `make record`
measures it)."""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAPTURES = os.path.join(ROOT, "docs", "results", "see")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from render import k, us  # noqa: E402  (the bench's own formats: 45.6k, 345 µs)

PING_PONG = ["c1", "c10", "c100", "c1000"]   # the tour's cells: 64 bytes, 1 to 1,000 clients


class Missing(Exception):
    """The record has no such figure: the marker names something it lacks."""


class Unmeasured(Missing):
    """The record has no run of the model at all: a model added since the
    record was made. Its figures render as UNMEASURED until `make record`."""


UNMEASURED = "not in the record yet"


def measured(rec, model):
    """Raises Unmeasured if the record never ran the model."""
    if not any(e["model"] == model for e in rec["results"]):
        raise Unmeasured("no run of %s" % model)


# ------------------------------------------------------------------ formats

def kib(x):
    return "%.1f MiB" % (x / 1024) if x >= 1024 else "%.0f KiB" % x


def cpu(x):
    return "%.2f µs" % x


def calls(x):
    return "%.1f" % x


# ------------------------------------------------------------------ lookups

def entry(rec, model, cell):
    """The record's entry of a model in a cell. A model or a cell the record
    has never measured (it came after the record was made) gives a stand-in
    that renders as UNMEASURED; a measured pair without an entry is Missing."""
    for e in rec["results"]:
        if e["model"] == model and e["cell"] == cell:
            return e
    if model not in rec["servers"] or cell not in [c["id"] for c in rec["meta"]["cells"]]:
        return dict(model=model, cell=cell, status="unmeasured")
    raise Missing("no %s entry in cell %s" % (model, cell))


def value(e, key, fmt):
    """A figure of an entry, or what stands in for it."""
    if e.get("status") == "unmeasured":
        return UNMEASURED
    if e.get("status") == "n/a":
        return "n/a"
    if e.get("status") != "ok":
        return "failed"
    if e.get("noisy"):
        return "noisy"
    if e.get(key) is None:
        raise Missing("%s has no %s in %s" % (e["model"], key, e["cell"]))
    return fmt(e[key])


def memory_entry(rec, model):
    for e in rec.get("memory_10k", []):
        if e["model"] == model:
            return e
    if model not in rec["servers"]:
        return dict(model=model, status="unmeasured")
    raise Missing("no 10,000-connection check of %s" % model)


def memory(rec, model, fmt):
    """A figure of a model's 10,000-connection check, or what stands in for it."""
    e = memory_entry(rec, model)
    if e.get("status") == "unmeasured":
        return UNMEASURED
    if e.get("status") != "ok":
        return "failed"
    if e.get("noisy"):
        return "noisy"
    return fmt(e)


def table_row(rec, model):
    row = rec["models_table"]["models"].get(model)
    if row is None:
        measured(rec, model)
        raise Missing("make models-table has no row for %s" % model)
    return row


def cpu_beyond(rec, model, against, cell):
    """What a message costs model beyond against, CPU µs, in one cell."""
    a, b = entry(rec, model, cell), entry(rec, against, cell)
    for e in (a, b):
        if e.get("status") != "ok" or e.get("noisy"):
            return value(e, "cpu_us_per_msg", str)
    return cpu(a["cpu_us_per_msg"] - b["cpu_us_per_msg"])


def cell_label(rec, cell):
    return next(c["label"] for c in rec["meta"]["cells"] if c["id"] == cell)


def ratio(rec, model, cell, key, against="baseline"):
    a, b = entry(rec, model, cell), entry(rec, against, cell)
    for e in (a, b):
        if e.get("status") != "ok" or e.get("noisy"):
            return value(e, key, str)
    return "%.2f" % (a[key] / b[key])


def gbench_cpu(rec, name):
    """The CPU time of one iteration of a gbench benchmark (make gbench), or
    the stand-in while the record predates the benchmark."""
    for b in (rec.get("gbench") or {}).get("benchmarks", []):
        if b.get("name") == name and b.get("run_type", "iteration") == "iteration":
            scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
            return "%.0f ns" % (b["cpu_time"] * scale)
    return UNMEASURED


# ------------------------------------------------------------------ spans

SPANS = {
    "date": lambda rec: rec["meta"]["date"][:10],
    "bench-time": lambda rec: "%dm%02ds" % divmod(round(rec["meta"]["elapsed_s"]), 60),
    "msgs": lambda rec, m, c: value(entry(rec, m, c), "msgs_per_sec", k),
    "p99": lambda rec, m, c: value(entry(rec, m, c), "p99_us", us),
    "cpu": lambda rec, m, c: value(entry(rec, m, c), "cpu_us_per_msg", cpu),
    "rss": lambda rec, m, c: value(entry(rec, m, c), "maxrss_kb", kib),
    "spread-cpu": lambda rec, name: us(spread_variant(rec, name.replace("_", " "))["cpu_us"]),
    "spread-stdev": lambda rec, name: "%.1f" % spread_variant(rec, name.replace("_", " "))["stdev"],
    "spread-minmax": lambda rec, name: spread_variant(rec, name.replace("_", " "))["spread"],
    "conn-rate": lambda rec, m: value(entry(rec, m, "churn"), "connections_per_sec", k),
    "conn-cpu": lambda rec, m: value(entry(rec, m, "churn"), "cpu_us_per_conn", us),
    "skew-median": lambda rec, m: value(entry(rec, m, "skew"), "msg_ratio_median", skew_ratio),
    "ratio": lambda rec, m, c, key, against="baseline": ratio(rec, m, c, key, against),
    "cpu-beyond": lambda rec, m, against, c: cpu_beyond(rec, m, against, c),
    "mem10k": lambda rec, m: memory(rec, m, lambda e: kib(e["maxrss_kb"])),
    # an external server has no summary: its connections and messages are
    # the ones the client held and had echoed (the check is ok only if all were)
    "mem10k-per-conn": lambda rec, m: memory(rec, m, lambda e: "%.2f KiB" % (
        (e["maxrss_kb"] - e.get("rss_before_kb", 0)) / (e["connections_seen"] or e["conns"]))),
    "mem10k-p99": lambda rec, m: memory(rec, m, lambda e: us(e["p99_us"])),
    "mem10k-cpu": lambda rec, m: memory(rec, m, lambda e: cpu(
        e["cpu_us_per_msg"] if e.get("cpu_us_per_msg") is not None
        else (e["server"]["user_s"] + e["server"]["sys_s"]) / e["messages"] * 1e6)),
    "calls-msg": lambda rec, m: calls(table_row(rec, m)["per_message"]["total"]),
    "calls-conn": lambda rec, m: calls(table_row(rec, m)["per_connection"]["total"]),
    "idle-kib": lambda rec, m: "%.1f KiB" % table_row(rec, m)["idle_memory_kib"],
    "gbench-cpu": gbench_cpu,
}


# ------------------------------------------------------------------ blocks

def machine(rec):
    """The record's date and machine line."""
    meta, m = rec["meta"], rec["meta"]["machine"]
    load = m.get("loadavg_at_start", ["?"])[0]
    return ["*Figures of record: `make bench` of %s UTC (%s mode, %d run(s) per cell), "
            "%d CPUs (%s), Linux %s, load %s at the start; %s. `make models-table` of %s. "
            "Rendered from docs/results/record.json by `make docs`.*"
            % (meta["date"][:16].replace("T", " "), meta["mode"]["name"], meta["mode"]["runs"],
               m["nproc"], m["cpu_model"], m["kernel"], load, meta["pinning"],
               rec["models_table"]["meta"]["date"][:10])]


def cells(rec, model):
    """A model's ping-pong cells: messages/s, p99, CPU per message."""
    out = ["| cell | msg/s | p99 | CPU per message |", "|---|--:|--:|--:|"]
    for c in PING_PONG:
        e = entry(rec, model, c)
        if e.get("status") == "n/a":
            continue
        out.append("| %s | %s | %s | %s |" % (
            cell_label(rec, c), value(e, "msgs_per_sec", k), value(e, "p99_us", us),
            value(e, "cpu_us_per_msg", cpu)))
    return out


FIGURES = {"msgs": ("msgs_per_sec", k), "p99": ("p99_us", us),
           "cpu": ("cpu_us_per_msg", lambda v: "%.2f" % v), "rss": ("maxrss_kb", kib)}


def matrix(rec, fig, *cell_ids):
    """Every server (rows) by cell (columns): the figure and its ratio to the
    baseline of the same cell, ± half the spread of messages/s."""
    key, fmt = FIGURES[fig]
    ids = cell_ids or [c["id"] for c in rec["meta"]["cells"]
                       if not c.get("neighbours") and not c.get("churn") and not c.get("skew")]
    out = ["| model | " + " | ".join(cell_label(rec, c) for c in ids) + " |",
           "|---|" + "---:|" * len(ids)]
    for name in rec["servers"]:
        row = []
        for c in ids:
            e = entry(rec, name, c)
            text = value(e, key, fmt)
            if text[0].isdigit() and name != "baseline":
                text += " (%s)" % ratio(rec, name, c, key)
            if fig == "msgs" and text[0].isdigit() and e.get("spread") is not None:
                text += " ±%.0f%%" % (e["spread"] * 50)
            row.append(text)
        out.append("| %s | %s |" % (name, " | ".join(row)))
    if fig == "msgs":  # how busy the machine was in each cell
        busy = [entry(rec, "baseline", c).get("interference") for c in ids]
        out.append("| *others' CPU* | %s |" % " | ".join(
            "*%.2f*" % b["others_cores"] if b else "-" for b in busy))
    return out


def ratios(rec, *models):
    """Cells (rows) by model: messages/s and CPU per message, each as a ratio
    to the baseline of the same cell."""
    ids = PING_PONG + ["d16"]
    out = ["| cell | " + " | ".join("%s msgs/s | %s CPU/msg" % (m, m) for m in models) + " |",
           "|---|" + "---:|---:|" * len(models)]
    for c in ids:
        row = []
        for m in models:
            row += [ratio(rec, m, c, "msgs_per_sec"), ratio(rec, m, c, "cpu_us_per_msg")]
        out.append("| %s | %s |" % (cell_label(rec, c), " | ".join(row)))
    return out


def spread_variant(rec, name):
    for v in rec["models_table"]["spread"]["variants"]:
        if v["name"] == name:
            return v
    raise Missing("no spread figures of %s" % name)


def spread(rec):
    """bench/spread.py's variants, as make models-table measured them."""
    s = rec["models_table"]["spread"]
    out = ["| variant | spread (min/max) | stdev | CPU per connection | per worker (%d connections) |"
           % s["connections"], "|---|---|--:|--:|---|"]
    for v in s["variants"]:
        out.append("| %s | %s | %s | %s | %s |" % (
            v["name"], v["spread"], "%.1f" % v["stdev"] if v["counts"] else "-", us(v["cpu_us"]),
            " ".join(str(c) for c in v["counts"]) or "-"))
    return out


def reuseport_hash(rec):
    """make models-table's SO_REUSEPORT trials: N listeners, M clients."""
    out = ["| workers | clients | trials with a worker left idle | mean min/max "
           "| worst worker (even share) | one trial |", "|--:|--:|--:|--:|--:|---|"]
    for c in rec["models_table"]["reuseport_hash"]:
        out.append("| %d | %s | %d of %d | %.2f | %d (%d) | %s |" % (
            c["workers"], "{:,}".format(c["clients"]), c["idle"], c["trials"], c["min_max"],
            c["worst"], c["clients"] // c["workers"], ", ".join(str(n) for n in c["one"])))
    return out


def churn(rec):
    out = ["| model | connections/s | CPU per connection | p99 |", "|---|--:|--:|--:|"]
    for name in rec["servers"]:
        e = entry(rec, name, "churn")
        if e.get("status") == "n/a":
            continue
        # an external server prints no summary: nothing counts the
        # connections its CPU was spent on (the client's rate is per window)
        conn_cpu = ("not counted (external)" if e.get("external") and e.get("cpu_us_per_conn") is None
                    else value(e, "cpu_us_per_conn", us))
        out.append("| %s | %s | %s | %s |" % (name, value(e, "connections_per_sec", k),
                                              conn_cpu, value(e, "p99_us", us)))
    return out


def neighbours(rec):
    out = ["| model | heavy msg/s | light p99 alone | light p99 beside | beside / alone |",
           "|---|--:|--:|--:|--:|"]
    for name in rec["servers"]:
        e = entry(rec, name, "noisy")
        if e.get("status") == "n/a":
            continue
        grow = (value(e, "light_p99_us", lambda v: "%.1f×" % (v / e["alone_p99_us"]))
                if e.get("alone_p99_us") else "-")
        out.append("| %s | %s | %s | %s | %s |" % (
            name, value(e, "heavy_msgs_per_sec", k), value(e, "alone_p99_us", us),
            value(e, "light_p99_us", us), grow))
    return out


def skew_ratio(r):
    return "a worker idle" if r is None else "%.2f" % r


def skew(rec, *models):
    """The skewed-load cell (bench/skew.py): messages per worker, max/min."""
    out = ["| model | trials | max/min, median | max/min, worst | messages per worker, each trial |",
           "|---|--:|--:|--:|---|"]
    for name in models:
        e = entry(rec, name, "skew")
        if e.get("status") != "ok":
            out.append("| %s | %s | | | |" % (name, value(e, "msg_ratio_median", str)))
            continue
        out.append("| %s | %d | %s | %s | %s |" % (
            name, len(e["trials"]), skew_ratio(e["msg_ratio_median"]),
            skew_ratio(e["msg_ratio_worst"]),
            "; ".join("/".join(str(m) for m in t["messages"]) for t in e["trials"])))
    return out


def memory_10k(rec):
    out = ["| model | peak RSS | per connection | p99 | CPU per message |",
           "|---|--:|--:|--:|--:|"]
    for e in rec.get("memory_10k", []):
        m = e["model"]
        out.append("| %s | %s | %s | %s | %s |" % (
            m, SPANS["mem10k"](rec, m), SPANS["mem10k-per-conn"](rec, m),
            SPANS["mem10k-p99"](rec, m), SPANS["mem10k-cpu"](rec, m)))
    return out


def which(figures):
    return ", ".join("%s %s" % (n, ("%d" % round(v)) if abs(v - round(v)) < 0.05 else "%.2g" % v)
                     for n, v in figures["calls"].items() if v >= 0.5)


def models_syscalls(rec):
    out = ["| model | per message | which | per connection | which |", "|---|--:|---|--:|---|"]
    for name, row in rec["models_table"]["models"].items():
        pc = row.get("per_connection")
        out.append("| [%s](models/%s.md) | %s | %s | %s | %s |" % (
            name, name, calls(row["per_message"]["total"]), which(row["per_message"]),
            calls(pc["total"]) if pc else "n/a", which(pc) if pc else
            "n/a: " + row["n/a"]["per_connection"]))
    return out


def hard_limit(model):
    """The "**Hard limit:**" paragraph of the model's page (prose, not a figure)."""
    with open(os.path.join(ROOT, "docs", "models", model + ".md")) as f:
        m = re.search(r"\*\*Hard limit:\*\* (.*?)(?:\n\n|\n\*|\n#)", f.read(), re.S)
    if not m:
        raise Missing("docs/models/%s.md has no **Hard limit:** paragraph" % model)
    return " ".join(re.sub(r"<!--.*?-->", "", m.group(1)).split())  # a span's text, not its marker


def models_memory(rec):
    out = ["| model | memory per idle connection | hard limit (what fails first) "
           "| CPU µs per message (1c / 100c / 1000c) | CPU per connection |",
           "|---|--:|---|--:|--:|"]
    for name, row in rec["models_table"]["models"].items():
        mem = ("%.1f KiB" % row["idle_memory_kib"] if "idle_memory_kib" in row
               else "n/a: " + row["n/a"]["idle_memory_kib"])
        per_msg = " / ".join(value(entry(rec, name, c), "cpu_us_per_msg", lambda v: "%.2f" % v)
                             for c in ("c1", "c100", "c1000"))
        conn = value(entry(rec, name, "churn"), "cpu_us_per_conn", us)
        out.append("| [%s](models/%s.md) | %s | %s | %s | %s |"
                   % (name, name, mem, hard_limit(name), per_msg, conn))
    return out


def models_sizes(rec):
    m = rec["models_table"]["meta"]
    return ["Per message: one connection, %d messages at ping-pong, strace attached to the "
            "server (and its children) once the connection was accepted. Per connection: the "
            "server started under `strace -f -c` (so a pool's workers are counted from their "
            "first call), %d clients each connect, echo one message, half-close and wait for "
            "the close; (that count - the count of the same server started and stopped with no "
            "client) / %d, minus one message's worth. Memory per idle connection: proportional "
            "set size of the server and its children before and after %d connections are opened "
            "and echoed once, / %d (user space only). %s, Linux %s."
            % (m["messages"], m["connections"], m["connections"], m["idle"], m["idle"],
               m["strace"], m["kernel"])]


def scaling(rec):
    """The readiness-wait micro-benchmark beside TLPI Table 63-9."""
    if not rec.get("gbench"):
        raise Missing("the record has no gbench figures")
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(rec["gbench"], f)
        f.flush()
        text = subprocess.run([os.path.join(ROOT, "bench", "gbench", "kerrisk_table.sh"), f.name],
                              capture_output=True, text=True, check=True).stdout
    return text.rstrip("\n").split("\n")


def see(rec, model):
    """The stored capture of `make see MODEL=model` (make docs CAPTURE=1)."""
    path = os.path.join(CAPTURES, model + ".txt")
    if not os.path.exists(path) and model not in rec["servers"]:
        return ["*%s: the capture of `make see MODEL=%s` is stored with the record "
                "(make docs CAPTURE=1).*" % (UNMEASURED.capitalize(), model)]
    if not os.path.exists(path):
        raise Missing("no capture %s (make docs CAPTURE=1)" % os.path.relpath(path, ROOT))
    with open(path) as f:
        return ["```"] + f.read().rstrip("\n").split("\n") + ["```"]


BLOCKS = {
    "machine": machine,
    "cells": cells,
    "matrix": matrix,
    "ratios": ratios,
    "churn": churn,
    "spread": spread,
    "reuseport-hash": reuseport_hash,
    "neighbours": neighbours,
    "skew": skew,
    "memory-10k": memory_10k,
    "models-syscalls": models_syscalls,
    "models-memory": models_memory,
    "models-sizes": models_sizes,
    "scaling": scaling,
    "see": see,
}
