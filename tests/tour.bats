#!/usr/bin/env bats
# tour.bats: the guided tour (docs/TOUR.md) stays true.
#
#   step 0: bin/bare-server and bin/bare-client echo a line, a split write too
#   every model of models/models.list has a page, a tour stop and a see-demo
#   every `file:function` a page cites exists in that file
#   every `make see MODEL=m` runs end to end in its short mode (SEE_SHORT=1)

# shellcheck disable=SC2153 # PORT and the like come from helpers.bash
load helpers

# Starts bin/bare-server on a free port; sets PORT and SERVER_PID (teardown
# ends it with the others).
start_bare_server() {
	SERVER_OUT=$BATS_TEST_TMPDIR/bare.out
	SERVER_ERR=$BATS_TEST_TMPDIR/bare.err
	setsid "$ECHOLAB_BIN/bare-server" 0 </dev/null >"$SERVER_OUT" 2>"$SERVER_ERR" 3>&- &
	SERVER_PID=$!
	SERVER_PIDS+=("$SERVER_PID")
	SERVER_ERRS+=("$SERVER_ERR")
	[ -z "${ECHOLAB_RUN_DIR:-}" ] || echo "$SERVER_PID" >>"$ECHOLAB_RUN_DIR/server-pids"
	wait_until 10 grep -q '^listening on port ' "$SERVER_OUT"
	PORT=$(sed -n 's/^listening on port //p' "$SERVER_OUT")
}

@test "step 0: bare-client gets its line back from bare-server" {
	start_bare_server
	run timeout 10 "$ECHOLAB_BIN/bare-client" 127.0.0.1 "$PORT" "hello, socket"
	assert_success
	assert_output "hello, socket"
	# and from ::1 / localhost, whichever address the name gives first
	run timeout 10 "$ECHOLAB_BIN/bare-client" localhost "$PORT"
	assert_success
	assert_output "hello"
}

@test "step 0: bare-server echoes a line split over two writes, and many lines in one" {
	start_bare_server
	run probe script <<-'EOF'
		connect a
		send a b"hel"
		pause 0.1
		send a b"lo\n"
		expect a b"hello\n"
		trickle a b"one byte at a time\n"
		expect a b"one byte at a time\n"
		# one client at a time: b is served once a has gone
		close a
		connect b
		send b b"x" * 100000 + b"\n"
		expect b b"x" * 100000 + b"\n"
		shutdown b
		expect_eof b
	EOF
	assert_success
}

@test "step 0: bare-client speaks the models' protocol (against every model)" {
	local m
	for m in $(selected_models); do
		start_server "$m"
		run timeout 10 "$ECHOLAB_BIN/bare-client" 127.0.0.1 "$PORT" "to $m"
		assert_success
		assert_output "to $m"
	done
}

@test "step 0: bare-client: connection refused and bad usage are reported" {
	run "$ECHOLAB_BIN/bare-client" 127.0.0.1
	assert_failure 2
	assert_output --partial "usage:"
	run probe refusing-port -- timeout 20 \
		"$ECHOLAB_BIN/bare-client" 127.0.0.1 '{port}'
	assert_failure
	assert_output --partial "Connection refused"
}
