#!/usr/bin/env bash
# docs/tour/see.sh MODEL: what `make see MODEL=m [SHORT=1]` runs.
#
# Runs the weak-point demonstration of one model end to end: starts servers on
# free ports of 127.0.0.1, drives them with bin/echo-client under light load,
# prints every command it runs with what it printed, says what to look at,
# and stops everything it started (also on Ctrl-C).
#
# Each model's demonstration is one small file, docs/tour/see/MODEL.sh, which
# sets SEE_TITLE and defines see_demo() with the helpers below. A new model
# joins by adding that file (tests/tour.bats checks every model has one).
#
#   see_server NAME MODEL [ARGS...]   start bin/echo-MODEL; sets PORT_NAME, PID_NAME
#                                     (env vars before it, e.g. LIBEV_FLAGS=2, apply)
#   see_stop NAME [REGEX]             SIGTERM it and print its summary line (and
#                                     the lines of its stderr matching REGEX)
#   see_run CMD...                    print "$ CMD", run it, print its output
#   see_sh 'PIPELINE'                 the same for a shell command line
#   see_bg NAME CMD...                see_run in the background; see_wait NAME
#                                     prints its output, see_bg_said NAME TEXT
#   see_wait_for SECS CMD...          poll CMD until it succeeds (bounded)
#   see_cost NAME                     after see_stop: CPU per message, peak memory
#   see_status PID FIELD...           those lines of /proc/PID/status
#   see_pss PID...                    proportional set size of PIDs, KiB
#   look TEXT                         "look at: TEXT"
#   pick FULL SHORT                   FULL normally, SHORT with SHORT=1
#
# SHORT=1 (or SEE_SHORT=1): small numbers and short runs, for the tests.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

# shellcheck source=../../models/models.sh
. models/models.sh
model=$(model_argument see "make see MODEL=<model> [SHORT=1]" "$@") || exit 2
demo=docs/tour/see/$model.sh
if [ ! -f "$demo" ]; then
	echo "see: no demonstration for $model yet ($demo is missing)" >&2
	exit 1
fi
SHORT=${SHORT:-${SEE_SHORT:-}}
[ "$SHORT" = 0 ] && SHORT=

tmp=$(mktemp -d "${TMPDIR:-/tmp}/echolab-see.XXXXXX") || exit 1
declare -A SEE_PID=() BG_PID=()

cleanup() {
	local name pid
	for name in "${!BG_PID[@]}"; do
		kill -TERM "${BG_PID[$name]}" 2>/dev/null
	done
	for name in "${!SEE_PID[@]}"; do
		pid=${SEE_PID[$name]}
		kill -TERM -- "-$pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "-$pid" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; echo "see: interrupted; everything it started is stopped" >&2; exit 130' INT TERM HUP

pick() { if [ -n "$SHORT" ]; then echo "$2"; else echo "$1"; fi; }
look() { printf '\nlook at: %s\n' "$*"; }
say() { printf '\n%s\n' "$*"; }

see_wait_for() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	echo "see: gave up after $((limit / 10)) s waiting for: $*" >&2
	return 1
}

see_server() {
	local name=$1 m=$2
	shift 2
	local out=$tmp/$name.out
	setsid "bin/echo-$m" --host 127.0.0.1 --port 0 "$@" </dev/null >"$out" 2>"$tmp/$name.err" &
	SEE_PID[$name]=$!
	if ! see_wait_for 10 grep -qs '^listening on ' "$out"; then
		echo "see: echo-$m did not start:" >&2
		cat "$tmp/$name.err" >&2
		exit 1
	fi
	local port
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
	printf -v "PORT_$name" '%s' "$port"
	printf -v "PID_$name" '%s' "${SEE_PID[$name]}"
	printf '\n$ %sbin/echo-%s --host 127.0.0.1 --port 0%s\n%s   (pid %s)\n' \
		"${SEE_ENV:+$SEE_ENV }" "$m" "${*:+ $*}" "$(cat "$out")" "${SEE_PID[$name]}"
}

see_stop() {
	local name=$1 pid=${SEE_PID[$1]} also=${2:-}
	kill -TERM "$pid" 2>/dev/null
	see_wait_for 10 eval "! kill -0 $pid 2>/dev/null" || kill -KILL -- "-$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "SEE_PID[$name]"
	printf '\n$ kill %s\n' "$pid"
	grep -E "^(summary:${also:+|$also})" "$tmp/$name.err" ||
		{ echo "(no summary; its stderr:)"; cat "$tmp/$name.err"; }
}

# see_cost NAME: after see_stop, the server's CPU per message and peak memory,
# worked out from its summary line.
see_cost() {
	grep '^summary:' "$tmp/$1.err" | tail -n 1 | awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		cpu = (v["user"] + v["sys"]) * 1e6
		if (v["messages"] > 0)
			printf "%s: %.1f us of CPU per message (user + sys / messages), peak memory %s KiB\n", v["model"], cpu / v["messages"], v["maxrss_kb"]
	}'
}

