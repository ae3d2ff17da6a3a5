# helpers.bash: what every echolab .bats file loads (`load helpers`).
#
#   start_server MODEL [ARGS...]  start bin/echo-MODEL (--host 127.0.0.1 --port 0
#                                 unless ARGS give their own; --host-default
#                                 leaves --host out; a pool model gets
#                                 --workers $POOL_WORKERS) and wait for its
#                                 "listening on" line; sets PORT, SERVER_PID,
#                                 SERVER_OUT, SERVER_ERR, SERVER_ADDR
#   stop_server [SIGNAL [PID]]    signal it (TERM by default) and wait for it to
#                                 exit; returns (and sets SERVER_STATUS to) its status
#   wait_server_exit [PID [SECS]] wait for a server to exit by itself
#   probe ARGS...                 tests/probe.py aimed at 127.0.0.1:$PORT
#   has_ipv6                      an IPv6 loopback exists (asked once per run)
#   probe_bg NAME ARGS... <SCRIPT the same in the background; probe_wait NAME
#                                 waits for it and returns its status
#   selected_models, model_kind M the stream models to test ($ECHOLAB_MODELS or
#                                 all of models/models.list, less the datagram
#                                 kind), and serial|concurrent|pool|datagram
#   kind_is M KIND                models.list gives M that kind
#   need_model M                  skip unless M is among the models under test
#   sanitized_build M             bin/echo-M is built with ASan or TSan
#   serves_many M                 M serves clients at the same time (concurrent, or a
#                                 pool, which start_server gives POOL_WORKERS workers)
#   event_driven M                M serves from one loop over non-blocking sockets
#   sanitized_build M             bin/echo-M was built with ASan or TSan
#   require_model                 setup_file of a "run.sh: per model" file: sets
#                                 MODEL from $ECHOLAB_MODEL, fails if it is unset
#   children_of PID, proc_alive PID, live_group_members PGID   from /proc
#   children_are N PID            exactly N children, no zombie among them
#   count_zombie_children PID     sets ZOMBIES (no process started: for loops)
#   count_sockets VAR PID...      sets VAR to the sockets they hold (no process)
#   wait_until SECS CMD...        poll CMD every 20 ms until it succeeds (bounded)
#   file_has REGEX FILE           a line of FILE matches (bash's =~: for polls)
#   count_matching VAR REGEX FILE sets VAR to the lines of FILE that match
#   $WAIT                         the deadline for "this must happen soon" (30 s)
#   $PYTHON                       the Python interpreter itself (no launcher)
#   summary_field NAME            a field of the server's "summary:" line
#   json_field KEY FILE           a number or plain string of echo-client's --json
#   load_run COMMAND...           an echo-client --load run, once more with a 3 s
#                                 window when a stalled machine left its window empty
#
# teardown kills every server started here and every process of its process
# group (fork children included), and fails the test if a sanitizer (or
# valgrind) reported anything on a server's stderr.
#
# Untraced helpers: bats runs a DEBUG trap before every command of a case,
# and, since it sets functrace (set -T), before every command of every
# function the case calls: about 0.4 ms of CPU a command here, which made the
# helpers' loops (waiting for a server's line, teardown's checks) most of the
# suite's CPU. So a helper with a loop is two functions: NAME, which the
# cases call, turns function tracing off for what it calls (`local -` keeps
# the change inside it) and runs _NAME, the implementation, untraced:
#     wait_until() { local -; set +T; _wait_until "$@"; }
# A failure inside is reported at the line of the case that called NAME,
# which is where a reader wants to look.

# shellcheck disable=SC2034 # ECHO_CLIENT and the like are for the .bats files

