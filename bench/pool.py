#!/usr/bin/env python3
"""pool.py RESULTS.json...: ratios to the baseline pooled over several bench runs.

One make bench takes three runs per cell; on a machine others are using, that
is few. Keep each run's bench/results/results.json (copy it aside) and pool
them: for every model and cell this prints, as markdown,
  msgs/s ratio   median over every run of every file of
                 (model's msgs/s / baseline's msgs/s in the same round of the
                 same cell): run i of a model and run i of the baseline are
                 next to each other in time, so each pair shares the machine's
                 state of that moment;
  CPU ratio      median over the files of (model's CPU us/msg / baseline's);
  n              how many pairs the msgs/s ratio is the median of.
Cells that were n/a or FAILED in a file are skipped for that file.
Standard library only.
"""
import json
import statistics
import sys


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    pairs, cpu, labels, models, cells = {}, {}, {}, [], []
    for path in sys.argv[1:]:
        with open(path) as f:
            doc = json.load(f)
        by = {(e["model"], e["cell"]): e for e in doc["results"]}
        for e in doc["results"]:
            if e["model"] not in models:
                models.append(e["model"])
            if e["cell"] not in cells:
                cells.append(e["cell"])
            labels[e["cell"]] = e["label"]
            b = by.get(("baseline", e["cell"]))
            if e["model"] == "baseline" or e["status"] != "ok" or not b or b["status"] != "ok":
                continue
            key = (e["model"], e["cell"])
            for r, rb in zip(e["runs"], b["runs"]):
                if rb["messages_per_sec"] > 0:
                    pairs.setdefault(key, []).append(r["messages_per_sec"] / rb["messages_per_sec"])
            if e.get("cpu_us_per_msg") and b.get("cpu_us_per_msg"):
                cpu.setdefault(key, []).append(e["cpu_us_per_msg"] / b["cpu_us_per_msg"])
    print(f"Pooled over {len(sys.argv) - 1} result file(s). Each entry: msgs/s ratio "
          "(median of paired runs) / CPU per message ratio (median of files) [n pairs].")
    print()
    print("| model | " + " | ".join(labels[c] for c in cells) + " |")
    print("|---|" + "---:|" * len(cells))
    for m in models:
        if m == "baseline":
            continue
        row = [m]
        for c in cells:
            p, q = pairs.get((m, c)), cpu.get((m, c))
            if not p:
                row.append("n/a")
                continue
            row.append(f"{statistics.median(p):.2f} / "
                       f"{statistics.median(q):.2f} [{len(p)}]" if q else
                       f"{statistics.median(p):.2f} / - [{len(p)}]")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
