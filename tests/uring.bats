#!/usr/bin/env bats
# uring.bats: what the io_uring completion model (bin/echo-uring) must get
# right beyond the conformance suite, which it runs like every model:
#
#   1. where io_uring is unavailable it says so in one line and exits 1
#      (made unavailable here the way a container does it: a seccomp filter)
#   2. 1,000 clients pipelining distinct byte patterns at once: every byte
#      comes back on its own connection (provided buffers are shared by all
#      connections: a buffer handed to two of them would show here)
#   3. clients that reset while a recv and a send of theirs are in flight:
#      the server cancels, waits for every completion, frees, and serves on
#   4. repeated SIGTERM under load: exit 0 with a summary, every time (under
#      a sanitizer build, helpers' teardown fails the case on any report,
#      leaks included)
#   5. 64 KiB messages, two in flight, go back out from the provided buffer
#      they arrived in: no allocation or copy per message (counted by the
#      preloaded build/tests/count.so, bench/copies/count.c)
#
# The 10,000-connection and 32 MiB cases are in scale.bats, which runs them
# for every event model, uring included.

load helpers
bats_require_minimum_version 1.5.0 # run --separate-stderr

setup() {
	selected_models | grep -qx uring || skip "uring is not among the models under test"
}

# ---------------------------------------------------------------- 1. unavailable

@test "uring: without io_uring (seccomp filter) it prints one line naming the reason and exits 1, before listening" {
	local tool=$ECHOLAB_ROOT/build/tests/without-io-uring
	[ -x "$tool" ] || fail "no $tool: build it with make test"
	run "$tool" true
	[ "$status" -ne 77 ] || skip "$output"
	run --separate-stderr "$tool" "$ECHOLAB_BIN/echo-uring" --host 127.0.0.1 --port 0
	assert_equal "$status" 1
	assert_equal "$output" "" # no "listening on"
	assert_equal "$(wc -l <<<"$stderr")" 1
	assert_regex "$stderr" '^echo-uring: io_uring unavailable: io_uring_setup: .*seccomp'
	# and the helpers turn that line into a skip, not a failure
	run bash -c 'grep -q "^echo-[a-z]*: .* unavailable: " <<<"$1"' _ "$stderr"
	assert_success
}

# ---------------------------------------------------------------- 2. no cross-talk

@test "uring: 1,000 clients pipeline distinct byte patterns at once; every byte comes back on its own connection" {
	need_descriptors 1100
	start_server uring --max-line 8192 --max-clients 2000
	run probe --deadline 60 pipeline 1000 \
		--rounds 2 --depth 4 --max-size 6000
	[ "$status" -ne 77 ] || skip "${output#SKIP: }"
	assert_success
	echo "# $output" >&3
	local messages bytes
	messages=$(sed -n 's/.* messages=\([0-9]*\).*/\1/p' <<<"$output")
	bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$output")
	stop_server
	assert_equal "$(summary_field connections)" 1000
	assert_equal "$(summary_field messages)" "$messages"
	assert_equal "$(summary_field bytes)" "$bytes"
}

# ---------------------------------------------------------------- 3. reset in flight