# need_strace: true if strace is there; if not, says so, for a demonstration
# that counts system calls.
need_strace() {
	command -v strace >/dev/null && return 0
	echo "see: this demonstration counts system calls with strace, which is not installed" >&2
	echo "     (tests/deps.sh tour installs it)" >&2
	return 1
}

# count_calls MODEL CONNS RATE: a fresh server, the load under strace -c -f
# attached to it, then the server stopped: its summary counts the messages
# that system calls were counted for. Prints the calls per message of the
# loop (its waits, reads, writes and interest changes; accept and close left
# out) and the top three. Needs strace (tests/deps.sh tour installs it).
count_calls() {
	local m=$1 conns=$2 rate=$3 name=$1_$2 out=$tmp/strace-$1-$2 msgs pid port
	see_server "$name" "$m" >/dev/null
	pid=PID_$name port=PORT_$name
	strace -c -f -q -p "${!pid}" -o "$out" 2>/dev/null &
	BG_PID[strace]=$!
	see_wait_for 10 grep -q 'TracerPid:[[:space:]]*[1-9]' "/proc/${!pid}/status" || return 1
	printf '$ strace -c -f -p %s &   # bin/echo-%s, port %s\n$ bin/echo-client --host 127.0.0.1 --port %s --load --connections %s --rate %s --warmup 0 --duration %s\n' \
		"${!pid}" "$m" "${!port}" "${!port}" "$conns" "$rate" "$(pick 2 0.5)"
	bin/echo-client --host 127.0.0.1 --port "${!port}" --load --connections "$conns" \
		--rate "$rate" --warmup 0 --duration "$(pick 2 0.5)" >/dev/null
	kill -INT "${BG_PID[strace]}"
	wait "${BG_PID[strace]}" 2>/dev/null
	unset "BG_PID[strace]"
	msgs=$(see_stop "$name" | sed -n 's/^summary:.* messages=\([0-9]*\).*/\1/p')
	awk -v n="$m" -v c="$conns" -v m="${msgs:-0}" '
		BEGIN { split("epoll_wait epoll_pwait epoll_ctl epoll_pwait2 poll ppoll pselect6 select recvfrom recvmsg read readv sendmsg sendto write writev io_uring_enter", l, " ")
			for (i in l) loop[l[i]] = 1 }
		$1 ~ /^[0-9.]+$/ && ($NF in loop) { calls[$NF] = $4; total += $4 }
		END {
			if (m == 0) { printf "%s, %d connection(s): no message counted\n", n, c; exit }
			top = ""
			for (k = 0; k < 3; k++) {
				best = ""
				for (s in calls) if (best == "" || calls[s] > calls[best]) best = s
				if (best == "") break
				top = top sprintf("%s%s %.2f", top == "" ? "" : ", ", best, calls[best] / m)
				delete calls[best]
			}
			printf "%-6s %3d connection(s): %6d messages, %6d calls of the loop: %5.2f per message (%s)\n",
				n, c, m, total, total / m, top
		}' "$out"
}

see_run() {
	printf '\n$ %s\n' "$*"
	"$@" 2>&1
}

# see_sh 'COMMAND LINE': the same for a shell pipeline, printed as written.
see_sh() {
	printf '\n$ %s\n' "$1"
	bash -c "$1" 2>&1
}

see_bg() {
	local name=$1
	shift
	printf '\n$ %s &\n' "$*"
	"$@" >"$tmp/bg-$name.out" 2>&1 &
	BG_PID[$name]=$!
}

# see_wait NAME: waits for a see_bg command and prints what it printed.
see_wait() {
	local status=0
	wait "${BG_PID[$1]}" || status=$?
	unset "BG_PID[$1]"
	cat "$tmp/bg-$1.out"
	return "$status"
}

# see_bg_said NAME TEXT: the background command has printed TEXT.
see_bg_said() {
	grep -q -- "$2" "$tmp/bg-$1.out" 2>/dev/null
}

see_status() {
	local pid=$1
	shift
	local pattern
	pattern=$(printf '%s|' "$@")
	printf '\n$ grep -E '\''^(%s):'\'' /proc/%s/status\n' "${pattern%|}" "$pid"
	grep -E "^(${pattern%|}):" "/proc/$pid/status"
}

see_pss() {
	local files=() pid
	for pid in "$@"; do
		files+=("/proc/$pid/smaps_rollup")
	done
	# one awk for all: a process that has just gone is skipped
	awk '/^Pss:/ { kb += $2 } END { print kb + 0 }' "${files[@]}" 2>/dev/null
}

for exe in "bin/echo-$model" bin/echo-client; do
	if [ ! -x "$exe" ]; then
		echo "see: $exe is not built (run make)" >&2
		exit 1
	fi
done
SEE_TITLE=
# shellcheck source=/dev/null
. "$demo"
printf '=== make see MODEL=%s%s: %s\n' "$model" "${SHORT:+ SHORT=1}" "$SEE_TITLE"
see_demo
status=$?
printf '\n=== done: everything this demonstration started is stopped.\n'
exit "$status"
