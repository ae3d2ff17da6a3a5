#!/usr/bin/env bash
# bench/run.sh [--quick] [bench.py options]: what `make bench` runs.
#
# Measures every model of models/models.list and the baseline ceiling over the
# cell matrix with bin/echo-client --load; prints markdown tables on stdout and
# writes bench/results/{results.md,results.csv,results.json,*.png,*.svg}.
# Progress and ETA go to stderr. Exit status 1 if any cell FAILED (a client
# error, a verification error, a server that would not start or stop).
# The driver is bench/bench.py (python3, standard library); `bench/run.sh
# --help` lists its options (a subset of models or cells, run lengths).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v python3 >/dev/null || { echo "bench: python3 is needed" >&2; exit 2; }

# bench.py stops every server and client it started when it ends or gets
# SIGINT/SIGTERM/SIGHUP, and they are started with PR_SET_PDEATHSIG, so they
# die even if bench.py is killed outright. The trap passes a signal sent to
# this script alone (say, by make) on to bench.py.
driver=
cleanup() {
	local status=$?
	if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
		kill -TERM "$driver" 2>/dev/null || true
		wait "$driver" 2>/dev/null || true
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

python3 bench/bench.py "$@" &
driver=$!
wait "$driver"
