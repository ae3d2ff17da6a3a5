#!/usr/bin/env bats
# conformance-lifecycle.bats: the conformance suite, startup, options and bad usage, stopping, the log.
# run.sh: per model
#
# Every stream model must pass every case; conformance.bash says how the
# cases run (once per model, $ECHOLAB_MODEL) and what they share.

# shellcheck disable=SC2153 # SERVER_PID and the like come from helpers.bash
load helpers
load conformance

# ----------------------------------------------------------------- startup

@test "${MODEL}: prints 'listening on 127.0.0.1:PORT' and serves that port" {
	start_server "$MODEL"
	[ "$PORT" -gt 0 ] && [ "$PORT" -lt 65536 ]
	assert_equal "$(cat "$SERVER_OUT")" "listening on 127.0.0.1:$PORT"
	run probe script <<-'EOF'
		connect a
		send a b"ping\n"
		expect a b"ping\n"
	EOF
	assert_success
}

@test "${MODEL}: --host ::1, and [::1] (the form it prints), serve over IPv6; echo-client takes [::1] too" {
	has_ipv6 || skip "no IPv6 loopback on this machine"
	start_server "$MODEL" --host ::1
	assert_equal "$(cat "$SERVER_OUT")" "listening on [::1]:$PORT"
	run probe --host ::1 script <<-'EOF'
		connect a
		send a b"over ipv6\n"
		expect a b"over ipv6\n"
	EOF
	assert_success
	start_server "$MODEL" --host '[::1]'
	assert_equal "$(cat "$SERVER_OUT")" "listening on [::1]:$PORT"
	run bash -c 'printf "bracketed\n" | "$0" --host "[::1]" --port "$1"' "$ECHO_CLIENT" "$PORT"
	assert_success
	assert_output "bracketed"
}

@test "${MODEL}: with no --host it listens on every address, IPv6 and IPv4" {
	start_server "$MODEL" --host-default
	if has_ipv6; then
		assert_equal "$(cat "$SERVER_OUT")" "listening on [::]:$PORT"
		run probe --host ::1 script <<-'EOF'
			connect a
			send a b"v6\n"
			expect a b"v6\n"
		EOF
		assert_success
	else
		assert_equal "$(cat "$SERVER_OUT")" "listening on 0.0.0.0:$PORT"
	fi
	run probe --host 127.0.0.1 script <<-'EOF'
		connect a
		send a b"v4\n"
		expect a b"v4\n"
	EOF
	assert_success
}

@test "${MODEL}: --help names the model and lists every option that applies; --workers is taken exactly when it is listed" {
	run timeout "$WAIT" "$SERVER_BIN" --help
	assert_success
	assert_line --index 0 --regexp "^echo-$MODEL: .+"
	local opt
	for opt in --host --port --max-line --max-clients --idle-timeout --verbose --help; do
		assert_output --partial -- "$opt"
	done
	refute_output --partial "listening on"
	if [[ "$output" == *--workers* ]]; then
		start_server "$MODEL" --workers 2
		run probe script <<-'EOF'
			connect a
			send a b"two workers\n"
			expect a b"two workers\n"
		EOF
		assert_success
	else
		run timeout "$WAIT" "$SERVER_BIN" --host 127.0.0.1 --port 0 --workers 2
		assert_failure 2
		assert_output --partial "--workers"
		assert_output --partial "the $MODEL model has no workers"
		assert_output --partial "only a pool, or a model with one loop per worker, takes --workers"
	fi
}

