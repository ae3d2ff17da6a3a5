#!/usr/bin/env bash
# run.sh: runs libFuzzer harnesses (make fuzz builds them and calls this).
#
# usage: tests/fuzz/run.sh SECONDS NAME...
#   Runs build/fuzz/fuzz_NAME for SECONDS each, starting from the seed corpus
#   kept in the repository (tests/fuzz/corpus/NAME, read only) plus what earlier
#   runs found (build/fuzz/corpus-NAME, where new inputs are written). A crash,
#   a leak or a failed check stops that harness: the input that caused it is
#   saved as build/fuzz/crash-* (replay it: build/fuzz/fuzz_NAME FILE) and the
#   run fails. Prints one line per harness: executions, speed and coverage.
# environment:
#   FUZZ_RUNS=N   stop each harness after N executions instead of SECONDS
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 2
seconds=${1:?usage: run.sh SECONDS NAME...}
shift
status=0
for name in "$@"; do
	bin=build/fuzz/fuzz_$name
	work=build/fuzz/corpus-$name
	seeds=tests/fuzz/corpus/$name
	log=build/fuzz/$name.log
	mkdir -p "$work"
	limit=(-max_total_time="$seconds")
	[ -z "${FUZZ_RUNS:-}" ] || limit=(-runs="$FUZZ_RUNS")
	rc=0
	# inputs up to 1 KiB: every path (over-long lines with a small fuzzed
	# max-line, resets, short writes) is reached with that, and a bigger
	# stream read one byte at a time only costs executions
	"$bin" "${limit[@]}" -print_final_stats=1 -artifact_prefix=build/fuzz/ \
		-max_len=1024 -timeout=10 "$work" "$seeds" >"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $name: ok, ${runs:-?} executions (${speed:-?}/s), ${cov:-no coverage line}, corpus $(find "$work" -type f | wc -l) + $(find "$seeds" -type f | wc -l) seeds"
	else
		echo "fuzz $name: FAILED (status $rc) after ${runs:-?} executions; the end of $log:"
		tail -n 40 "$log"
		status=1
	fi
done
exit "$status"