# bats evaluates this file again before every case (about 1,000 of them in a
# run), so it starts no process of its own: each one costs milliseconds, and
# on two cores they add up to minutes. BATS_TEST_DIRNAME is absolute.
ECHOLAB_TESTS=${BATS_TEST_DIRNAME:?helpers.bash is loaded by bats}
ECHOLAB_ROOT=${ECHOLAB_TESTS%/*}
# The binaries under test; ECHOLAB_BIN may point elsewhere (say, an installed copy).
ECHOLAB_BIN=${ECHOLAB_BIN:-$ECHOLAB_ROOT/bin}
ECHO_CLIENT=$ECHOLAB_BIN/echo-client

export BATS_LIB_PATH=${BATS_LIB_PATH:-/usr/lib/bats}
# bats-support and bats-assert, file by file: their load.bash runs dirname for
# each of its 15 files, which tripled the cost of an empty case.
for lib_dir in ${BATS_LIB_PATH//:/ }; do
	[ -d "$lib_dir/bats-assert/src" ] || continue
	for lib_file in "$lib_dir"/bats-support/src/{output,error,lang}.bash "$lib_dir"/bats-assert/src/*.bash; do
		# shellcheck disable=SC1090 # the libraries' own files
		source "$lib_file"
	done
	break
done
declare -F assert_success >/dev/null || {
	echo "bats-assert is not under BATS_LIB_PATH=$BATS_LIB_PATH (tests/deps.sh test installs it)" >&2
	return 1
}

# Every wait in the tests is a deadline that costs time only when something is
# wrong, so they are generous: on a loaded machine (CI, or several test runs on
# two cores) a process can wait seconds for its turn. ECHOPROBE_TIMEOUT bounds
# each socket wait of the probes; WAIT is what a case allows for something that
# should happen at once (a log line, a process exit).
export ECHOPROBE_TIMEOUT=${ECHOPROBE_TIMEOUT:-20}
export WAIT=${ECHOLAB_WAIT:-30}

# The interpreter itself, not a launcher: a version manager's shim (pyenv) runs
# several shell scripts before Python starts, and the probes start hundreds of
# times per run. tests/run.sh resolves it once and exports it.
if [ -z "${ECHOLAB_PYTHON:-}" ]; then
	ECHOLAB_PYTHON=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || ECHOLAB_PYTHON=python3
	export ECHOLAB_PYTHON
fi
PYTHON=$ECHOLAB_PYTHON

# A pool serves at most its workers at once, the others wait. start_server
# gives a pool model this many (unless the test asks for its own --workers):
# more than any case holds open at once (20), so every case that is not about
# the pool's edge sees it serve clients concurrently.
POOL_WORKERS=${ECHOLAB_POOL_WORKERS:-32}

SERVER_PIDS=()
SERVER_ERRS=()

# ---------------------------------------------------------------- models

# models/models.list as "NAME:KIND NAME:KIND ...", read once: bats runs this
# file again before every case, and the variable is exported to them.
if [ -z "${ECHOLAB_MODEL_KINDS:-}" ]; then
	ECHOLAB_MODEL_KINDS=$(awk '!/^#/ && NF { printf "%s:%s ", $1, $2 }' "$ECHOLAB_ROOT/models/models.list")
	export ECHOLAB_MODEL_KINDS
fi

# "NAME KIND" for every model of models/models.list.
models_list() {
	local pair
	for pair in $ECHOLAB_MODEL_KINDS; do
		echo "${pair%%:*} ${pair#*:}"
	done
}

# The stream models to test: $ECHOLAB_MODELS (space-separated) if set, else
# all, less the "datagram" kind (udp), to which the stream suites do not
# apply: tests/udp.bats is its own.
selected_models() { local -; set +T; _selected_models "$@"; }
_selected_models() {
	local pair want=" ${ECHOLAB_MODELS:-} "
	for pair in $ECHOLAB_MODEL_KINDS; do
		[ "${pair#*:}" != datagram ] || continue
		[ "$want" = "  " ] || [[ $want == *" ${pair%%:*} "* ]] || continue
		echo "${pair%%:*}"
	done
}

# serial, concurrent, pool or datagram
model_kind() { local -; set +T; _model_kind "$@"; }
_model_kind() {
	local pair
	for pair in $ECHOLAB_MODEL_KINDS; do
		if [ "${pair%%:*}" = "$1" ]; then
			echo "${pair#*:}"
			return 0
		fi
	done
	echo "model '$1' is not in models/models.list" >&2
	return 1
}

# kind_is MODEL KIND: models.list gives MODEL that kind (no $(model_kind)
# subshell, for the helpers every case calls)
kind_is() {
	[[ " $ECHOLAB_MODEL_KINDS" == *" $1:$2 "* ]]
}

# need_model M: skip unless M is among the models under test
need_model() {
	selected_models | grep -qxF "$1" || skip "$1 is not among the selected models"
}

# sanitized_build M: bin/echo-M carries a sanitizer, whose shadow memory and
# bookkeeping are not the server's (its memory figures mean something else)
sanitized_build() {
	grep -qE '__asan_init|__tsan_init' "$ECHOLAB_BIN/echo-$1"
}

# Serves many clients at once: concurrent, or a pool (with POOL_WORKERS).
serves_many() {
	kind_is "$1" concurrent || kind_is "$1" pool
}

# event_driven M: the model's source starts the server SERVER_EVENT_DRIVEN or
# SERVER_REUSEPORT, its own declaration that one loop serves non-blocking
# sockets (select, poll, epoll, libev, uring, reuseport today)
event_driven() {
	grep -Eq 'server_(start|prepare)\(.*SERVER_(EVENT_DRIVEN|REUSEPORT)' "$ECHOLAB_ROOT/models/$1.c"
}

# sanitized_build M: bin/echo-M carries a sanitizer's runtime (its heap is
# then the sanitizer's: memory bounds do not apply)
sanitized_build() {
	grep -qE '__asan_init|__tsan_init' "$ECHOLAB_BIN/echo-$1"
}

# require_model: for setup_file of a file run once per model (tests/run.sh
# sets ECHOLAB_MODEL); the cases see MODEL.
require_model() {
	MODEL=${ECHOLAB_MODEL:-}
	if [ -z "$MODEL" ]; then
		echo "set ECHOLAB_MODEL to the model to test (tests/run.sh does this for every model)" >&2
		return 1
	fi
	export MODEL
}

# The model a test that needs "some server" uses: the first selected concurrent one.
any_concurrent_model() {
	local m
	for m in $(selected_models); do
		if [ "$(model_kind "$m")" = concurrent ]; then
			echo "$m"
			return 0
		fi
	done
	selected_models | head -n 1
}

# ---------------------------------------------------------------- processes

# Succeeds while PID exists and is not a zombie.
proc_alive() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# procs_where ppid|pgid N: "PID STATE COMM" for each process whose parent, or
# process group, is N. One cat reads every /proc/PID/stat and one awk picks
# the lines: a process that ends meanwhile is a read error cat reports (to
# /dev/null) and passes over, where awk's own getline (mawk) would stop
# there. The command name may hold spaces and parentheses, so the fields
# are counted from the last ")".
procs_where() { local -; set +T; _procs_where "$@"; }
_procs_where() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v key="$1" -v want="$2" '{
		line = $0; s = line; p = 0
		while ((i = index(s, ")")) > 0) { p += i; s = substr(s, i + 1) }
		o = index(line, "(")
		split(substr(line, p + 2), f, " ") # state ppid pgrp ...
		if ((key == "ppid" ? f[2] : f[3]) == want)
			print $1, f[1], substr(line, o + 1, p - o - 1)
	}'
}

# "PID STATE COMM" of the processes whose parent is PID, from the kernel's
# list of each thread's children (no process started: tests poll this).
children_of() { local -; set +T; _children_of "$@"; }
_children_of() {
	local list kid stat comm kids=()
	if [ ! -e "/proc/$$/task/$$/children" ]; then
		procs_where ppid "$1" # a kernel without CONFIG_PROC_CHILDREN
		return
	fi
	for list in /proc/"$1"/task/*/children; do
		# one line without a newline at its end, so read "fails" having read it
		{ read -r -a kids <"$list" || :; } 2>/dev/null
		for kid in "${kids[@]}"; do
			{ read -r stat <"/proc/$kid/stat"; } 2>/dev/null || continue
			# the name may hold spaces and parentheses: it ends at the last ")"
			comm=${stat#*(}
			comm=${comm%)*}
			stat=${stat##*) }
			echo "$kid ${stat%% *} $comm"
		done
		kids=()
	done
}

# children_are N PID: PID has exactly N children, and none of them is a
# zombie (for polls: the only process is the $(children_of) subshell)
children_are() { local -; set +T; _children_are "$@"; }
_children_are() {
	local kids state n=0
	kids=$(children_of "$2")
	[ -n "$kids" ] || return $(($1 != 0))
	while read -r _ state _; do
		[ "$state" != Z ] || return 1
		n=$((n + 1))
	done <<<"$kids"
	[ "$n" -eq "$1" ]
}

# count_zombie_children PID: sets ZOMBIES to the number of PID's children that
# are zombies (exited, not yet reaped). The kernel lists each thread's
# children in /proc/PID/task/TID/children; the shell reads them and their
# states itself, so a loop that samples this many times a second (while
# hundreds of children come and go) starts no process and scans no /proc.
count_zombie_children() { local -; set +T; _count_zombie_children "$@"; }
_count_zombie_children() {
	local list kid stat kids=()
	ZOMBIES=0
	for list in /proc/"$1"/task/*/children; do
		# one line without a newline at its end, so read "fails" having read it
		{ read -r -a kids <"$list" || :; } 2>/dev/null
		for kid in "${kids[@]}"; do
			{ read -r stat <"/proc/$kid/stat"; } 2>/dev/null || continue
			stat=${stat##*) }
			[ "${stat%% *}" != Z ] || ZOMBIES=$((ZOMBIES + 1))
		done
		kids=()
	done
}

# "PID STATE COMM" of the live (non-zombie) processes of process group PGID.
live_group_members() { local -; set +T; _live_group_members "$@"; }
_live_group_members() {
	local pid state comm
	while read -r pid state comm; do
		[ "$state" = Z ] || echo "$pid $state $comm"
	done < <(procs_where pgid "$1")
}

# nap SECONDS: sleep(1) without starting a process (read times out on a pipe
# that this shell itself holds open for writing, so nothing ever comes).
nap() {
	[ -n "${NAP_FD:-}" ] || exec {NAP_FD}<> <(:)
	read -rt "$1" -u "$NAP_FD" _ || true
}

# wait_until SECONDS COMMAND...: runs COMMAND every 20 ms until it succeeds;
# fails if it has not within SECONDS (which may be fractional).
wait_until() { local -; set +T; _wait_until "$@"; }
_wait_until() {
	local limit=$1 ms
	shift
	case $limit in
	*.*)
		local int=${limit%.*} frac=${limit#*.}000
		ms=$((10#${int:-0} * 1000 + 10#${frac:0:3}))
		;;
	*) ms=$((limit * 1000)) ;;
	esac
	local start=${EPOCHREALTIME/./}
	while ! "$@"; do
		if (((${EPOCHREALTIME/./} - start) / 1000 > ms)); then
			echo "gave up after ${limit}s waiting for: $*" >&2
			return 1
		fi
		nap 0.02
	done
}

# file_has REGEX FILE: some line of FILE matches the extended REGEX. bash's
# own [[ =~ ]], not grep: wait_until polls it every 20 ms, and a process per
# round is milliseconds each on two cores.
file_has() { local -; set +T; _file_has "$@"; }
_file_has() {
	local line lines=()
	{ mapfile -t lines <"$2"; } 2>/dev/null || return 1
	for line in "${lines[@]}"; do
		[[ $line =~ $1 ]] && return 0
	done
	return 1
}

# count_matching VAR REGEX FILE: sets VAR to the number of lines of FILE that
# match the extended REGEX (0 when there is no FILE).
count_matching() { local -; set +T; _count_matching "$@"; }
_count_matching() {
	# names of its own that no caller's VAR is likely to be
	local _cm_line _cm_lines=() _cm_n=0
	{ mapfile -t _cm_lines <"$3"; } 2>/dev/null || :
	for _cm_line in "${_cm_lines[@]}"; do
		[[ $_cm_line =~ $2 ]] && _cm_n=$((_cm_n + 1))
	done
	printf -v "$1" %d "$_cm_n"
}

# count_sockets VAR PID...: sets VAR to the number of sockets these processes
# hold ([ -S ] on /proc/PID/fd/N follows the link to the socket itself; no
# find or wc to start, for the polls)
count_sockets() { local -; set +T; _count_sockets "$@"; }
_count_sockets() {
	local _cs_var=$1 _cs_pid _cs_fd _cs_n=0
	shift
	for _cs_pid in "$@"; do
		for _cs_fd in /proc/"$_cs_pid"/fd/*; do
			[ ! -S "$_cs_fd" ] || _cs_n=$((_cs_n + 1))
		done
	done
	printf -v "$_cs_var" %d "$_cs_n"
}

# load_run COMMAND...: runs a load client (COMMAND is echo-client --load ...,
# perhaps behind timeout) and passes on its output and status. A run whose
# echoes all came back, but none inside the measured window, saw a machine
# that stalled longer than the window, not a fault: it runs once more with a
# 3-second window. The retry costs time only when the machine stalled.
load_run() {
	local out status=0
	out=$(mktemp "${BATS_TEST_TMPDIR:-/tmp}/load_run.XXXXXX")
	"$@" >"$out" || status=$?
	if [ "$status" -eq 1 ] && grep -q "no echo completed in the measured window ([0-9]* came back" "$out"; then
		echo "load_run: no echo inside the window, the machine stalled; once more with 3 s" >&2
		status=0
		"$@" --duration 3 >"$out" || status=$?
	fi
	cat "$out"
	rm -f "$out"
	return "$status"
}

# ---------------------------------------------------------------- servers

start_server() { local -; set +T; _start_server "$@"; }
_start_server() {
	local model=$1
	shift
	local bin="$ECHOLAB_BIN/echo-$model" arg have_host='' have_port='' have_workers=''
	if [ ! -x "$bin" ]; then
		echo "no $bin: build it with make" >&2
		return 1
	fi
	local args=()
	for arg in "$@"; do
		case $arg in
		--host-default) have_host=1 && continue ;; # ours: leave --host out
		--host | --host=*) have_host=1 ;;
		--port | --port=*) have_port=1 ;;
		--workers | --workers=*) have_workers=1 ;;
		esac
		args+=("$arg")
	done
	[ -n "$have_port" ] || args=(--port 0 "${args[@]}")
	[ -n "$have_host" ] || args=(--host 127.0.0.1 "${args[@]}")
	if [ -z "$have_workers" ] && kind_is "$model" pool; then
		args=(--workers "$POOL_WORKERS" "${args[@]}")
	fi

	local n=${#SERVER_PIDS[@]}
	SERVER_OUT=$BATS_TEST_TMPDIR/server$n.out
	SERVER_ERR=$BATS_TEST_TMPDIR/server$n.err
	# setsid: its own process group, so teardown can end the server together
	# with every child it forked, even orphaned ones. fd 3 is bats' own
	# output; a background process holding it would make bats wait forever.
	# SERVER_NOFILE=N: start it under `ulimit -n N`; bash sets the limit and
	# execs the server, so SERVER_PID is still the server itself.
	# ECHOLAB_SERVER_WRAPPER="valgrind ...": run the server under it (the
	# wrapper must exec or be the server process, as valgrind is).
	local wrapper=()
	# the server must not inherit nap's pipe (it counts its descriptors)
	if [ -n "${NAP_FD:-}" ]; then
		exec {NAP_FD}>&-
		NAP_FD=''
	fi
	# shellcheck disable=SC2206 # words on purpose
	[ -z "${ECHOLAB_SERVER_WRAPPER:-}" ] || wrapper=($ECHOLAB_SERVER_WRAPPER)
	if [ -n "${SERVER_NOFILE:-}" ]; then
		setsid bash -c 'ulimit -n "$0" && exec "$@"' "$SERVER_NOFILE" "${wrapper[@]}" "$bin" "${args[@]}" \
			</dev/null >"$SERVER_OUT" 2>"$SERVER_ERR" 3>&- &
	else
		setsid "${wrapper[@]}" "$bin" "${args[@]}" </dev/null >"$SERVER_OUT" 2>"$SERVER_ERR" 3>&- &
	fi
	SERVER_PID=$!
	SERVER_PIDS+=("$SERVER_PID")
	# tests/run.sh's last resort, should a suite be cut off before teardown
	[ -z "${ECHOLAB_RUN_DIR:-}" ] || echo "$SERVER_PID" >>"$ECHOLAB_RUN_DIR/server-pids"
	SERVER_ERRS+=("$SERVER_ERR")

	local line='' start=${EPOCHREALTIME/./}
	while :; do
		# read, not grep: no process per round
		{ IFS= read -r line <"$SERVER_OUT"; } 2>/dev/null || line=''
		[[ $line != 'listening on '* ]] || break
		if ! proc_alive "$SERVER_PID"; then
			# A model that cannot run on this machine (uring without
			# io_uring) says "... unavailable: REASON" and exits 1.
			if grep -q '^echo-[a-z]*: .* unavailable: ' "$SERVER_ERR"; then
				skip "$(head -n 1 "$SERVER_ERR")"
			fi
			echo "echo-$model ${args[*]} exited before listening; stderr:" >&2
			cat "$SERVER_ERR" >&2
			return 1
		fi
		if (((${EPOCHREALTIME/./} - start) / 1000000 > WAIT)); then
			echo "echo-$model ${args[*]} printed no 'listening on' line within $WAIT s" >&2
			return 1
		fi
		nap 0.01
	done
	if [ -z "${ECHOLAB_SERVER_WRAPPER:-}" ] && ! [ "/proc/$SERVER_PID/exe" -ef "$bin" ]; then
		echo "process $SERVER_PID is not $bin (did setsid fork?)" >&2
		return 1
	fi
	SERVER_ADDR=${line#listening on }
	PORT=${line##*:}
	export PORT SERVER_PID SERVER_OUT SERVER_ERR SERVER_ADDR
}

# wait_server_exit [PID [SECONDS]]: waits for the server to exit and returns its
# exit status (also in SERVER_STATUS). If it does not exit in time it is killed
# and the status is 124.
wait_server_exit() { local -; set +T; _wait_server_exit "$@"; }
_wait_server_exit() {
	local pid=${1:-$SERVER_PID} limit=${2:-$WAIT}
	if ! wait_until "$limit" eval "! proc_alive $pid"; then
		echo "server $pid still running ${limit}s after being told to stop; killing it" >&2
		kill -KILL -- "-$pid" "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		SERVER_STATUS=124
		return 124
	fi
	SERVER_STATUS=0
	wait "$pid" || SERVER_STATUS=$?
	if [ "$SERVER_STATUS" -ne 0 ]; then
		echo "server $pid exited with status $SERVER_STATUS; its stderr:" >&2
		cat "$SERVER_ERR" >&2
	fi
	return "$SERVER_STATUS"
}

# stop_server [SIGNAL [PID]]
stop_server() { local -; set +T; _stop_server "$@"; }
_stop_server() {
	local sig=${1:-TERM} pid=${2:-$SERVER_PID}
	kill -"$sig" "$pid"
	wait_server_exit "$pid"
}

# summary_field NAME [FILE]: the value of NAME=VALUE in the server's (last)
# summary line. Read by bash itself (no grep, tail and sed): the cases
# check several fields of every server they stop.
summary_field() { local -; set +T; _summary_field "$@"; }
_summary_field() {
	local file=${2:-$SERVER_ERR} line summary='' lines=()
	{ mapfile -t lines <"$file"; } 2>/dev/null || :
	for line in "${lines[@]}"; do
		[[ $line != 'summary: '* ]] || summary=$line
	done
	if [ -z "$summary" ]; then
		echo "no summary line in: ${lines[*]}" >&2
		return 1
	fi
	if ! [[ $summary =~ \ $1=([^ ]*) ]]; then
		echo "no $1= in: $summary" >&2
		return 1
	fi
	echo "${BASH_REMATCH[1]}"
}

# json_field KEY FILE: the value of "KEY" in echo-client's one-line --json
# report (a number or a string without quotes or commas); no python (or sed)
# to start, which on a busy machine takes seconds.
json_field() { local -; set +T; _json_field "$@"; }
_json_field() {
	local json
	{ IFS= read -r -d '' json <"$2"; } 2>/dev/null || :
	[[ $json =~ \"$1\":\"?([^,\"\}]*) ]] && echo "${BASH_REMATCH[1]}"
}

# probe ARGS...: the socket driver, aimed at the last server started.
probe() {
	"$PYTHON" -S "$ECHOLAB_TESTS/probe.py" --port "${PORT:-0}" "$@"
}

# has_ipv6: this machine has an IPv6 loopback to bind to (tests/run.sh asks
# the probe once per run and exports the answer; else the probe is asked)
has_ipv6() {
	case ${ECHOLAB_HAS_IPV6:-} in
	yes) return 0 ;;
	no) return 1 ;;
	*) probe has-ipv6 ;;
	esac
}

# probe_bg NAME ARGS... <SCRIPT: runs the probe in the background (its script
# from stdin, its output in $BATS_TEST_TMPDIR/NAME.out); probe_wait NAME waits
# for it, prints its output and returns its status.
BG_PIDS=()
declare -A BG_PID=()
probe_bg() { local -; set +T; _probe_bg "$@"; }
_probe_bg() {
	local name=$1
	shift
	cat >"$BATS_TEST_TMPDIR/$name.script"
	probe "$@" <"$BATS_TEST_TMPDIR/$name.script" >"$BATS_TEST_TMPDIR/$name.out" 2>&1 3>&- &
	BG_PID[$name]=$!
	BG_PIDS+=("$!")
}

probe_wait() { local -; set +T; _probe_wait "$@"; }
_probe_wait() {
	local status=0
	wait "${BG_PID[$1]}" || status=$?
	sed "s/^/[$1] /" "$BATS_TEST_TMPDIR/$1.out"
	return "$status"
}

# need_descriptors N: skip unless a process may open N descriptors
need_descriptors() { local -; set +T; _need_descriptors "$@"; }
_need_descriptors() {
	local hard
	hard=$(ulimit -Hn)
	[ "$hard" = unlimited ] || [ "$hard" -ge "$1" ] ||
		skip "the descriptor hard limit is $hard; this case needs $1 (raise it with ulimit -Hn)"
}

# ---------------------------------------------------------------- teardown

echolab_teardown() { local -; set +T; _echolab_teardown "$@"; }
_echolab_teardown() {
	local pid i failed=0
	for pid in "${BG_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# ECHOLAB_STOP_GENTLY=1 (make coverage, tests/valgrind.sh): SIGTERM first,
	# so that a server still running exits through its own path and writes
	# what it writes at exit (gcov counters, valgrind's leak report).
	if [ -n "${ECHOLAB_STOP_GENTLY:-}" ]; then
		for pid in "${SERVER_PIDS[@]}"; do
			proc_alive "$pid" || continue
			kill -TERM "$pid" 2>/dev/null || true
			wait_until "$WAIT" eval "! proc_alive $pid" 2>/dev/null || true
		done
	fi
	for pid in "${SERVER_PIDS[@]}"; do
		kill -KILL -- "-$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# Children that outlived their server were reparented; they are still in
	# the group, and SIGKILL to the group reached them. Make sure they are gone.
	for pid in "${SERVER_PIDS[@]}"; do
		# kill -0 first: it fails at once when the group is empty, the
		# usual case, without an awk over every process of the machine
		for ((i = 0; i < 100; i++)); do
			kill -0 -- "-$pid" 2>/dev/null || break
			[ -n "$(live_group_members "$pid")" ] || break
			kill -KILL -- "-$pid" 2>/dev/null || true
			nap 0.02
		done
		kill -0 -- "-$pid" 2>/dev/null || continue
		if [ -n "$(live_group_members "$pid")" ]; then
			echo "processes of server $pid's group survive SIGKILL:" >&2
			live_group_members "$pid" >&2
			failed=1
		fi
	done
	# Sanitizer builds: a report on any server's stderr fails the test. Read
	# by bash's own read: a grep here was a process in each of the suite's
	# cases.
	local err text
	local report='ERROR: (Address|Leak|Thread|Memory)Sanitizer|WARNING: ThreadSanitizer|runtime error:|ERROR SUMMARY: [1-9]|==[0-9]+== (Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|Mismatched free|Source and destination overlap)'
	for err in "${SERVER_ERRS[@]}"; do
		[ -s "$err" ] || continue
		IFS= read -r -d '' text <"$err" || true
		[[ $text =~ $report ]] || continue
		echo "sanitizer report in $err:" >&2
		printf '%s\n' "$text" >&2
		failed=1
	done
	# On a failed test, show what the servers said.
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		for err in "${SERVER_ERRS[@]}"; do
			if [ -s "$err" ]; then
				echo "--- ${err##*/} (last lines)"
				tail -n 20 "$err"
			fi
		done
	fi
	return "$failed"
}

teardown() {
	echolab_teardown
}
