#!/usr/bin/env python3
"""check_results.py [RESULTS_DIR]: CI smoke check of what `make bench` wrote.

Checks, in RESULTS_DIR (default bench/results next to this script):
  - results.json exists and parses;
  - it covers every model of models/models.list plus the baseline, in every
    cell it lists;
  - every cell is either "n/a" (with a reason) or "ok" and verified: each run's
    client exited 0 and reported errors == 0;
  - the 10,000-connection memory checks, if any, are ok;
  - the skewed-load cell's entries that are ok have trials that all ran and
    the max/min of messages per worker;
  - an idle-connection cell (bench/idle.py) that is ok has its CPU per
    message over the window and its RSS; a noisy entry says why;
  - results.csv (one row per cell), results.md, and the plots
    throughput.{png,svg} and p99.{png,svg} (and idle_cpu.{png,svg} when two
    idle cells ran) exist and look like what they claim.
Prints every problem and exits 1 if there is any, else prints a one-line
summary and exits 0. Standard library only.
"""
import csv
import json
import os
import sys

from cells import read_models

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "results")
    problems = []

    def need_file(name):
        path = os.path.join(out, name)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            problems.append(f"{name}: missing or empty")
            return None
        return path

    doc = read_json(need_file("results.json"), problems)
    results = check_json(doc, problems) if doc is not None else []
    check_csv(need_file("results.csv"), results, problems)
    need_file("results.md")
    plots = ["throughput", "p99"]
    if len({e.get("hold") for e in results if e.get("hold") is not None}) > 1:
        plots.append("idle_cpu")
    for plot in plots:
        check_plot(need_file(f"{plot}.png"), need_file(f"{plot}.svg"), plot, problems)

    if problems:
        for p in problems:
            print(f"check_results: {p}", file=sys.stderr)
        print(f"check_results: FAILED ({len(problems)} problem(s)) in {out}", file=sys.stderr)
        return 1
    ok = sum(1 for e in results if e.get("status") == "ok")
    na = sum(1 for e in results if e.get("status") == "n/a")
    print(f"check_results: ok: {ok} cells verified, {na} n/a, "
          f"{len(doc.get('memory_10k') or [])} memory checks; csv, md, png and svg present")
    return 0


def read_json(path, problems):
    if not path:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        problems.append(f"results.json: not JSON: {e}")
    return None


def check_json(doc, problems):
    """Every model in every cell, each verified or n/a; returns the results."""
    results = doc.get("results") or []
    if not results:
        problems.append("results.json: no results")
    models = [m["name"] for m in read_models()]
    cells = [c["id"] for c in doc.get("meta", {}).get("cells", [])]
    have = {(e.get("model"), e.get("cell")) for e in results}
    for m in models + ["baseline"]:
        for c in cells:
            if (m, c) not in have:
                problems.append(f"{m} {c}: not measured")
    # an external server's (make bench SERVER=...) failure is a finding about
    # that server, reported in the tables; echolab's own must all hold
    for e in results:
        if not e.get("external"):
            check_entry(e, problems)
    for e in doc.get("memory_10k") or []:
        if e.get("status") not in ("ok", "n/a") and not e.get("external"):
            problems.append(f"{e.get('model')} 10k connections: {e.get('status')}: "
                            f"{e.get('reason', '')}")
    return results


def check_entry(e, problems):
    name = f"{e.get('model')} {e.get('label', e.get('cell'))}"
    status = e.get("status")
    if status == "n/a":
        if not e.get("reason"):
            problems.append(f"{name}: n/a without a reason")
        return
    if status != "ok":
        problems.append(f"{name}: {status}: {e.get('reason', '')}")
        return
    if e.get("trials") is not None:   # the skewed-load cell (skew.py): trials, not runs
        if not e["trials"] or any("failure" in t for t in e["trials"]):
            problems.append(f"{name}: ok but a trial failed or none ran")
        if "msg_ratio_median" not in e:
            problems.append(f"{name}: no messages-per-worker figure")
        return
    runs = e.get("runs") or []
    if not runs:
        problems.append(f"{name}: ok but no runs")
    for i, r in enumerate(runs, 1):
        if r.get("exit") != 0:
            problems.append(f"{name} run {i}: client exit status {r.get('exit')}")
        if r.get("errors") != 0:
            problems.append(f"{name} run {i}: errors = {r.get('errors')} "
                            f"{r.get('error_detail', '')}")
        if "failure" in r:
            problems.append(f"{name} run {i}: {r['failure']}")
        heavy = r.get("heavy")  # the noisy-neighbours cell's second client
        if heavy is not None and (heavy.get("exit") != 0 or heavy.get("errors") != 0):
            problems.append(f"{name} run {i}: heavy clients: exit status {heavy.get('exit')}, "
                            f"errors = {heavy.get('errors')}")
    if e.get("errors") != 0:
        problems.append(f"{name}: errors = {e.get('errors')}")
    missed_all = e.get("sample_missed") == len(runs) and e.get("noisy")
    if e.get("hold") is not None and not missed_all and (
            e.get("cpu_us_per_msg") is None or not (e.get("idle") or {}).get("rss_kb")):
        problems.append(f"{name}: an idle-connection cell without its windowed CPU per "
                        "message or RSS (and not marked noisy for a missed sample)")
    if e.get("noisy") and not e.get("noisy_reason"):
        problems.append(f"{name}: noisy without a reason")
    if not e.get("msgs_per_sec"):
        problems.append(f"{name}: no throughput figure")


def check_csv(path, results, problems):
    if not path:
        return
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if results and len(rows) != len(results):
        problems.append(f"results.csv: {len(rows)} rows for {len(results)} results")
    external = {e.get("model") for e in results if e.get("external")}
    for row in rows:
        if row.get("status") not in ("ok", "n/a") and row.get("model") not in external:
            problems.append(f"results.csv: {row.get('model')} {row.get('cell')}: "
                            f"{row.get('status')}")


def check_plot(png, svg, plot, problems):
    if png:
        with open(png, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                problems.append(f"{plot}.png: not a PNG")
    if svg:
        with open(svg, errors="replace") as f:
            if "<svg" not in f.read(4096):
                problems.append(f"{plot}.svg: not an SVG")


if __name__ == "__main__":
    sys.exit(main())