server_fds() {
	local fds=("/proc/$SERVER_PID/fd/"*)
	echo ${#fds[@]}
}

fds_back_to() {
	local fds=("/proc/$SERVER_PID/fd/"*)
	[ ${#fds[@]} -eq "$1" ]
}

@test "uring: clients that reset while their recv and send are in flight harm nobody and leave nothing behind" {
	start_server uring --verbose
	local fds0
	fds0=$(server_fds)
	# Each flood sends without reading until the server's send waits for a
	# full socket (a send in flight) and, below the owed-echo limit, its
	# recv is still armed; then the client resets. Several sizes, so the
	# reset meets the server in each of its states.
	run probe script <<-'EOF'
		connect b
		send b b"before\n"
		expect b b"before\n"
		connect f1
		flood f1 200000
		reset f1
		connect f2
		flood f2 700000
		reset f2
		connect f3
		flood f3 2000000
		reset f3
		connect f4
		flood f4 6000000
		reset f4
		connect g
		send g b"partial, no LF"
		reset g
		send b b"after\n"
		expect b b"after\n"
		connect c
		send c b"newcomer\n"
		expect c b"newcomer\n"
		close c
		close b
	EOF
	assert_success
	# every connection was freed (its descriptor closed only after its last
	# completion came back), and the server still serves
	wait_until 10 fds_back_to "$fds0"
	run probe script <<-'EOF'
		connect p
		send p b"ping\n"
		expect p b"ping\n"
	EOF
	assert_success
	stop_server
	assert_equal "$(summary_field connections)" 8
	[ "$(grep -c '^close .*(connection reset)' "$SERVER_ERR")" -ge 4 ] ||
		fail "expected the resets in the log: $(cat "$SERVER_ERR")"
}

# ---------------------------------------------------------------- 4. SIGTERM under load

@test "uring: repeated SIGTERM under load: exit 0 with a summary each time, nothing left running" {
	local round client
	for round in 1 2 3; do
		start_server uring --max-clients 2000
		"$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" --load --connections 200 --depth 4 \
			--duration 30 --warmup 0 >"$BATS_TEST_TMPDIR/load$round.out" 2>&1 3>&- &
		client=$!
		BG_PIDS+=("$client")
		# under load: all 200 clients connected (the listener is one more
		# socket), each keeping 4 messages in flight from then on, and a
		# message of our own echoed among them: the server is serving, not
		# still accepting, when the signal comes (connected alone left it
		# to chance whether any echo had happened yet)
		wait_until 20 server_sockets_at_least 201
		probe_bg canary$round script <<-'EOF'
			connect c
			send c b"canary\n"
			expect c b"canary\n"
			say echoed
			pause 60
		EOF
		wait_until "$WAIT" file_has echoed "$BATS_TEST_TMPDIR/canary$round.out"
		kill -TERM "$SERVER_PID"
		kill -TERM "$SERVER_PID" 2>/dev/null || true # a second one, mid-shutdown
		wait_server_exit "$SERVER_PID" 20
		grep -q '^summary: model=uring connections=201 ' "$SERVER_ERR" ||
			fail "round $round: $(cat "$SERVER_ERR")"
		# at least the canary's echo, made before the signal
		[ "$(summary_field messages)" -gt 0 ] || fail "round $round: the summary counts no echo"
		kill -KILL "$client" "${BG_PID[canary$round]}" 2>/dev/null || true
		wait "$client" "${BG_PID[canary$round]}" 2>/dev/null || true
	done
}

server_sockets_at_least() {
	local n
	count_sockets n "$SERVER_PID"
	[ "$n" -ge "$1" ]
}

# ---------------------------------------------------------------- 5. long messages

@test "uring: 64 KiB messages, two in flight, are echoed from the buffer they arrived in: no malloc or memcpy per message" {
	local shim=$ECHOLAB_ROOT/build/tests/count.so counts=$BATS_TEST_TMPDIR/counts
	[ -f "$shim" ] || fail "no $shim: make test builds it (make build/tests/count.so)"
	! sanitized_build uring || skip "sanitizer build: its allocator is not the one counted"
	ECHOLAB_SERVER_WRAPPER="env LD_PRELOAD=$shim COUNT_OUT=$counts" \
		start_server uring --max-line 65536
	run "$ECHOLAB_BIN/echo-client" --load --host 127.0.0.1 --port "$PORT" --connections 1 \
		--size 65536 --depth 2 --duration 1 --warmup 0.1
	assert_success
	stop_server
	local malloc memcpy messages
	read -r _ malloc _ _ _ _ _ _ _ memcpy _ <"$counts"
	messages=$(summary_field messages)
	echo "# $messages messages: $malloc mallocs, $memcpy memcpys" >&3
	# Taken in 4 KiB pieces, the core assembled each message in its own
	# buffer: 5 mallocs and 20 memcpys a message. The counts include the
	# server's start-up and its connection, spread over the messages.
	[ "$messages" -ge 200 ] || fail "only $messages messages echoed"
	[ $((malloc * 4)) -lt "$messages" ] || fail "$malloc mallocs for $messages messages"
	[ $((memcpy * 4)) -lt "$messages" ] || fail "$memcpy memcpys for $messages messages"
}
