#!/usr/bin/env bats
# faults.bats: the error paths a healthy machine never takes, taken on
# purpose. build/tests/fault.so (tests/tools/fault.c) is preloaded into the
# server and makes one chosen call fail: epoll_ctl, accept4, malloc, a send
# (EAGAIN at moments the kernel did not choose), an io_uring submission, or
# leaves SIGPIPE at its default action. Every case asserts that the server
# survives, that the one connection affected is closed with a reason (its
# --verbose "close" line), that the next client is served, and that nothing
# leaks: the descriptors come back to what the server held at rest, and it
# exits 0 on SIGTERM (under SANITIZE=address LeakSanitizer then checks the
# heap, and teardown fails the case on any report).
#
# run.sh: per model
# (each case runs against $ECHOLAB_MODEL; a fault that the model never meets,
# say epoll_ctl in the poll model, is "n/a" for it)

# shellcheck disable=SC2153 # SERVER_PID and the like come from helpers.bash
load helpers

MODEL=${ECHOLAB_MODEL:-} # the case names; require_model checks it

setup_file() {
	require_model
}

setup() {
	SHIM=$ECHOLAB_ROOT/build/tests/fault.so
	[ -f "$SHIM" ] || fail "no $SHIM: make test builds it (make build/tests/fault.so)"
}

# uses FUNCTION: the model's own source (or the epoll loop it runs) calls it
uses() {
	local src=("$ECHOLAB_ROOT/models/$MODEL.c")
	[ "$MODEL" != reuseport ] || src+=("$ECHOLAB_ROOT/models/epoll.c")
	# an event library's epoll backend makes the epoll_ctl calls for it
	case "$MODEL:$1" in libev:epoll_ctl | libevent:epoll_ctl) return 0 ;; esac
	grep -q "\b$1(" "${src[@]}"
}

# start_faulty SPEC [ARGS...]: start_server with the shim preloaded and
# ECHOLAB_FAULT=SPEC (the shim comes first, so ASan must not insist on
# coming first itself); then the sockets it holds at rest, in AT_REST.
start_faulty() {
	local spec=$1
	shift
	ECHOLAB_SERVER_WRAPPER="env LD_PRELOAD=$SHIM ECHOLAB_FAULT=$spec ASAN_OPTIONS=verify_asan_link_order=0:${ASAN_OPTIONS:-}" \
		start_server "$MODEL" --verbose "$@"
	count_sockets AT_REST "$SERVER_PID"
}

# back_to_rest: every connection logged open was logged closed, the server
# holds the sockets it held at rest, and one more client is served.
back_to_rest() {
	local opened closed sockets
	all_closed() {
		count_matching opened '^open ' "$SERVER_ERR"
		count_matching closed '^close ' "$SERVER_ERR"
		count_sockets sockets "$SERVER_PID"
		[ "$opened" -eq "$closed" ] && [ "$sockets" -eq "$AT_REST" ]
	}
	wait_until "$WAIT" all_closed ||
		fail "not back to rest: $opened opened, $closed closed, $sockets sockets against $AT_REST"
	run probe script <<-'EOF'
		connect z
		send z b"still serving\n"
		expect z b"still serving\n"
		close z
	EOF
	assert_success
	proc_alive "$SERVER_PID"
	stop_server
}

# closed_because REASON: one connection was closed for REASON
closed_because() {
	wait_until "$WAIT" file_has "^close [^ ]+ \\($1\\)$" "$SERVER_ERR" ||
		fail "no connection closed with ($1): $(cat "$SERVER_ERR")"
}

# sent_then_closed DATA: a client sends DATA (a Python bytes expression) and
# the server closes the connection without a byte of echo (EOF or reset)
sent_then_closed() {
	run "$PYTHON" -S - "$PORT" "$1" <<-'EOF'
		import socket, sys
		s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
		try:
		    s.sendall(eval(sys.argv[2], {"__builtins__": {}}))
		    got = s.recv(100)
		except (ConnectionResetError, BrokenPipeError):
		    got = b""
		assert got == b"", "expected the server to close, got %r" % got
	EOF
	assert_success
}

# ----------------------------------------------------------------- epoll_ctl

@test "${MODEL}: epoll_ctl ADD fails for one client, epoll_ctl MOD when backpressure starts: that client alone is closed, with the reason" {
	uses epoll_ctl || skip "n/a: $MODEL does not use epoll"
	local reason="cannot watch it \\((epoll_ctl failed|libev: EV_ERROR|libevent: event_add failed)\\)"
	start_faulty epoll_ctl:op=ADD:errno=ENOMEM
	run probe script <<-'EOF'
		connect a
		pause 0.1
		connect b
		send b b"second\n"
		expect b b"second\n"
		close b
	EOF
	assert_success
	wait_until "$WAIT" file_has '^fault: epoll_ctl call 1 fails' "$SERVER_ERR"
	closed_because "$reason"
	back_to_rest

	# The echo's first send fails with EAGAIN (as if the client's window were
	# full): the server asks to be told when it may write (MOD), which fails.
	# The client then sends nothing more, so only the failure itself can
	# close it.
	start_faulty send:nth=1,epoll_ctl:op=MOD:errno=ENOMEM
	probe_bg held script <<-'EOF'
		connect a
		send a b"backed up\n"
		pause 60
	EOF
	closed_because "$reason"
	back_to_rest
}

