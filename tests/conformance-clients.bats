#!/usr/bin/env bats
# conformance-clients.bats: the conformance suite, clients that misbehave, many clients, the idle timeout.
# run.sh: per model
#
# Every stream model must pass every case; conformance.bash says how the
# cases run (once per model, $ECHOLAB_MODEL) and what they share.

# shellcheck disable=SC2153 # SERVER_PID and the like come from helpers.bash
load helpers
load conformance

# ----------------------------------------------------------------- misbehaving clients

@test "${MODEL}: a client that resets mid-stream harms nobody" {
	start_server "$MODEL"
	if concurrent; then
		run probe script <<-'EOF'
			connect b
			send b b"before\n"
			expect b b"before\n"
			connect a
			send a b"abc\n"
			expect a b"abc\n"
			send a b"half a mess"
			reset a
			# reset while the server is writing to it
			connect f
			flood f 4000000
			reset f
			send b b"after\n"
			expect b b"after\n"
			connect c
			send c b"newcomer\n"
			expect c b"newcomer\n"
		EOF
	else
		run probe script <<-'EOF'
			connect a
			send a b"abc\n"
			expect a b"abc\n"
			connect b
			send b b"queued\n"
			send a b"half a mess"
			reset a
			expect b b"queued\n"
			close b
			connect f
			flood f 4000000
			reset f
			connect c
			send c b"newcomer\n"
			expect c b"newcomer\n"
		EOF
	fi
	assert_success
	proc_alive "$SERVER_PID"
	stop_server
}

@test "${MODEL}: clients that vanish while it writes to them do not kill it (SIGPIPE)" {
	start_server "$MODEL" --verbose
	# epipe (see tests/probe.py) makes a blocked send() fail with EPIPE, which
	# raises SIGPIPE in a server that does not guard against it.
	run probe script <<-'EOF'
		connect a
		flood a 8000000
		close a
		connect b
		send b b"x\n" * 100000
		close b
		epipe
		connect d
		send d b"alive?\n"
		expect d b"alive?\n"
		shutdown d
		expect_eof d
	EOF
	assert_success
	proc_alive "$SERVER_PID"
	# Every connection was closed by the server, not by a signal: a fork
	# child killed by SIGPIPE would never log its close.
	local opened closed attempts
	all_closed() {
		count_matching opened '^open ' "$SERVER_ERR"
		count_matching closed '^close ' "$SERVER_ERR"
		[ "$opened" -eq "$closed" ]
	}
	wait_until "$WAIT" all_closed || fail "opened and closed differ: $(cat "$SERVER_ERR")"
	# a, b, d, and epipe's measuring connection and attempts
	attempts=$(grep -c '^epipe: sent' <<<"$output") || : # 0 attempts: grep says 1
	assert_equal "$opened" $((4 + attempts))
	stop_server
}

@test "${MODEL}: 8 MiB pushed without reading comes back intact" {
	start_server "$MODEL"
	if concurrent; then
		# while a's echo is backed up, another client is still served
		run probe script <<-'EOF'
			connect a
			push_start a 8388608
			connect b
			send b b"meanwhile\n"
			expect b b"meanwhile\n"
			push_finish a
			shutdown a
			expect_eof a
			# the half-close comes while the echo is still backed up
			connect h
			push_start h 4194304 shutdown
			push_finish h
			expect_eof h
		EOF
	else
		run probe script <<-'EOF'
			connect a
			push_start a 8388608
			push_finish a
			shutdown a
			expect_eof a
			connect h
			push_start h 4194304 shutdown
			push_finish h
			expect_eof h
		EOF
	fi
	assert_success
	assert_output --partial "got all 8388608 pushed bytes back intact"
	assert_output --partial "got all 4194304 pushed bytes back intact"
}

# ----------------------------------------------------------------- many clients

@test "${MODEL}: clients interleave (serial: the second waits for the first)" {
	start_server "$MODEL"
	if concurrent; then
		run probe script <<-'EOF'
			connect a
			connect b
			send a b"a starts, "
			send b b"b says all\n"
			expect b b"b says all\n"
			send a b"a ends\n"
			expect a b"a starts, a ends\n"
			many_together 20
		EOF
	else
		run probe script <<-'EOF'
			connect a
			connect b
			send a b"a starts, "
			send b b"b says all\n"
			quiet b 0.3
			send a b"a ends\n"
			expect a b"a starts, a ends\n"
			close a
			expect b b"b says all\n"
		EOF
	fi
	assert_success
	run probe script <<<"many 50"
	assert_success
}

