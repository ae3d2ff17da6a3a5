#!/usr/bin/env bats
# reporting.bats: what a server says must be true when it says it.
#   - "listening on" is printed only once the socket listens: a script that
#     connects the moment it reads the line must not be refused (traced with
#     strace: every listen() comes before the write of the line)
#   - the summary after a connection ended in "ERR line too long" counts what
#     the client saw echoed, and not the error line
#
# run.sh: per model

# shellcheck disable=SC2153 # SERVER_PID and the like come from helpers.bash
load helpers

MODEL=${ECHOLAB_MODEL:-} # the case names; require_model checks it

setup_file() {
	require_model
}

@test "${MODEL}: 'listening on' is written only after every listen()" {
	command -v strace >/dev/null || fail "no strace (tests/deps.sh test installs it)"
	local trace=$BATS_TEST_TMPDIR/trace
	ECHOLAB_SERVER_WRAPPER="strace -f -qq -e trace=listen,write -o $trace" start_server "$MODEL"
	run "$PYTHON" -S - "$trace" <<-'PY'
		import re, sys
		lines = open(sys.argv[1]).read().splitlines()
		said = [i for i, l in enumerate(lines) if re.search(r'write\(1, "listening on ', l)]
		listens = [i for i, l in enumerate(lines) if re.search(r'\blisten\(\d+, \d+\) += 0', l)]
		assert said, "no write of 'listening on' traced:\n" + "\n".join(lines)
		assert listens, "no listen() traced:\n" + "\n".join(lines)
		late = [lines[i] for i in listens if i > said[0]]
		assert not late, "listen() after 'listening on':\n" + "\n".join(lines)
		print("%d listen() before the line" % len(listens))
	PY
	assert_success
}

@test "${MODEL}: after 'ERR line too long', the summary counts only the echo the client saw" {
	start_server "$MODEL" --max-line 16 --verbose
	run probe script <<-'EOF'
		connect a
		send a b"one\ntwo\n" + b"x" * 40 + b"\n"
		expect a b"one\ntwo\nERR line too long\n"
		expect_eof a
		close a
		connect b
		send b b"three\n"
		expect b b"three\n"
		close b
	EOF
	assert_success
	wait_until "$WAIT" file_has '\(line too long\)$' "$SERVER_ERR"
	local closed
	both_closed() {
		count_matching closed '^close ' "$SERVER_ERR"
		[ "$closed" -eq 2 ]
	}
	wait_until "$WAIT" both_closed
	stop_server
	# one, two and three: 3 messages, 4 + 4 + 6 bytes
	assert_equal "$(summary_field messages)" 3
	assert_equal "$(summary_field bytes)" 14
}
