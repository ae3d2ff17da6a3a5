#!/usr/bin/env bats
# conformance-echo.bats: the conformance suite, the echo: framing, every byte value, max-line, half-close.
# run.sh: per model
#
# Every stream model must pass every case; conformance.bash says how the
# cases run (once per model, $ECHOLAB_MODEL) and what they share.

# shellcheck disable=SC2153 # SERVER_PID and the like come from helpers.bash
load helpers
load conformance

# ----------------------------------------------------------------- echo

@test "${MODEL}: basic echo through echo-client pipe mode" {
	start_server "$MODEL"
	printf 'hello\nworld\n' >"$BATS_TEST_TMPDIR/in"
	timeout "$WAIT" "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" \
		<"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got"
}

@test "${MODEL}: 5000 messages in one write, and 3000 in random-sized pieces, come back byte for byte" {
	start_server "$MODEL"
	local t=$BATS_TEST_TMPDIR
	# --verify: the echo is what `probe expected` computes for the input
	probe roundtrip "$t/in" "$t/got" --generate lines --count 5000 --longest 300 --gen-seed 5000 --verify
	cmp "$t/in" "$t/got" # all are allowed messages: the echo is the input
	probe roundtrip "$t/in" "$t/got" --generate lines --count 3000 --longest 600 --gen-seed 77 \
		--seed 77 --max-chunk 700 --verify
	cmp "$t/in" "$t/got"
}

@test "${MODEL}: a message trickled one byte at a time is echoed once whole" {
	start_server "$MODEL"
	run probe script <<-'EOF'
		connect a
		trickle a b"a message that arrives one byte at a time"
		# nothing comes back before the LF
		quiet a 0.2
		trickle a b"\n"
		expect a b"a message that arrives one byte at a time\n"
		trickle a b"two\nmore\n"
		expect a b"two\nmore\n"
	EOF
	assert_success
}

@test "${MODEL}: every byte value is data, CR and NUL are kept, empty messages are echoed; only LF ends a message" {
	start_server "$MODEL"
	local t=$BATS_TEST_TMPDIR
	probe roundtrip "$t/in" "$t/got" --generate allbytes --count 64 --seed 256 --max-chunk 300 --verify
	cmp "$t/in" "$t/got"
	run probe script <<-'EOF'
		connect a
		send a b"crlf\r\n"
		expect a b"crlf\r\n"
		send a b"\r\n\r\r\n\x00\n"
		expect a b"\r\n\r\r\n\x00\n"
		send a b"a\x00b\rc\n"
		expect a b"a\x00b\rc\n"
		send a b"\n"
		expect a b"\n"
		send a b"\n\n\n"
		expect a b"\n\n\n"
		send a b"x\n\n"
		expect a b"x\n\n"
	EOF
	assert_success
}

@test "${MODEL}: a message of max-line bytes is echoed, one of max-line+1 bytes gets 'ERR line too long' (4096 default, 16, 1)" {
	start_server "$MODEL"
	run probe script <<-'EOF'
		connect a
		send a b"a" * 4095 + b"\n"
		expect a b"a" * 4095 + b"\n"
		# grown across several writes
		send a b"b" * 2000
		send a b"b" * 2095
		send a b"\n"
		expect a b"b" * 4095 + b"\n"
		close a
		connect b
		send b b"a" * 4096 + b"\n"
		expect b b"ERR line too long\n"
		expect_eof b
	EOF
	assert_success

	start_server "$MODEL" --max-line 16
	run probe script <<-'EOF'
		connect a
		send a b"c" * 15 + b"\n"
		expect a b"c" * 15 + b"\n"
		send a b"1234567"
		send a b"89abcdef\n"
		expect a b"123456789abcdef\n"
		close a
		connect b
		send b b"ok\n" + b"d" * 16 + b"\n"
		expect b b"ok\nERR line too long\n"
		expect_eof b
		close b
		# grown across writes, no LF: the 16th byte breaks the limit
		connect c
		send c b"e" * 15
		quiet c 0.1
		send c b"e"
		expect c b"ERR line too long\n"
		expect_eof c
	EOF
	assert_success

	start_server "$MODEL" --max-line 1
	run probe script <<-'EOF'
		connect a
		send a b"\n\n"
		expect a b"\n\n"
		close a
		connect b
		send b b"\nx"
		expect b b"\nERR line too long\n"
		expect_eof b
	EOF
	assert_success
}

@test "${MODEL}: over-long: owed echoes, then the error, then EOF, while the client keeps sending; others unaffected" {
	start_server "$MODEL" --max-line 16
	local other_before='' other_after
	if concurrent; then
		other_before='connect b
			send b b"bystander\n"
			expect b b"bystander\n"'
	fi
	other_after='connect b
		send b b"still fine\n"
		expect b b"still fine\n"'
	concurrent && other_after='send b b"still fine\n"
		expect b b"still fine\n"
		connect c
		send c b"newcomer\n"
		expect c b"newcomer\n"'
	run probe script <<-EOF
		$other_before
		connect a
		send a b"one\ntwo\n" + b"x" * 40 + b"\nthree\n"
		# more input after the error: the server drains it, so no RST
		# destroys the error line before we read it
		send a b"more input after the error\n" * 10000
		expect a b"one\ntwo\nERR line too long\n"
		expect_eof a
		send a b"still more input\n" * 1000
		close a
		$other_after
	EOF
	assert_success
	# a large echo still owed when the over-long message comes, in one write
	run probe script <<-'EOF'
		connect big
		send big b"ok\n" * 30000 + b"y" * 15 + b"\n" + b"x" * 16
		expect big b"ok\n" * 30000 + b"y" * 15 + b"\n" + b"ERR line too long\n"
		expect_eof big
	EOF
	assert_success
}

@test "${MODEL}: over-long: after the error and EOF the server reads on until the client closes: later input draws no reset" {
	start_server "$MODEL" --max-line 16
	# held: the server has read what we sent and still holds its side open;
	# one that shut both directions would close on reading it, and the next
	# input would draw a reset
	run probe script <<-'EOF'
		connect a
		send a b"x" * 17
		expect a b"ERR line too long\n"
		expect_eof a
		send a b"after the error\n" * 100
		held a
		send a b"and more\n"
		held a
		close a
	EOF
	assert_success
}

@test "${MODEL}: half-close: the trailing partial message comes back without LF" {
	start_server "$MODEL"
	run probe script <<-'EOF'
		connect a
		send a b"one\ntwo\nno newline"
		shutdown a
		expect a b"one\ntwo\nno newline"
		expect_eof a
		# nothing sent at all
		connect b
		shutdown b
		expect_eof b
		# no partial: nothing is added
		connect c
		send c b"abc\n"
		shutdown c
		expect c b"abc\n"
		expect_eof c
		# the longest partial that is still allowed
		connect d
		send d b"p" * 4095
		shutdown d
		expect d b"p" * 4095
		expect_eof d
		# echoes are not held back until the half-close
		connect e
		send e b"first\n"
		expect e b"first\n"
		send e b"\x00\r"
		shutdown e
		expect e b"\x00\r"
		expect_eof e
	EOF
	assert_success
}
