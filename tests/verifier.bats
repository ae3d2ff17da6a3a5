#!/usr/bin/env bats
# verifier.bats: echo-client --load checks every echoed byte and measures
# honestly. Against servers that break the echo on purpose
# (tests/tools/bad_echo.py: flipped bits, a dropped byte, two lines swapped)
# it must report errors and exit non-zero; against a real model, the rate it
# reports must be its messages over the measured window, not over the
# warm-up as well.

# shellcheck disable=SC2153 # SERVER_PID and the like come from helpers.bash
load helpers

setup() {
	T=$BATS_TEST_TMPDIR
}

# start_bad MODE: bad_echo.py in the place of a model (start_server runs it
# as the model's wrapper, so teardown ends it like any server)
start_bad() {
	ECHOLAB_SERVER_WRAPPER="$PYTHON -S $ECHOLAB_TESTS/tools/bad_echo.py $1" \
		start_server "$(any_concurrent_model)"
}

# load_against_bad MODE: the load client must fail, saying why (--depth 4:
# a swap needs the next message sent before the echo of the one held back)
load_against_bad() {
	start_bad "$1"
	local status=0
	timeout 20 "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" --load --connections 2 --size 64 \
		--depth 4 --duration 0.3 --warmup 0.1 --json >"$T/report" 2>"$T/err" || status=$?
	[ "$status" -ne 124 ] || fail "echo-client --load hung against a server that $1s"
	[ "$status" -ne 0 ] || fail "exit 0 against a server that $1s: $(cat "$T/report")"
	assert_equal "$(json_field errors "$T/report")" 2 # one per connection, each then closed
	[[ $(json_field error_detail "$T/report") =~ echo\ of\ message\ [0-9]+\ differs\ from\ what\ was\ sent ]] ||
		fail "no mismatch reported: $(cat "$T/report")"
}

@test "verifier: a server that flips a bit of every byte is reported, exit non-zero" {
	load_against_bad flip
}

@test "verifier: a server that drops one byte is reported, exit non-zero" {
	load_against_bad drop
}

@test "verifier: a server that swaps two lines is reported, exit non-zero" {
	load_against_bad swap
}

@test "verifier: messages_per_sec is messages over the measured seconds, warm-up left out" {
	start_server "$(any_concurrent_model)"
	load_run timeout 20 "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" --load --connections 2 \
		--duration 0.5 --warmup 0.5 --json >"$T/report"
	run "$PYTHON" -S - "$T/report" <<-'PY'
		import json, sys
		r = json.load(open(sys.argv[1]))
		assert r["errors"] == 0, r
		assert 0.5 <= r["duration_s"] < 1.0, "measured %.3f s of a 0.5 s window" % r["duration_s"]
		rate = r["messages"] / r["duration_s"]
		# messages_per_sec is printed with one decimal
		assert abs(r["messages_per_sec"] - rate) <= 0.05 + rate * 1e-6, \
		    "messages_per_sec %s, but %d messages in %.6f s is %.1f" % (
		        r["messages_per_sec"], r["messages"], r["duration_s"], rate)
		assert abs(r["mb_per_sec"] - rate * r["size"] / 1e6) <= 0.0005 + rate * 1e-6, r
		print("ok: %.1f msg/s" % rate)
	PY
	assert_success
}