# ----------------------------------------------------------------- accept4

@test "${MODEL}: accept4 fails with ENOBUFS once: said, the client served on the next try; with EMFILE once: the waiting client gets 'ERR server busy', no descriptor is lost" {
	! uses io_uring_submit_and_wait_timeout || skip "n/a: $MODEL accepts through io_uring"
	start_faulty accept4:errno=ENOBUFS
	run probe script <<-'EOF'
		connect a
		send a b"queued\n"
		expect a b"queued\n"
		close a
	EOF
	assert_success
	file_has '^fault: accept4 call 1 fails with ENOBUFS' "$SERVER_ERR"
	file_has "^echo-$MODEL: accept: no buffer space available" "$SERVER_ERR"
	back_to_rest

	# A pool's workers all race to accept: the failing call could land in
	# one worker while another takes the client normally. One worker makes
	# the failing accept the one that meets the client.
	local one_acceptor=()
	! kind_is "$MODEL" pool || one_acceptor=(--workers 1)
	start_faulty accept4:errno=EMFILE "${one_acceptor[@]}"
	run probe script <<-'EOF'
		connect a
		expect a b"ERR server busy\n"
		expect_eof a
	EOF
	assert_success
	back_to_rest
	assert_equal "$(summary_field refused)" 1
}

# ----------------------------------------------------------------- malloc

@test "${MODEL}: malloc fails for one connection's buffer, or for a blocking loop's read buffer: that client alone is closed (out of memory)" {
	# --max-line 4 MiB: the connection core (every model's) grows the buffer
	# of an unfinished line past 1 MiB as the client sends it. Nothing else
	# asks for 1 MiB at once.
	start_faulty malloc:min=1048576 --max-line 4194304
	sent_then_closed 'b"x" * 3000000' # unfinished: no LF
	closed_because "out of memory"
	back_to_rest

	uses echo_blocking || return 0 # no blocking loop: no read buffer per client
	# A blocking loop takes its 64 KiB read buffer as its client connects:
	# the first request of that size; nothing before it asks for as much.
	start_faulty malloc:min=65536
	sent_then_closed 'b"never echoed\n"'
	file_has '^fault: malloc call 1 fails' "$SERVER_ERR"
	closed_because "out of memory"
	back_to_rest
}

# ----------------------------------------------------------------- send

@test "${MODEL}: sends fail with EAGAIN two at a time, now and then: the echo is still exact" {
	event_driven "$MODEL" || skip "n/a: $MODEL blocks in send (EAGAIN there means its send timeout)"
	! uses io_uring_submit_and_wait_timeout || skip "n/a: $MODEL sends through io_uring"
	# two in a row: the echo's first send, and the one made once the socket
	# is reported writable
	start_faulty send:nth=2:every=5:run=2
	# 20 round trips (a send each), then 1 MB pushed (the echo backs up:
	# short sends, and sends of what was left behind)
	local steps=("connect a")
	for i in $(seq 20); do
		steps+=("send a b\"line $i\\n\"" "expect a b\"line $i\\n\"")
	done
	steps+=("push_start a 1000000" "push_finish a" "close a")
	run probe script < <(printf '%s\n' "${steps[@]}")
	assert_success
	local injected
	count_matching injected '^fault: send call [0-9]+ fails with EAGAIN' "$SERVER_ERR"
	[ "$injected" -ge 8 ] || fail "only $injected sends failed: $(cat "$SERVER_ERR")"
	back_to_rest
}

# ----------------------------------------------------------------- io_uring

@test "${MODEL}: io_uring submissions fail with EBUSY now and then: the echo is still exact" {
	uses io_uring_submit_and_wait_timeout || skip "n/a: $MODEL does not use io_uring"
	start_faulty io_uring_submit:nth=3:every=5:errno=EBUSY
	run probe roundtrip "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/got" --generate lines \
		--count 3000 --longest 300 --gen-seed 3 --verify
	assert_success
	file_has '^fault: io_uring_submit call 3 fails with EBUSY' "$SERVER_ERR"
	back_to_rest
}

# ----------------------------------------------------------------- SIGPIPE

@test "${MODEL}: SIGPIPE not ignored: a client that vanishes while it writes still kills nothing (MSG_NOSIGNAL)" {
	start_faulty sigpipe
	file_has '^fault: sigpipe' "$SERVER_ERR"
	# a and b vanish with echo still owed; epipe makes a blocked send fail
	# with EPIPE: without MSG_NOSIGNAL on every send, SIGPIPE ends the server
	# (or a fork child, which then never logs its close)
	run probe script <<-'EOF'
		connect a
		flood a 4000000
		reset a
		connect b
		send b b"x\n" * 100000
		close b
		epipe
	EOF
	assert_success
	back_to_rest
}
