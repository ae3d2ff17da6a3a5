#!/usr/bin/env bats
# udp.bats: bin/echo-udp and bin/echo-client --udp.
#
# UDP is not a stream, so the stream suites (conformance, differential, scale)
# leave it out: models/models.list gives it the kind "datagram". What a
# datagram server promises is checked here instead: a datagram comes back as
# one datagram, byte for byte, whatever it holds (LF included) and however
# long (up to 64 KiB), or "ERR line too long" past --max-line; never a reply
# to source ports 0, 7 and 19; many clients at once on one socket; the same
# options, "listening on" line and signal summary as every model.
# The datagrams are driven by the udp-* commands of tests/probe.py.

# shellcheck disable=SC2153 # PORT and the like come from helpers.bash
load helpers

setup() {
	# tests/run.sh exports the models selected; udp may not be one of them.
	if [ -n "${ECHOLAB_MODELS:-}" ] && [[ " $ECHOLAB_MODELS " != *" udp "* ]]; then
		skip "udp is not among ECHOLAB_MODELS"
	fi
	[ -x "$ECHOLAB_BIN/echo-udp" ] || fail "no $ECHOLAB_BIN/echo-udp: build it with make"
	T=$BATS_TEST_TMPDIR
}

client() {
	case " $* " in
	*" --load "*) load_run timeout 30 "$ECHO_CLIENT" --udp --host 127.0.0.1 --port "$PORT" "$@" ;;
	*) timeout 30 "$ECHO_CLIENT" --udp --host 127.0.0.1 --port "$PORT" "$@" ;;
	esac
}

# ----------------------------------------------------------------- the echo

@test "udp: prints 'listening on 127.0.0.1:PORT'; each line through the client is one datagram" {
	start_server udp
	assert_equal "$(cat "$SERVER_OUT")" "listening on 127.0.0.1:$PORT"
	printf 'one\n\ntwo words\nlast, no LF' | client >"$T/out"
	printf 'one\n\ntwo words\nlast, no LF\n' >"$T/want"
	cmp "$T/want" "$T/out"
	stop_server
	assert_equal "$(summary_field messages)" 4
	assert_equal "$(summary_field bytes)" 23
}

@test "udp: datagram boundaries are kept: LFs inside a datagram do not split it" {
	start_server udp
	run probe udp-boundaries
	assert_success
}

@test "udp: an empty datagram gets an empty datagram back" {
	start_server udp
	run probe udp-echo 0
	assert_success
	assert_output "echoed 0 bytes"
	stop_server
	assert_equal "$(summary_field messages)" 1
}

@test "udp: a 64 KiB datagram (65,507 bytes, the IPv4 maximum) comes back whole with --max-line 65536" {
	start_server udp --max-line 65536
	run probe udp-echo 65507
	assert_success
	assert_output "echoed 65507 bytes"
}

@test "udp: --max-line bytes are echoed; one more gets 'ERR line too long', never a cut echo" {
	start_server udp --max-line 100
	run probe udp-echo 100
	assert_success
	run probe udp-too-long 101
	assert_success
	# far beyond the receive buffer: only MSG_TRUNC tells the real length
	run probe udp-too-long 65507
	assert_success
	stop_server
	assert_equal "$(summary_field refused)" 2
}

@test "udp: no reply to source port 7 (echo) or 19 (chargen); the server goes on" {
	start_server udp --verbose
	for src in 7 19; do
		run probe udp-forbidden "$src"
		[ "$status" -ne 77 ] || skip "$output"
		assert_success
	done
	stop_server
	assert_equal "$(summary_field refused)" 2
	grep -q 'source port 7 (echo)' "$SERVER_ERR"
	grep -q 'source port 19 (chargen)' "$SERVER_ERR"
}

@test "udp: no reply to source port 0 (sent through a raw socket)" {
	start_server udp
	run probe udp-forbidden 0
	[ "$status" -ne 77 ] || skip "$output"
	assert_success
	stop_server
	assert_equal "$(summary_field refused)" 1
}