@test "${MODEL}: bad usage exits 2 with a message naming the problem" {
	# args | what the message must mention
	local cases=(
		"--bogus|--bogus"
		"--port abc|abc"
		"--port 70000|70000"
		"--port -1|-1"
		"--port 80x|80x"
		"--max-line 0|max-line"
		"--max-line -1|max-line"
		"--max-line 12x|max-line"
		"--max-clients x|max-clients"
		"--max-clients -3|max-clients"
		"--idle-timeout soon|idle-timeout"
		"--idle-timeout -1|idle-timeout"
		"--port|--port"
		"--max-line|--max-line"
		"--idle-timeout|--idle-timeout"
		"stray-argument|stray-argument"
		"-xy|unknown option '-xy'"
		"--h|ambiguous option '--h' (could be --host, --help)"
		"--verbose=1|option '--verbose' takes no value"
		"--help=3|option '--help' takes no value"
		"--max-line=0|max-line"
	)
	# One Python runs them all (each server under its own deadline, should
	# it start anyway): 21 runs from bats' shell were 21 forks of it and 21
	# of timeout, half a second of CPU per model here. The bad option comes
	# last so that it is the one that counts.
	run "$PYTHON" -S - "$SERVER_BIN" "$WAIT" "${cases[@]}" <<-'PY'
		import os, subprocess, sys
		server, wait = sys.argv[1], float(sys.argv[2])
		name, bad = os.path.basename(server), 0
		for case in sys.argv[3:]:
		    args, needle = case.split("|", 1)
		    try:
		        r = subprocess.run([server, "--host", "127.0.0.1", "--port", "0"] + args.split(),
		                           stdin=subprocess.DEVNULL, capture_output=True, timeout=wait)
		        status, out, err = r.returncode, r.stdout, r.stderr.decode(errors="replace")
		    except subprocess.TimeoutExpired as e:
		        status, out, err = "none (still running after %gs)" % wait, e.stdout or b"", ""
		    if status != 2:
		        print("%s %s: exit status %s, expected 2" % (name, args, status)); bad = 1
		    if needle not in err:
		        print("%s %s: stderr does not mention '%s': %s" % (name, args, needle, err)); bad = 1
		    if out:
		        print("%s %s: printed on stdout: %r" % (name, args, out)); bad = 1
		sys.exit(bad)
	PY
	assert_success
}

@test "${MODEL}: cannot listen: exit 1, 'address already in use' for a port in use, the reason lower-case mid-sentence" {
	run probe port-in-use -- "$SERVER_BIN" --host 127.0.0.1 --port '{port}'
	[ "$status" -eq 1 ] || fail "port in use: exit status $status, expected 1; output: $output"
	assert_output --partial "address already in use"
	refute_output --partial "listening on"
	# 192.0.2.1 is reserved for documentation (RFC 5737): never local, and
	# bind() fails without a packet being sent
	run "$SERVER_BIN" --host 192.0.2.1 --port 0
	[ "$status" -eq 1 ] || fail "an address not here: exit status $status, expected 1; output: $output"
	assert_output "echo-$MODEL: cannot listen on 192.0.2.1 port 0: cannot assign requested address"
}

# ----------------------------------------------------------------- stopping

@test "${MODEL}: SIGTERM: exit 0 with a summary whose counts are exact" {
	start_server "$MODEL"
	# b is still connected, idle, when the signal comes: it must not delay
	# the stop, and it gets EOF.
	run probe script <<-EOF
		connect a
		send a b"alpha\nbeta\n\n"
		expect a b"alpha\nbeta\n\n"
		send a b"tail"
		shutdown a
		expect a b"tail"
		expect_eof a
		connect b
		send b b"x" * 100 + b"\n"
		expect b b"x" * 100 + b"\n"
		signal TERM $SERVER_PID
		expect_eof b
	EOF
	assert_success
	wait_server_exit
	# 2 connections; messages alpha, beta, empty, x*100; 12 + 4 + 101 bytes
	run grep -c '^summary: ' "$SERVER_ERR"
	assert_output 1
	run grep '^summary: ' "$SERVER_ERR"
	assert_output --regexp "^summary: model=$MODEL connections=2 refused=0 messages=4 bytes=117 user=[0-9]+\.[0-9]{3}s sys=[0-9]+\.[0-9]{3}s maxrss_kb=[0-9]+${SPREAD}$"
	# the listening line is all there is on stdout
	assert_equal "$(cat "$SERVER_OUT")" "listening on 127.0.0.1:$PORT"
}

@test "${MODEL}: SIGINT: exit 0 with a summary; SIGTERM with no client ever connected too" {
	start_server "$MODEL"
	run probe script <<-'EOF'
		connect a
		send a b"hi\n"
		expect a b"hi\n"
		shutdown a
		expect_eof a
	EOF
	assert_success
	stop_server INT
	run grep '^summary: ' "$SERVER_ERR"
	assert_output --regexp "^summary: model=$MODEL connections=1 refused=0 messages=1 bytes=3 user=[0-9.]+s sys=[0-9.]+s maxrss_kb=[0-9]+${SPREAD}$"
	start_server "$MODEL"
	stop_server TERM
	run grep '^summary: ' "$SERVER_ERR"
	assert_output --regexp "^summary: model=$MODEL connections=0 refused=0 messages=0 bytes=0 "
}

