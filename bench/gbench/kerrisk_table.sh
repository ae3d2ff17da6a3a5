#!/bin/sh
# kerrisk_table.sh GBENCH_JSON: prints, as markdown, the readiness-wait scaling
# measured by gbench (BM_Select, BM_Poll, BM_EpollWait) beside the figures Michael
# Kerrisk published in The Linux Programming Interface (No Starch Press, 2010),
# Table 63-9, "Times taken by poll(), select(), and epoll for 100,000 monitoring
# operations", copied from the book. Both are seconds per 100,000 calls with N
# descriptors being monitored.
#
# Absolute times are not comparable across twenty years of hardware; the shape
# is. "growth" divides each time by the same call's time at N=10: select and
# poll grow with N, epoll_wait does not.
set -eu
if [ $# -ne 1 ] || [ ! -r "$1" ]; then
	echo "usage: $0 GBENCH_JSON" >&2
	exit 2
fi
exec python3 - "$1" "$(dirname "$0")/.." <<'PY'
import json
import sys

# Kerrisk, TLPI (2010), Table 63-9 (bench/tlpi.py): seconds for 100,000
# monitoring operations, copied from the book.
sys.path.insert(0, sys.argv[2])
from tlpi import TABLE_63_9 as KERRISK  # noqa: E402

CALLS = {"BM_Poll": "poll", "BM_Select": "select", "BM_EpollWait": "epoll"}
TO_SECONDS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}

with open(sys.argv[1]) as f:
    report = json.load(f)

# Seconds per call, by (call, N). With --benchmark_repetitions the median
# aggregate stands for the repetitions; otherwise there is one run per case.
times, medians = {}, {}
for b in report.get("benchmarks", []):
    if b.get("error_occurred"):
        continue
    parts = b.get("run_name", b["name"]).split("/")
    if parts[0] not in CALLS or len(parts) < 2:
        continue
    key = (CALLS[parts[0]], int(parts[1]))
    # CPU time, as gbench's own s_per_100k counter: a zero-timeout call never
    # sleeps, so CPU time is its cost, without the moments others held the CPU.
    seconds = b["cpu_time"] * TO_SECONDS[b.get("time_unit", "ns")]
    if b.get("run_type") == "aggregate":
        if b.get("aggregate_name") == "median":
            medians[key] = seconds
    else:
        times.setdefault(key, []).append(seconds)
ours = {k: sum(v) / len(v) for k, v in times.items()}
ours.update(medians)
ours = {k: v * 1e5 for k, v in ours.items()}  # seconds per 100,000 calls

def num(x):
    # Three significant digits, but never an exponent: 1750, not 1.75e+03.
    return "n/a" if x is None else f"{x:.0f}" if x >= 100 else f"{x:.3g}"

def growth(table, call, n):
    here, base = table.get((call, n)), table.get((call, 10))
    return "n/a" if here is None or not base else num(here / base) + "x"

theirs = {(c, n): v for n, row in KERRISK.items() for c, v in row.items()}
ctx = report.get("context", {})
print("## Readiness-wait scaling: one call, N descriptors, one ready")
print()
print("Seconds per 100,000 calls. Kerrisk: The Linux Programming Interface (2010), "
      "Table 63-9, figures copied from the book. Ours: "
      f"{ctx.get('date', '?')}, {ctx.get('num_cpus', '?')} CPUs at "
      f"{ctx.get('mhz_per_cpu', '?')} MHz. growth: time / time at N=10, same call.")
print("select stops at FD_SETSIZE (1024), so ours has no N=10000 select.")
print()
print("| N | call | Kerrisk | growth | ours | growth |")
print("|--:|------|--------:|-------:|-----:|-------:|")
for n in sorted(KERRISK):
    for call in ("poll", "select", "epoll"):
        print(f"| {n} | {call} | {num(theirs.get((call, n)))} | {growth(theirs, call, n)} "
              f"| {num(ours.get((call, n)))} | {growth(ours, call, n)} |")
PY
