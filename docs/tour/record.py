#!/usr/bin/env python3
"""record.py: the results of record, docs/results/record.json, and a run
beside them.

  record.py promote    copies the latest run (bench/results/results.json, with
                       the figures make models-table added to it, and
                       gbench.json) into docs/results/record.json: what
                       `make record` does after measuring. The runs' raw
                       reports are left out (the medians, spreads and server
                       summaries stay); the record says when and where.
  record.py compare    prints the latest run's figures beside the record's, cell
                       by cell (what `make bench` prints at its end), and writes
                       it to bench/results/compare.md.

The docs quote the record only: docs/tour/render_docs.py (make docs) renders
every figure from it.
"""
import argparse
import datetime
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(ROOT, "bench", "results")
RECORD = os.path.join(ROOT, "docs", "results", "record.json")
from figures import k, us  # noqa: E402  (beside this file)


def load(path):
    with open(path) as f:
        return json.load(f)


def without_runs(entries):
    """Entries without their runs' raw client reports (medians stay)."""
    return [{key: v for key, v in e.items() if key not in ("runs", "run")}
            if isinstance(e, dict) else e for e in entries]


def promote(run_dir, record_path):
    """The run of run_dir as the record; an error message, or None."""
    path = os.path.join(run_dir, "results.json")
    if not os.path.exists(path):
        return "no run to promote: %s is missing (make bench first)" % os.path.relpath(path)
    run = load(path)
    if "results" not in run:
        return "%s holds no bench run (make bench first)" % os.path.relpath(path)
    if run["meta"]["mode"].get("name") != "default" or run["meta"].get("partial"):
        return ("the latest run is not a full make bench (mode %s): the record takes a full one"
                % run["meta"]["mode"].get("name"))
    if "models_table" not in run:
        return "the latest run has no make models-table figures: run make models-table, then this"
    gbench = os.path.join(run_dir, "gbench.json")
    record = dict(
        promoted=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        meta=run["meta"], servers=run["servers"], results=without_runs(run["results"]),
        memory_10k=without_runs(run.get("memory_10k", [])), models_table=run["models_table"],
        gbench=load(gbench) if os.path.exists(gbench) else {})
    for key, value in run.items():  # what later bench versions add (new families of cells)
        record.setdefault(key, without_runs(value) if isinstance(value, list) else value)
    record.pop("ok", None)
    record.pop("failed", None)
    failed = [e for e in record["results"] + record["memory_10k"] if e.get("status") == "FAILED"]
    if failed:
        print("record: %d cell(s) FAILED in this run; the docs show them as \"failed\": %s"
              % (len(failed), ", ".join("%s %s" % (e["model"], e.get("cell", "10k"))
                                        for e in failed)), file=sys.stderr)
    os.makedirs(os.path.dirname(record_path), exist_ok=True)
    with open(record_path + ".new", "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    os.replace(record_path + ".new", record_path)
    return None


def figure(e, key, fmt):
    if e is None:
        return "-"
    if e.get("status") != "ok":
        return e.get("status", "-")
    if e.get("noisy"):
        return "noisy"
    return fmt(e.get(key))


COMPARED = [("msgs_per_sec", "messages/s", k), ("p99_us", "p99", us),
            ("cpu_us_per_msg", "CPU µs per message", lambda v: "-" if v is None else "%.2f" % v)]


def compare(run, record):
    """Markdown: every cell of the run, each figure as "yours / record"."""
    mine = {(e["model"], e["cell"]): e for e in run["results"]}
    theirs = {(e["model"], e["cell"]): e for e in record["results"]}
    cells = [c for c in run["meta"]["cells"] if any(key[1] == c["id"] for key in mine)]
    rm = record["meta"]["machine"]
    out = ["# Your run beside the record", "",
           "Each cell: your figure / the record's (docs/results/record.json: %s, %d CPUs %s, "
           "Linux %s). A ratio to the baseline of the same run travels better across machines "
           "than a figure: see docs/BENCHMARKS.md." % (record["meta"]["date"], rm["nproc"],
                                                      rm["cpu_model"], rm["kernel"]), ""]
    for key, title, fmt in COMPARED:
        out += ["## %s" % title, "", "| model | " + " | ".join(c["label"] for c in cells) + " |",
                "|---|" + "---:|" * len(cells)]
        for name in run["servers"]:
            row = ["%s / %s" % (figure(mine.get((name, c["id"])), key, fmt),
                                figure(theirs.get((name, c["id"])), key, fmt)) for c in cells]
            out.append("| %s | %s |" % (name, " | ".join(row)))
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["promote", "compare"])
    ap.add_argument("--run", default=RUN, help="the run's directory (default: %(default)s)")
    ap.add_argument("--record", default=RECORD, help="the record (default: %(default)s)")
    a = ap.parse_args()
    if a.what == "promote":
        trouble = promote(a.run, a.record)
        if trouble:
            print("record: " + trouble, file=sys.stderr)
            return 1
        print("record: %s is now the run of %s" % (os.path.relpath(a.record),
                                                   load(a.record)["meta"]["date"]))
        return 0
    path = os.path.join(a.run, "results.json")
    if not os.path.exists(a.record) or not os.path.exists(path):
        print("record: nothing to compare (%s or %s missing)" % (a.record, path), file=sys.stderr)
        return 1
    text = compare(load(path), load(a.record))
    with open(os.path.join(a.run, "compare.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