@test "${MODEL}: maxrss_kb is the server's own: started by a process grown by 24 MiB, it reports under 10 MiB" {
	# Twice the limit and more: the spawner's peak (its 9 MiB at start and
	# what it grew) is three times it, should the server report that. Every
	# page grown is a page fault, the case's main cost here.
	local grow=24 limit=10240 spawner maxrss
	# A sanitizer's shadow memory is the server's too, but far from under
	# 10 MiB (TSan's prethreaded with 32 workers: 44 MiB): a higher bound,
	# and the spawner grown past it.
	! sanitized_build "$MODEL" || { grow=128 && limit=102400; }
	# exec-grown touches GROW MiB, then execs the server in its place: Linux
	# keeps that peak in getrusage's ru_maxrss across exec.
	ECHOLAB_SERVER_WRAPPER="$PYTHON -S $ECHOLAB_TESTS/probe.py exec-grown $grow" start_server "$MODEL"
	run probe script <<<"many 4" # a fork server's children are reaped: their figure counts
	assert_success
	stop_server
	spawner=$(sed -n 's/^exec-grown: VmHWM \([0-9]*\) kB$/\1/p' "$SERVER_ERR")
	[ "${spawner:-0}" -ge $((grow * 1024)) ] || fail "the spawner did not grow: $(cat "$SERVER_ERR")"
	maxrss=$(summary_field maxrss_kb)
	echo "spawner's peak $spawner KiB, the server's maxrss_kb $maxrss"
	[ "$maxrss" -lt "$limit" ] || fail "maxrss_kb=$maxrss, not under $limit"
}

# stop_while_streaming SIG: one client streams without pause in both
# directions (yes | echo-client, its echo read as fast as it comes) while the
# server gets SIG: it must exit 0 with its summary within 2 seconds, the
# promise, however busy the client keeps it. (An event loop that delivers
# signals only inside a wait that sleeps never sleeps here: signals.h.)
stop_while_streaming() {
	local sig=$1 client
	start_server "$MODEL"
	# Its echo goes to /dev/null at once: a slower reader would let the
	# server's sockets go quiet now and then, and the trap never spring.
	yes | "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" >/dev/null 2>&1 3>&- &
	client=$!
	BG_PIDS+=("$client")
	# Its bytes written (to the socket and, as echo comes back, to stdout):
	# 32 MiB is more than every socket buffer on the way holds, so by then
	# echo is flowing back too.
	moved() {
		local key value
		while read -r key value; do
			[ "$key" != wchar: ] || return $((value < 33554432))
		done <"/proc/$client/io"
		return 1
	} 2>/dev/null
	wait_until 30 moved || fail "the streaming client got nowhere: $(cat "/proc/$client/io" 2>&1)"
	local start=${EPOCHREALTIME/./}
	kill -"$sig" "$SERVER_PID"
	wait_server_exit "$SERVER_PID" 2 || fail "not stopped within 2 s of SIG$sig under load (status $SERVER_STATUS)"
	echo "stopped $(((${EPOCHREALTIME/./} - start) / 1000)) ms after SIG$sig"
	run grep '^summary: ' "$SERVER_ERR"
	assert_output --regexp "^summary: model=$MODEL connections=1 refused=0 messages=[1-9][0-9]* "
}

@test "${MODEL}: SIGTERM, and SIGINT, while a client streams both ways: exit 0 with the summary within 2 s" {
	stop_while_streaming TERM
	stop_while_streaming INT
}

@test "${MODEL}: 16 clients churning 0.5 s: none refused as busy, zombies never accumulate" {
	start_server "$MODEL"
	probe_bg churn script <<<"churn 16 0.5"
	# Sample the server's zombie children while the clients churn: each
	# finished child must be reaped at the parent's next pass, so they can
	# never outnumber the clients, however long the storm lasts.
	local most=0 samples=0
	while proc_alive "${BG_PID[churn]}"; do
		count_zombie_children "$SERVER_PID"
		((ZOMBIES <= most)) || most=$ZOMBIES
		samples=$((samples + 1))
		nap 0.05
	done
	run probe_wait churn
	assert_success
	assert_output --regexp 'churn: [1-9][0-9]* served, 0 refused'
	echo "most zombies at once: $most ($samples samples)"
	((most <= 16)) || fail "$most zombies at once during the churn"
	stop_server
	[ "$(summary_field refused)" = 0 ] || fail "summary: $(grep '^summary: ' "$SERVER_ERR")"
}