@test "udp: 20 clients interleaved on one socket each get their own datagrams back, in order" {
	start_server udp
	run probe udp-interleaved 20 5
	assert_success
	stop_server
	assert_equal "$(summary_field messages)" 100
}

# ----------------------------------------------------------------- lifecycle

@test "udp: SIGTERM and SIGINT stop it with the summary line and status 0" {
	for sig in TERM INT; do
		start_server udp
		printf 'a\nbb\n' | client >/dev/null
		stop_server "$sig"
		run grep -c '^summary: model=udp connections=0 refused=0 messages=2 bytes=3 ' "$SERVER_ERR"
		assert_output 1
	done
}

@test "udp: bad flags exit 2 naming the problem; --help exits 0" {
	# --port 0 and a timeout: a flag wrongly accepted must not leave a server
	# running on port 8080
	bin() { timeout 10 "$ECHOLAB_BIN/echo-udp" --host 127.0.0.1 --port 0 "$@"; }
	run bin --max-clients 10
	assert_failure 2
	assert_output --partial "max-clients"
	run bin --idle-timeout 5
	assert_failure 2
	assert_output --partial "idle-timeout"
	run bin --port 70000
	assert_failure 2
	assert_output --partial "port"
	run bin --max-line 0
	assert_failure 2
	run bin --bogus
	assert_failure 2
	assert_output --partial "--bogus"
	run bin extra
	assert_failure 2
	run bin --help
	assert_success
	assert_output --partial "udp"
	refute_output --partial "--max-clients"
	refute_output --partial "--idle-timeout"
}

@test "udp: a port already taken: exit 1 and 'address already in use'" {
	start_server udp
	run timeout 10 "$ECHOLAB_BIN/echo-udp" --host 127.0.0.1 --port "$PORT"
	assert_failure 1
	assert_output --partial "address already in use"
}

# ----------------------------------------------------------------- the client

@test "udp client: nothing listening: exit 1 with 'connection refused'" {
	start_server udp
	stop_server
	run client <<<"hello"
	assert_failure 1
	assert_output --partial "connection refused"
}

@test "udp client: a server that never answers: retried, then exit 1 naming the line" {
	coproc SILENT { probe udp-silent; }
	read -r PORT <&"${SILENT[0]}"
	run client <<<"anyone there?"
	exec {SILENT[1]}>&-
	wait "$SILENT_PID" || true
	assert_failure 1
	assert_output --partial "no reply from 127.0.0.1:$PORT to line 1 after 4 tries"
}

@test "udp client: --load --udp --json verifies every datagram and reports losses" {
	start_server udp
	client --load --connections 10 --duration 0.5 --warmup 0.1 --json >"$T/report"
	assert_equal "$(json_field mode "$T/report")" udp
	assert_equal "$(json_field errors "$T/report")" 0
	[ "$(json_field messages "$T/report")" -gt 0 ]
	[ "$(json_field lost "$T/report")" -ge 0 ]
	[ "$(json_field late "$T/report")" -ge 0 ]
	stop_server
	# every verified echo was counted by the server (warm-up ones too)
	[ "$(summary_field messages)" -ge "$(json_field messages "$T/report")" ]
}

@test "udp client: --load --udp counts losses and stops instead of hanging on a silent server" {
	coproc SILENT { probe udp-silent; }
	read -r PORT <&"${SILENT[0]}"
	local status=0
	client --load --connections 2 --duration 0.5 --warmup 0 --json >"$T/report" || status=$?
	exec {SILENT[1]}>&-
	wait "$SILENT_PID" || true
	[ "$status" -eq 1 ] || fail "exit status $status: $(cat "$T/report")"
	[ "$(json_field lost "$T/report")" -ge 2 ]
	assert_equal "$(json_field messages "$T/report")" 0
	grep -q "no echo completed" "$T/report"
}

@test "udp client: --load --udp flags that do not apply exit 2" {
	run "$ECHO_CLIENT" --udp --load --depth 4
	assert_failure 2
	assert_output --partial "--depth"
	run "$ECHO_CLIENT" --udp --load --size 70000
	assert_failure 2
	assert_output --partial "65507"
	run "$ECHO_CLIENT" --udp --load --churn
	assert_failure 2
}
