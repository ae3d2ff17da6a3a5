#!/usr/bin/env bats
# scale.bats: many connections, descriptor limits and heavy traffic, against
# every model of models/models.list (or $ECHOLAB_MODELS). The sockets are
# driven by the scale commands of tests/probe.py (non-blocking, epoll, every
# wait bounded).
#
#   1. event models: 1,000 clients at once, interleaved messages
#   2. select: connections beyond FD_SETSIZE are refused, the rest served
#   3. event models without a descriptor cap: 10,000 connections each holding
#      a 100-byte unfinished line, then echoing it, RSS < 16 MiB (64 MiB for
#      a model that gives each connection a stack of its own: coroutines)
#   4. every model under `ulimit -n 64`: 100 clients; refused or queued, never
#      a spinning server; it serves again afterwards
#   5. every model: 32 MiB pushed by a client that does not read: backpressure,
#      bounded memory, every byte back; meanwhile another client is served
#   6. slowloris: --idle-timeout 2 and connections that trickle a byte every
#      3 s: 10,000 on event models (1,000 under select's FD_SETSIZE), 200 on
#      concurrent blocking ones; all closed within 3 s of their last byte, the
#      server's CPU time low meanwhile, a well-behaved client served throughout
#   7. event models without a descriptor cap: waves of 1,500 connections each
#      holding a 4,095-byte partial line; RSS with no client open returns to
#      near its start after every wave (no ratchet)
#
# Which models are "event" models: those whose source starts the server as
# SERVER_EVENT_DRIVEN or SERVER_REUSEPORT (server_start(..., SERVER_EVENT_DRIVEN, ...)), the style
# that gives them non-blocking client sockets served by one loop (today:
# select, poll, epoll, libev, all built on common/loop.h). The style is
# the model's own declaration of how it serves, so a new event model is picked
# up without editing this file. A model whose wait set is an fd_set (its
# source calls FD_SET()) cannot watch descriptors >= FD_SETSIZE by design
# (select): case 2 is about exactly that, and case 3 leaves it out.
#
# run.sh: per model
# (tests/run.sh runs this file once per model, in parallel, with ECHOLAB_MODELS
# naming that one model; a case that does not apply to it is "n/a".)
#
# Each case runs every model it applies to, one after another, each in a
# subshell with its own cleanup, so that one model's failure does not hide
# another's; the case fails naming every model that failed.
#
# Memory bounds are not checked when the binaries are built with
# a sanitizer (its shadow memory and bookkeeping are not the server's);
# everything else is.

# SC2030/SC2031: each model runs in a subshell on purpose; SC2034: helpers
# read BATS_TEST_COMPLETED; SC2016: the single quotes are bash -c's script.
# shellcheck disable=SC2030,SC2031,SC2034,SC2016

load helpers

MIB=$((1024 * 1024))
RSS_LIMIT_KB=$((16 * 1024))
# A model that runs the blocking driver as coroutines (echo_waiting) holds a
# page of stack per connection, beyond what an event loop's connection costs.
STACKS_RSS_LIMIT_KB=$((64 * 1024))

