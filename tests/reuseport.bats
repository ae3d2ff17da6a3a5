#!/usr/bin/env bats
# reuseport.bats: what only the SO_REUSEPORT model promises (the conformance
# and differential suites hold it to everything else, like every model):
#   - --workers N threads, each with a listening socket of its own on the one
#     port (with --port 0 too), and the kernel spreads connections over them;
#   - --max-clients holds across all workers together, the refusal exact;
#   - a second server on its port is refused, not silently sharing it.

load helpers

setup() {
	selected_models | grep -qx reuseport || skip "reuseport is not among the models tested"
}

# The number of TCP sockets listening on 127.0.0.1:PORT (state 0A in
# /proc/net/tcp; the port in hex).
listeners_on() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v want="0100007F:$hex" '$2 == want && $4 == "0A"' /proc/net/tcp | wc -l
}

# worker_counts: the "worker I: connections=N" lines of --verbose, as "N N ...".
worker_counts() {
	sed -n 's/^worker [0-9]*: connections=\([0-9]*\) messages=[0-9]*$/\1/p' "$SERVER_ERR" | tr '\n' ' '
}

@test "reuseport: --workers 3 --port 0: three threads, three listeners on the one port the first got" {
	start_server reuseport --workers 3 --port 0
	# three worker threads (named "worker I"), each with its own listener
	assert_equal "$(cat "/proc/$SERVER_PID"/task/*/comm | grep -c '^worker ')" 3
	assert_equal "$(listeners_on "$PORT")" 3
	run probe script <<<"many 8"
	assert_success
	stop_server
	assert_equal "$(listeners_on "$PORT")" 0
}

@test "reuseport: --workers 4: connections spread over every worker, counted per worker" {
	start_server reuseport --workers 4 --verbose
	# 64 connections, each from its own port: the kernel's 4-tuple hash leaves
	# a worker empty with probability 4 * (3/4)^64, about 4e-8.
	run probe script <<<"many 64"
	assert_success
	stop_server
	local counts n total=0 workers=0
	counts=$(worker_counts)
	for n in $counts; do
		workers=$((workers + 1))
		total=$((total + n))
		[ "$n" -ge 1 ] || fail "a worker served no connection: $counts"
	done
	assert_equal "$workers" 4
	assert_equal "$total" 64
	assert_equal "$(summary_field connections)" 64
	local spread min max
	spread=$(summary_field spread)
	min=${spread%/*} max=${spread#*/}
	[ "$min" -ge 1 ] && [ "$max" -le 61 ] && [ "$min" -le "$max" ] || fail "spread=$spread"
	echo "# connections per worker: $counts(spread=$spread)" >&3
}

@test "reuseport: --workers 4 --max-clients 3 holds across workers, refusals exact" {
	start_server reuseport --workers 4 --max-clients 3
	# Eight refused clients, each hashed to some worker: whichever worker
	# takes a client must count the connections of all the others.
	local refusals='' i
	for i in 1 2 3 4 5 6 7 8; do
		refusals+="connect x$i"$'\n'"expect x$i b\"ERR server busy\\n\""$'\n'"expect_eof x$i"$'\n'
	done
	run probe script <<-EOF
		connect a
		send a b"a\n"
		expect a b"a\n"
		connect b
		send b b"b\n"
		expect b b"b\n"
		connect c
		send c b"c\n"
		expect c b"c\n"
		$refusals
		send a b"a again\n"
		expect a b"a again\n"
		close a
		served d
		send d b"d\n"
		expect d b"d\n"
		connect e
		expect e b"ERR server busy\n"
		expect_eof e
		send b b"b still\n"
		expect b b"b still\n"
		send c b"c still\n"
		expect c b"c still\n"
	EOF
	assert_success
	local retries
	retries=$(sed -n 's/^d served after \([0-9]*\) refusals$/\1/p' <<<"$output")
	stop_server
	assert_equal "$(summary_field connections)" 4
	assert_equal "$(summary_field refused)" "$((8 + 1 + retries))"
}

@test "reuseport: a second server on its port exits 1 'address already in use'" {
	start_server reuseport --workers 2
	run timeout 10 "$ECHOLAB_BIN/echo-reuseport" --host 127.0.0.1 --port "$PORT" --workers 2
	[ "$status" -eq 1 ] || fail "exit status $status, expected 1; output: $output"
	assert_output --partial "address already in use"
	refute_output --partial "listening on"
	# and the first still serves on every one of its sockets
	assert_equal "$(listeners_on "$PORT")" 2
	run probe script <<<"many 8"
	assert_success
}
