#!/usr/bin/env bats
# differential.bats: the same input through every model. Each model's echo must
# equal every other model's, and what tests/probe.py computes from the protocol
# alone (without looking at any server).

load helpers

setup_file() {
	# empty lines, CR, NUL, every byte value, the longest allowed line,
	# thousands of small lines, and a trailing partial message
	probe gen transcript "$BATS_FILE_TMPDIR/in" --max-line 4096 --seed 42
	probe expected "$BATS_FILE_TMPDIR/in" "$BATS_FILE_TMPDIR/want" --max-line 4096
	# the transcript holds no error, so the expected echo is the input itself
	cmp "$BATS_FILE_TMPDIR/in" "$BATS_FILE_TMPDIR/want"
}

setup() {
	mapfile -t MODELS < <(selected_models)
	[ ${#MODELS[@]} -gt 0 ] || fail "no model to test"
	T=$BATS_TEST_TMPDIR
	cp "$BATS_FILE_TMPDIR/in" "$BATS_FILE_TMPDIR/want" "$T/"
}

# start_all [ARGS...]: one server per model; PORT_OF[model] is its port.
declare -A PORT_OF
start_all() {
	local m
	for m in "${MODELS[@]}"; do
		start_server "$m" "$@"
		PORT_OF[$m]=$PORT
	done
}

# compare_all SUFFIX: got.MODEL.SUFFIX against want.SUFFIX and against each other.
compare_all() {
	local m bad=0 first=${MODELS[0]}
	for m in "${MODELS[@]}"; do
		if ! cmp "$T/want.$1" "$T/got.$m.$1"; then
			echo "$m: echo differs from the protocol's (sizes: want $(wc -c <"$T/want.$1"), got $(wc -c <"$T/got.$m.$1"))" >&2
			bad=1
		fi
		if ! cmp "$T/got.$first.$1" "$T/got.$m.$1"; then
			echo "$m: echo differs from $first's" >&2
			bad=1
		fi
	done
	[ "$bad" -eq 0 ]
}

@test "every model echoes the transcript identically (one write, then half-close)" {
	start_all
	cp "$T/want" "$T/want.whole"
	local m
	for m in "${MODELS[@]}"; do
		PORT=${PORT_OF[$m]} probe roundtrip "$T/in" "$T/got.$m.whole"
	done
	compare_all whole
}

@test "every model echoes the transcript identically (random-sized pieces)" {
	start_all
	cp "$T/want" "$T/want.pieces"
	local m seed=0
	for m in "${MODELS[@]}"; do
		seed=$((seed + 1)) # each model gets the stream cut differently
		PORT=${PORT_OF[$m]} probe roundtrip "$T/in" "$T/got.$m.pieces" --seed "$seed" --max-chunk 5000
	done
	compare_all pieces
}

@test "every model echoes the transcript identically through echo-client" {
	[ -x "$ECHO_CLIENT" ] || skip "echo-client is not built"
	start_all
	cp "$T/want" "$T/want.client"
	local m
	for m in "${MODELS[@]}"; do
		timeout 20 "$ECHO_CLIENT" --host 127.0.0.1 --port "${PORT_OF[$m]}" \
			<"$T/in" >"$T/got.$m.client"
	done
	compare_all client
}

@test "every model stops at the same byte on an over-long message" {
	start_all --max-line 64
	# good messages, one of 65 bytes, then input the server must drain unechoed
	"$PYTHON" -S -c '
import sys
sys.stdout.buffer.write(b"ok\n" * 100 + b"\x00\r\n" + b"y" * 63 + b"\n" + b"z" * 64 + b"\n" + b"never echoed\n" * 5000)
' >"$T/long"
	probe expected "$T/long" "$T/want.long" --max-line 64
	local m
	for m in "${MODELS[@]}"; do
		PORT=${PORT_OF[$m]} probe roundtrip "$T/long" "$T/got.$m.long" --seed 9 --max-chunk 100
	done
	compare_all long
	# and the protocol's answer is what the contract spells out
	assert_equal "$(tail -c 18 "$T/want.long")" "ERR line too long"
}

@test "every model survives a short load run with pipelining and no errors" {
	[ -x "$ECHO_CLIENT" ] || skip "echo-client is not built"
	start_all
	local m conns status
	for m in "${MODELS[@]}"; do
		conns=8
		serves_many "$m" || conns=1 # the rest would wait forever
		status=0
		load_run timeout 60 "$ECHO_CLIENT" --load --host 127.0.0.1 --port "${PORT_OF[$m]}" \
			--connections "$conns" --depth 4 --size 300 --duration 0.5 --warmup 0.1 --json \
			>"$T/load.$m" 2>"$T/load.$m.err" || status=$?
		[ "$status" -eq 0 ] || fail "$m: echo-client --load exited $status: $(cat "$T/load.$m" "$T/load.$m.err")"
		"$PYTHON" -S -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["errors"] == 0, "errors: %r" % r["errors"]
assert r["messages_per_sec"] > 0, "messages_per_sec: %r" % r["messages_per_sec"]
' "$T/load.$m" || fail "$m: $(cat "$T/load.$m")"
	done
}
