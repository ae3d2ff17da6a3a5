#!/usr/bin/env bats
# acceptor.bats: what only the acceptor model promises (the conformance and
# differential suites hold it to everything else, like every model): its main
# thread hands each client to the worker holding the fewest connections, ties
# taken in turn, and counts each worker's clients and messages.

load helpers

setup() {
	selected_models | grep -qx acceptor || skip "acceptor is not among the models tested"
}

# worker_lines: the "worker I: connections=N messages=M" lines, as "I:N:M ...".
worker_lines() {
	sed -n 's/^worker \([0-9]*\): connections=\([0-9]*\) messages=\([0-9]*\)$/\1:\2:\3/p' \
		"$SERVER_ERR" | tr '\n' ' '
}

@test "acceptor: a new client goes to the least loaded worker, not the next in turn" {
	start_server acceptor --workers 3 --verbose
	# a, b, c one after the other: equal loads, taken in turn (workers 0, 1,
	# 2). Then b leaves: worker 1 holds none, and d must go there, where
	# turn alone would give it to worker 0.
	probe_bg clients script <<-EOF
		connect a
		send a b"a\n"
		expect a b"a\n"
		connect b
		send b b"b\n"
		expect b b"b\n"
		connect c
		send c b"c\n"
		expect c b"c\n"
		close b
		wait_file $BATS_TEST_TMPDIR/b-closed
		connect d
		send d b"d\n"
		expect d b"d\n"
	EOF
	wait_until "$WAIT" file_has '^close ' "$SERVER_ERR" || fail "b's close never logged: $(cat "$SERVER_ERR")"
	touch "$BATS_TEST_TMPDIR/b-closed"
	probe_wait clients
	stop_server
	assert_equal "$(worker_lines)" "0:1:1 1:2:2 2:1:1 "
	assert_equal "$(summary_field spread)" 1/2
}