setup() {
	mapfile -t MODELS < <(selected_models)
	[ ${#MODELS[@]} -gt 0 ] || fail "no model to test"
}

# ---------------------------------------------------------------- helpers

# probe_scale COMMAND ...: a scale command of the probe, aimed at the last
# server started, with a deadline that a busy machine does not reach
probe_scale() {
	probe --deadline 600 "$@"
}

# server_style MODEL: event, forking or blocking, from the model's source
server_style() {
	local src=$ECHOLAB_ROOT/models/$1.c
	if grep -Eq 'server_(start|prepare)\(.*SERVER_(EVENT_DRIVEN|REUSEPORT)' "$src"; then
		echo event
	elif grep -Eq 'server_(start|prepare)\(.*SERVER_FORKING' "$src"; then
		echo forking
	else
		echo blocking
	fi
}

event_models() {
	local m
	for m in "${MODELS[@]}"; do
		[ "$(server_style "$m")" != event ] || echo "$m"
	done
}

# A model whose wait set is select(2)'s fd_set (its source uses FD_SET())
# cannot watch a descriptor >= FD_SETSIZE, by design.
fd_set_model() {
	grep -q 'FD_SET(' "$ECHOLAB_ROOT/models/$1.c"
}

# The event models that can hold more descriptors than FD_SETSIZE.
uncapped_event_models() {
	local m
	for m in $(event_models); do
		fd_set_model "$m" || echo "$m"
	done
}

# need_ports N: skip unless the ephemeral port range holds N ports
need_ports() {
	local lo hi
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	[ $((hi - lo + 1)) -ge "$1" ] ||
		skip "only $((hi - lo + 1)) ephemeral ports ($lo-$hi); this case needs $1"
}

# field NAME TEXT: the value of NAME=VALUE in TEXT
field() {
	[[ $2 =~ (^|[^[:alnum:]_])$1=([^[:space:]]*) ]] && echo "${BASH_REMATCH[2]}"
}

# check WHAT GOT WANT: equal, or say what differs and fail
check() {
	if [ "$2" != "$3" ]; then
		echo "[$MODEL] $1: got '$2', want '$3'" >&2
		return 1
	fi
}

# check_range WHAT VALUE MIN MAX
check_range() {
	if ! [ "$2" -ge "$3" ] || ! [ "$2" -le "$4" ]; then
		echo "[$MODEL] $1: got $2, want $3..$4" >&2
		return 1
	fi
}

# stop_and_check_summary CONNECTIONS REFUSED MESSAGES BYTES: SIGTERM, exit 0,
# and the summary counts exactly these
stop_and_check_summary() {
	stop_server
	check "summary connections" "$(summary_field connections)" "$1"
	check "summary refused" "$(summary_field refused)" "$2"
	check "summary messages" "$(summary_field messages)" "$3"
	check "summary bytes" "$(summary_field bytes)" "$4"
}

# note TEXT: a line in the TAP output (shown by bats, hidden by tests/run.sh
# unless the case fails)
note() {
	echo "# $*" >&3
}

# The end of a model's subshell: its servers are killed and checked by
# helpers' teardown. bash reports the servers it killed there ("Killed ...")
# on stderr; those lines are dropped, anything else is kept.
model_done() {
	local rc=$1
	trap - ERR
	[ "$rc" -ne 0 ] || BATS_TEST_COMPLETED=1
	echolab_teardown 2>"$BATS_TEST_TMPDIR/teardown.err" || rc=1
	grep -v '^[^ ]*: line [0-9]*: *[0-9]* Killed ' "$BATS_TEST_TMPDIR/teardown.err" >&2 || true
	exit "$rc"
}

# for_each_model FUNCTION MODEL...: runs FUNCTION MODEL for each model in a
# subshell of its own (errexit on, its own servers killed and checked for
# sanitizer reports when it ends), then fails if any model failed.
for_each_model() {
	local fn=$1 m rc start ms failed=()
	shift
	for m in "$@"; do
		start=${EPOCHREALTIME/./}
		(
			set -eE
			MODEL=$m
			BATS_TEST_TMPDIR=$BATS_TEST_TMPDIR/$m
			mkdir -p "$BATS_TEST_TMPDIR"
			SERVER_PIDS=()
			SERVER_ERRS=()
			level=$BASH_SUBSHELL
			# name the failing command once (not again in every subshell)
			trap '[ "$BASH_SUBSHELL" -ne "$level" ] ||
				echo "[$MODEL] failed in ${FUNCNAME[0]:-?}: $BASH_COMMAND" >&2' ERR
			trap 'model_done $?' EXIT
			"$fn" "$m"
		) &
		rc=0
		wait $! || rc=$?
		ms=$(((${EPOCHREALTIME/./} - start) / 1000))
		if [ "$rc" -eq 0 ]; then
			note "$m: ok in $((ms / 1000)).$((ms % 1000 / 100))s"
		else
			note "$m: FAILED (status $rc) after $((ms / 1000)).$((ms % 1000 / 100))s"
			failed+=("$m")
		fi
	done
	[ ${#failed[@]} -eq 0 ] || fail "failed for: ${failed[*]}"
}

# start_server_nofile LIMIT MODEL [ARGS...]: start_server, with the server's
# RLIMIT_NOFILE set to LIMIT before it starts, soft and hard alike (so its
# raising the soft limit to the hard one gains nothing). bash sets the limit
# and execs the server, so SERVER_PID is the server itself.
start_server_nofile() {
	local limit=$1 model=$2
	shift 2
	SERVER_NOFILE=$limit start_server "$model" "$@" || return 1
	check "the server's descriptor limit" \
		"$(awk '/^Max open files/ { print $4, $5 }' "/proc/$SERVER_PID/limits")" "$limit $limit"
}

# how many descriptors the server holds
descriptors() {
	local fds=("/proc/$SERVER_PID/fd/"*)
	echo ${#fds[@]}
}

fds_are() {
	local fds=("/proc/$SERVER_PID/fd/"*)
	[ ${#fds[@]} -eq "$1" ]
}

# sockets the server's process group (fork children too) holds
server_sockets() {
	local member pids=() n
	while read -r member _; do
		pids+=("$member")
	done < <(procs_where pgid "$SERVER_PID")
	count_sockets n "${pids[@]}"
	echo "$n"
}

server_sockets_are() {
	[ "$(server_sockets)" -eq "$1" ]
}

# the live processes of the server's group are N (1: only the server itself)
group_members_are() {
	local members member n=0
	members=$(live_group_members "$SERVER_PID")
	while read -r member; do
		[ -z "$member" ] || n=$((n + 1))
	done <<<"$members"
	[ "$n" -eq "$1" ]
}

# ---------------------------------------------------------------- 1. 1,000 clients

swarm_1000() {
	local out ping listening
	start_server "$1"
	listening=$(server_sockets) # one listening socket, or one per worker (reuseport)
	out=$(probe_scale swarm 1000 --messages 3 --pid "$SERVER_PID")
	note "$1: $out"
	check "connections echoed" "$(field clients "$out")" 1000
	# every client closed: the server holds only its listening sockets again
	wait_until "$WAIT" server_sockets_are "$listening"
	ping=$(probe_scale ping)
	stop_and_check_summary 1001 0 $(($(field messages "$out") + 1)) \
		$(($(field bytes "$out") + $(field bytes "$ping")))
}

@test "event models: 1,000 clients connected at once, 3 interleaved messages each, every echo exact, summary exact" {
	need_descriptors 1100
	mapfile -t EVENT < <(event_models)
	[ ${#EVENT[@]} -gt 0 ] || skip "n/a: no event model among: ${MODELS[*]}"
	for_each_model swarm_1000 "${EVENT[@]}"
}

# ---------------------------------------------------------------- 2. FD_SETSIZE

beyond_fd_setsize() {
	local out served
	start_server "$1" --max-clients 5000
	out=$(probe_scale ordered 1100 --close 10)
	note "$1: $out"
	served=$(field served "$out")
	# descriptors 0, 1, 2, the signalfd, the listener and the spare are not
	# clients: at most FD_SETSIZE - 6 = 1018 are served, the rest refused
	check_range "connections served" "$served" 1000 1018
	check "served + refused" $((served + $(field refused "$out"))) 1100
	stop_and_check_summary "$(field connections "$out")" "$(field refusals "$out")" \
		"$(field messages "$out")" "$(field bytes "$out")"
}

@test "select: of 1,100 connections the first ~1,0xx are served, those beyond FD_SETSIZE get 'ERR server busy' and EOF; it still serves" {
	need_descriptors 1200
	local m capped=()
	for m in $(event_models); do
		! fd_set_model "$m" || capped+=("$m")
	done
	[ ${#capped[@]} -gt 0 ] || skip "n/a: no selected model is capped at FD_SETSIZE"
	for_each_model beyond_fd_setsize "${capped[@]}"
}

# ---------------------------------------------------------------- 3. 10,000 clients

# rss_limit_kb MODEL: what its 10,000 connections may cost
rss_limit_kb() {
	if grep -q 'echo_waiting(' "$ECHOLAB_ROOT/models/$1.c"; then
		echo "$STACKS_RSS_LIMIT_KB"
	else
		echo "$RSS_LIMIT_KB"
	fi
}

ten_thousand() {
	local out ping rss=() maxrss listening limit
	limit=$(rss_limit_kb "$1")
	sanitized_build "$1" || rss=(--max-rss-kb "$limit")
	start_server "$1" --max-clients 20000
	listening=$(server_sockets)
	# One message per client in two parts: 100 bytes that the server holds as
	# an unfinished line on all 10,000 connections at once (RSS measured
	# then, as partial_rss_kb), then the rest.
	out=$(probe_scale swarm 10000 --partial 100 --messages 1 --window 512 --pid "$SERVER_PID" \
		"${rss[@]}")
	note "$1: $out"
	wait_until "$WAIT" server_sockets_are "$listening"
	ping=$(probe_scale ping)
	stop_and_check_summary 10001 0 10001 $(($(field bytes "$out") + $(field bytes "$ping")))
	maxrss=$(summary_field maxrss_kb)
	if sanitized_build "$1"; then
		note "$1: sanitizer build: memory not checked (maxrss_kb=$maxrss)"
	elif [ "$maxrss" -ge "$limit" ]; then
		echo "[$1] peak RSS $maxrss KiB with 10,000 connections, not under $limit KiB" >&2
		return 1
	fi
}

@test "10,000 concurrent connections each hold a 100-byte unfinished line, then echo it; server RSS (holding, open, and peak) < 16 MiB (coroutines: 64 MiB)" {
	need_descriptors 10100
	need_ports 12000
	mapfile -t UNCAPPED < <(uncapped_event_models)
	[ ${#UNCAPPED[@]} -gt 0 ] || skip "n/a: no event model without a descriptor cap among: ${MODELS[*]}"
	for_each_model ten_thousand "${UNCAPPED[@]}"
}

# ---------------------------------------------------------------- 4. ulimit -n 64

exhaust_64() {
	local style out out2='' ping fds0 serial=() pool=() standing=1 served refused
	style=$(server_style "$1")
	serves_many "$1" || serial=(--serial)
	if [ "$(model_kind "$1")" = pool ]; then
		# a worker for every client, so all 100 are taken at once; a pool
		# of processes keeps its workers when the clients have gone
		pool=(--workers 100)
		[ "$style" != forking ] || standing=101
	fi
	# reuseport: two workers share one descriptor table, the case its
	# fitted --max-clients exists for (models/reuseport.c)
	[ "$1" != reuseport ] || pool=(--workers 2)
	start_server_nofile 64 "$1" "${pool[@]}"
	fds0=$(descriptors)
	# 100 clients at once, each sends a message; then the server's CPU time
	# over 1 s with all of them still open must stay under 20%
	out=$(probe_scale exhaust 100 --pid "$SERVER_PID" "${serial[@]}" --cpu-window 1 --max-cpu 0.2)
	note "$1: $out"
	served=$(field served "$out")
	refused=$(field refused "$out")
	check "served + refused" $((served + refused)) 100
	if [ ${#serial[@]} -gt 0 ] || [ "$style" = forking ]; then
		# iterative holds one client at a time, the others wait in the
		# backlog; fork's and prefork's children each have their own
		# descriptor table: neither runs out, so all are served, none refused
		check "clients served" "$served" 100
		wait_until "$WAIT" group_members_are "$standing"
		wait_until "$WAIT" fds_are "$fds0"
	else
		# one descriptor table: 64 minus 0, 1, 2, the signalfd, the
		# listener and the spare
		check_range "clients served" "$served" 1 58
		# every descriptor comes back once the clients have gone
		wait_until "$WAIT" fds_are "$fds0"
		# so a second round is served exactly as the first
		out2=$(probe_scale exhaust 100 --pid "$SERVER_PID" --cpu-window 0)
		note "$1: again: $out2"
		check "clients served the second time" "$(field served "$out2")" "$served"
		wait_until "$WAIT" fds_are "$fds0"
		served=$((served + $(field served "$out2")))
		refused=$((refused + $(field refused "$out2")))
	fi
	ping=$(probe_scale ping)
	stop_and_check_summary $((served + 1)) "$refused" \
		$(($(field messages "$out") + $(field messages "${out2:-messages=0}") + 1)) \
		$(($(field bytes "$out") + $(field bytes "${out2:-bytes=0}") + $(field bytes "$ping")))
}

@test "every model under ulimit -n 64: of 100 clients each is served or gets 'ERR server busy', the server idles, then serves again" {
	for_each_model exhaust_64 "${MODELS[@]}"
}

# ---------------------------------------------------------------- 5. 32 MiB

push_32m() {
	local out by=() mem=() cache=() connections=1
	if serves_many "$1"; then
		by=(--bystander 20 --max-latency 5)
		connections=2
	fi
	sanitized_build "$1" || mem=(--max-growth-kb "$RSS_LIMIT_KB")
	start_server "$1"
	# 32 MiB: the socket buffers on the way hold about 12 MiB here, so a
	# server that does not throttle takes every byte and grows by some
	# 20 MiB, past the limit; made once per run (in tests/run.sh's directory)
	[ -z "${ECHOLAB_RUN_DIR:-}" ] || cache=(--cache "$ECHOLAB_RUN_DIR")
	out=$(probe_scale push $((32 * MIB)) --pid "$SERVER_PID" "${by[@]}" "${mem[@]}" "${cache[@]}")
	note "$1: $out"
	sanitized_build "$1" && note "$1: sanitizer build: RSS growth not checked"
	stop_and_check_summary "$connections" 0 "$(field messages "$out")" "$(field bytes "$out")"
}

@test "every model: a client pushing 32 MiB without reading is throttled (RSS growth < 16 MiB), gets every byte back, and another client is served meanwhile" {
	for_each_model push_32m "${MODELS[@]}"
}

# ---------------------------------------------------------------- 6. slowloris

slowloris() {
	local n out
	case $(server_style "$1") in
	# select (FD_SETSIZE) and poll (it scans every descriptor per wake-up:
	# 96% of a CPU at 10,000 trickling connections, its documented weak
	# point) hold 1,000; the models that wait on ready lists hold 10,000
	event) if fd_set_model "$1" || [ "$1" = poll ]; then n=1000; else n=10000; fi ;;
	*) n=200 ;;
	esac
	start_server "$1" --idle-timeout 2 --max-clients 20000
	local listening
	listening=$(server_sockets) # one listening socket, or one per worker (reuseport)
	# CPU: the server's own utime+stime over the window, at most 50% of it (a
	# server that spins on the idle connections uses 100%); the well-behaved
	# client is echo-client's ping-pong at 50 messages/s, a process of its own
	out=$(probe_scale slowloris "$n" --pid "$SERVER_PID" --idle 2 --gap 3 --max-cpu 0.5 \
		--client "$ECHO_CLIENT")
	note "$1: $out"
	check "trickling connections closed" "$(field closed "$out")" "$n"
	wait_until "$WAIT" server_sockets_are "$listening"
	stop_and_check_summary $((n + 1)) 0 "$(field messages "$out")" "$(field bytes "$out")"
}

@test "slowloris: --idle-timeout 2 closes 10,000 connections trickling a byte every 3 s (200 on blocking models) within 3 s of their last byte; low server CPU; a well-behaved client is served throughout" {
	local m applies=()
	for m in "${MODELS[@]}"; do
		[ "$(model_kind "$m")" != concurrent ] || applies+=("$m")
	done
	# a serial model (or a fixed pool) serves a few clients at a time: each
	# trickler holds a place up to the timeout, by design (docs/models/iterative.md)
	[ ${#applies[@]} -gt 0 ] || skip "n/a: not a concurrent model (models.list): ${MODELS[*]}"
	need_descriptors 10100
	need_ports 12000
	for_each_model slowloris "${applies[@]}"
}

# ---------------------------------------------------------------- 7. waves

# Memory must come back when the clients go, however many waves came before:
# libev's arrays, grown in the middle of a wave on top of the heap, once
# pinned every page below them (issue 7: 27 MB after one wave of 10,000,
# 182 MB after ten; epoll and poll back to 1.7 MB each time).
WAVE_GROWTH_KB=$((4 * 1024))

waves() {
	local out
	if sanitized_build "$1"; then
		# its shadow memory is not the server's: nothing to measure
		note "$1: sanitizer build: memory not checked, case skipped"
		return 0
	fi
	start_server "$1" --max-clients 20000
	out=$(probe_scale waves 1500 --rounds 3 --partial 4095 --pid "$SERVER_PID" \
		--max-growth-kb "$WAVE_GROWTH_KB")
	note "$1: $(tr '\n' ' ' <<<"$out")"
	stop_and_check_summary 4500 0 4500 $((4500 * 4096))
}

@test "event models: 3 waves of 1,500 connections holding a 4,095-byte partial line; RSS with none open returns near its start (< 4 MiB growth)" {
	need_descriptors 1600
	mapfile -t UNCAPPED < <(uncapped_event_models)
	[ ${#UNCAPPED[@]} -gt 0 ] || skip "n/a: no event model without a descriptor cap among: ${MODELS[*]}"
	for_each_model waves "${UNCAPPED[@]}"
}