# A script for N clients that are each served once, say "connected", then wait
# for the server to close them.
held_clients_script() {
	local i
	for ((i = 0; i < $1; i++)); do
		printf 'connect c%d\nsend c%d b"c%d\\n"\nexpect c%d b"c%d\\n"\n' "$i" "$i" "$i" "$i" "$i"
	done
	echo "say connected"
	# the server is told to stop after the test has looked at it: on a busy
	# machine that can take longer than the probe's default wait
	for ((i = 0; i < $1; i++)); do
		printf 'expect_eof c%d 0 45\n' "$i"
	done
}

# tasks PID: how many threads the process runs
tasks() {
	local t=("/proc/$1/task/"*)
	echo ${#t[@]}
}

# at_rest: what the server runs with no client is what it started with. No
# child (a zombie included) for the others; a pool keeps its POOL_WORKERS
# workers, as processes (and no zombie) or as threads, and no more.
at_rest() {
	if [ "$KIND" != pool ]; then
		children_are 0 "$SERVER_PID"
	elif [ -n "$(children_of "$SERVER_PID")" ]; then
		children_are "$POOL_WORKERS" "$SERVER_PID"
	else
		# sanitizers may run a thread of their own
		[ "$(tasks "$SERVER_PID")" -ge $((POOL_WORKERS + 1)) ]
	fi
}

@test "${MODEL}: no zombies, no process outlives the server (a pool: its workers, no more)" {
	start_server "$MODEL"
	run probe script <<<"many 10"
	assert_success
	# every client has gone: whatever the server started for them is gone too
	wait_until "$WAIT" at_rest || fail "left behind: $(children_of "$SERVER_PID"), $(tasks "$SERVER_PID") threads"
	local rest_kids rest_tasks
	rest_kids=$(children_of "$SERVER_PID" | awk '{ print $1 }' | sort)
	rest_tasks=$(tasks "$SERVER_PID")

	# now with clients connected when the server is told to stop (a serial
	# server has only one of them)
	local held=3
	concurrent || held=1
	probe_bg clients script < <(held_clients_script "$held")
	wait_until "$WAIT" file_has connected "$BATS_TEST_TMPDIR/clients.out"
	local kids
	kids=$(children_of "$SERVER_PID" | awk '{ print $1 }')
	echo "children while $held clients are connected: ${kids:-none}"
	if [ "$KIND" = pool ]; then
		# the pool's workers serve them: created once, not per client
		assert_equal "$(sort <<<"$kids")" "$rest_kids"
		assert_equal "$(tasks "$SERVER_PID")" "$rest_tasks"
	fi
	stop_server
	local pid
	for pid in $kids; do
		wait_until "$WAIT" eval "! proc_alive $pid" || fail "child $pid outlived the server"
	done
	[ -z "$(live_group_members "$SERVER_PID")" ] || fail "still running: $(live_group_members "$SERVER_PID")"
	probe_wait clients
}

@test "${MODEL}: --verbose logs 'open PEER' and 'close PEER (reason)'" {
	start_server "$MODEL" --verbose
	run probe script <<-'EOF'
		connect a
		local a
		send a b"hi\n"
		expect a b"hi\n"
		shutdown a
		expect_eof a
	EOF
	assert_success
	local peer
	peer=$(sed -n 's/^a local //p' <<<"$output")
	[ -n "$peer" ]
	wait_until "$WAIT" file_has "^close ${peer//./\\.} \(.+\)$" "$SERVER_ERR" || fail "no 'close $peer (reason)' line in: $(cat "$SERVER_ERR")"
	grep -qxF "open $peer" "$SERVER_ERR" || fail "no 'open $peer' line in: $(cat "$SERVER_ERR")"
	local open_at close_at
	open_at=$(grep -nxF "open $peer" "$SERVER_ERR" | cut -d: -f1)
	close_at=$(grep -nE "^close ${peer//./\\.} " "$SERVER_ERR" | cut -d: -f1)
	[ "$open_at" -lt "$close_at" ]
}