@test "${MODEL}: --max-clients 2: a third is refused, a freed slot is reused (serial: queued, never refused)" {
	start_server "$MODEL" --max-clients 2
	if concurrent; then
		run probe script <<-'EOF'
			connect a
			send a b"a\n"
			expect a b"a\n"
			connect b
			send b b"b\n"
			expect b b"b\n"
			connect c
			expect c b"ERR server busy\n"
			expect_eof c
			send a b"a again\n"
			expect a b"a again\n"
			send b b"b again\n"
			expect b b"b again\n"
			close a
			served d
			send d b"d\n"
			expect d b"d\n"
			send b b"b still\n"
			expect b b"b still\n"
			connect e
			expect e b"ERR server busy\n"
			expect_eof e
		EOF
		assert_success
		local retries
		retries=$(sed -n 's/^d served after \([0-9]*\) refusals$/\1/p' <<<"$output")
		stop_server
		assert_equal "$(summary_field refused)" "$((2 + retries))"
		# a, b and d
		assert_equal "$(summary_field connections)" 3
	else
		run probe script <<-'EOF'
			connect a
			send a b"a\n"
			expect a b"a\n"
			connect b
			send b b"b\n"
			connect c
			send c b"c\n"
			quiet b 0.3
			quiet c 0.01
			send a b"a again\n"
			expect a b"a again\n"
			close a
			expect b b"b\n"
			close b
			expect c b"c\n"
		EOF
		assert_success
		stop_server
		assert_equal "$(summary_field refused)" 0
		assert_equal "$(summary_field connections)" 3
	fi
}

# busy_clients_script N: N clients, each served once and left connected.
busy_clients_script() {
	local i
	for ((i = 0; i < $1; i++)); do
		printf 'connect b%d\nsend b%d b"busy %d\\n"\nexpect b%d b"busy %d\\n"\n' "$i" "$i" "$i" "$i" "$i"
	done
}

@test "${MODEL}: the edge: N clients busy, the next waits until one leaves (pool: N = --workers; serial: 1; concurrent: served at once)" {
	local busy=2
	case $KIND in
	pool) start_server "$MODEL" --workers 2 --verbose ;;
	serial) busy=1 && start_server "$MODEL" --verbose ;;
	*) start_server "$MODEL" --verbose ;;
	esac
	local next='expect n b"next\n"'
	if [ "$KIND" != concurrent ]; then
		# a pool or a serial server has no one free to read n: it waits (in
		# the listen backlog, or a pool's queue) until b0 leaves
		next='quiet n 0.3
			close b0
			expect n b"next\n"'
	fi
	run probe script <<-EOF
		$(busy_clients_script "$busy")
		connect n
		send n b"next\n"
		$next
		send n b"again\n"
		expect n b"again\n"
		close n
		# whoever is still connected is still served
		$( ((busy < 2)) || printf 'send b1 b"still here\\n"\nexpect b1 b"still here\\n"')
	EOF
	assert_success
	stop_server
	assert_equal "$(summary_field connections)" $((busy + 1))
	if [ "$KIND" = pool ]; then
		# one worker served b0 and then n, the other b1
		run grep -E '^worker [0-9]+: connections=[0-9]+ messages=[0-9]+$' "$SERVER_ERR"
		assert_equal "${#lines[@]}" 2
		assert_equal "$(sed 's/.*connections=\([0-9]*\).*/\1/' <<<"$output" | sort -n | paste -sd' ')" "1 2"
		assert_equal "$(summary_field spread)" 1/2
	elif ! takes_workers; then
		refute grep -q '^worker ' "$SERVER_ERR"
		run summary_field spread # no such field
		assert_failure
	fi
}

# ----------------------------------------------------------------- timers

# tick NAME COUNT: COUNT messages 0.3 s apart, each echoed.
ticks() {
	local i
	for ((i = 0; i < $2; i++)); do
		printf 'send %s b"tick %d\\n"\nexpect %s b"tick %d\\n"\npause 0.3\n' "$1" "$i" "$1" "$i"
	done
}

@test "${MODEL}: --idle-timeout 1 closes a quiet connection, not an active one" {
	start_server "$MODEL" --idle-timeout 1
	if concurrent; then
		probe_bg quiet script <<-'EOF'
			connect q
			expect_eof q 0.9 6.0
		EOF
		run probe script <<-EOF
			connect a
			$(ticks a 6)
			expect_eof a 0.9 6.0
		EOF
		assert_success
		probe_wait quiet
	else
		# Served one at a time: the active one first, then the one queued
		# behind it once the first has gone quiet and been closed.
		run probe script <<-EOF
			connect a
			send a b"first\n"
			expect a b"first\n"
			connect q
			send q b"queued\n"
			$(ticks a 6)
			expect_eof a 0.9 6.0
			expect q b"queued\n"
			expect_eof q 0.9 6.0
		EOF
		assert_success
	fi
}

@test "${MODEL}: a connection drained after 'ERR line too long' and closed by the idle timeout is logged 'line too long'" {
	start_server "$MODEL" --idle-timeout 1 --max-line 8 --verbose
	# The client reads the error and the server's FIN, then neither closes
	# nor sends: only the idle timeout ends the server's drain. The probe
	# holds the connection until the test is over (teardown ends it).
	probe_bg held script <<-'EOF'
		connect a
		local a
		send a b"x" * 20 + b"\n"
		expect a b"ERR line too long\n"
		expect_eof a
		say rejected
		pause 60
	EOF
	wait_until 10 file_has rejected "$BATS_TEST_TMPDIR/held.out"
	local peer
	peer=$(sed -n 's/^a local //p' "$BATS_TEST_TMPDIR/held.out")
	[ -n "$peer" ]
	wait_until 10 file_has "^close ${peer//./\\.} " "$SERVER_ERR" || fail "not closed by the idle timeout: $(cat "$SERVER_ERR")"
	run grep "^close ${peer//./\\.} " "$SERVER_ERR"
	assert_output "close $peer (line too long)"
}
