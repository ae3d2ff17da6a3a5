#!/usr/bin/env bats
# orphans.bats: the models that fork, when their master is SIGKILLed (the OOM
# killer, a crash, kill -9) while clients are mid-conversation. Nothing may
# keep listening on the port, so that a new server binds it at once; a
# process serving a client finishes that client (every message the client
# completes gets its echo), and then every process of the server is gone.
#
# The models that fork are fork and prefork (the others run in one process);
# prefork is tried with each ECHOLAB_ACCEPT_LOCK, since its idle workers
# sleep in a different place with each.

# shellcheck disable=SC2153 # PORT and SERVER_PID come from helpers.bash
load helpers

# listening PORT: a socket listens on 127.0.0.1:PORT (/proc/net/tcp, state 0A)
listening() {
	local hex
	printf -v hex '0100007F:%04X' "$1"
	awk -v addr="$hex" '$2 == addr && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

# live_count PGID: how many live processes the group has
live_count() {
	local members
	members=$(live_group_members "$1")
	[ -n "$members" ] || { echo 0 && return; }
	wc -l <<<"$members"
}

# master_killed MODEL [ARGS...]: two clients each hold an unfinished message
# and a load client runs when the master gets SIGKILL. Then: nothing listens
# on the port (the processes serving the two clients still live), a new
# server binds it, the two clients complete their messages and get every
# echo, the load client sees every echo, and the whole group is gone.
master_killed() {
	local model=$1 master port go=$BATS_TEST_TMPDIR/go load load_status=0 n
	shift
	start_server "$model" --verbose "$@"
	master=$SERVER_PID
	port=$PORT
	# --timeout: the wait for "go" spans the checks below on a busy machine
	probe_bg held --timeout "$((WAIT * 2))" script <<-EOF
		connect a
		send a b"one\n"
		expect a b"one\n"
		send a b"tw"
		connect b
		send b b"x" * 1000 + b"\n"
		expect b b"x" * 1000 + b"\n"
		send b b"half a mess"
		say held
		wait_file $go
		send a b"o\nthree\n"
		expect a b"two\nthree\n"
		send b b"age\n"
		expect b b"half a message\n"
		shutdown a
		expect_eof a
		shutdown b
		expect_eof b
	EOF
	wait_until "$WAIT" file_has '^held$' "$BATS_TEST_TMPDIR/held.out" || fail "$(probe_wait held)"
	# Load at a modest rate (the machine is shared), each echo checked by
	# the client; its connection open before the kill.
	"$ECHO_CLIENT" --load --host 127.0.0.1 --port "$port" --connections 2 --rate 400 \
		--warmup 0.2 --duration 1 >"$BATS_TEST_TMPDIR/load.out" 2>&1 3>&- &
	load=$!
	BG_PIDS+=("$load")
	opened() {
		count_matching n '^open ' "$SERVER_ERR"
		[ "$n" -ge 4 ]
	}
	wait_until "$WAIT" opened || fail "the load client never connected: $(cat "$SERVER_ERR")"

	kill -KILL "$master"
	wait "$master" 2>/dev/null || true
	wait_until "$WAIT" eval "! listening $port" || fail "still listening: $(live_group_members "$master")"
	# The two held clients are still being served: they have not finished.
	n=$(live_count "$master")
	[ "$n" -ge 2 ] || fail "$n processes left while two clients are being served"
	if [ "$model" = prefork ]; then
		# the idle workers (all but the 2 held and the 2 of the load) are gone
		four_left() { [ "$(live_count "$master")" -le 4 ]; }
		wait_until "$WAIT" four_left || fail "idle workers still there: $(live_group_members "$master")"
	fi
	start_server "$model" --port "$port" "$@" || fail "port $port not free after the master died"
	run probe script <<<"many 2"
	assert_success
	stop_server

	touch "$go"
	probe_wait held || fail "a held client was not served to its end"
	wait "$load" || load_status=$?
	cat "$BATS_TEST_TMPDIR/load.out"
	# A machine stalled past the whole window (every echo back, none in it)
	# is no fault of the server's: load_run in helpers.bash says the same.
	[ "$load_status" -eq 0 ] ||
		grep -q "no echo completed in the measured window ([0-9]* came back" "$BATS_TEST_TMPDIR/load.out" ||
		fail "the load client failed ($load_status): $(cat "$BATS_TEST_TMPDIR/load.out")"
	group_gone() { [ -z "$(live_group_members "$master")" ]; }
	wait_until "$WAIT" group_gone || fail "outlived their clients: $(live_group_members "$master")"
}

@test "fork: master SIGKILLed under load: nothing listens, a new server binds the port, every client served to its end, then the group is gone" {
	need_model fork
	master_killed fork
}

@test "prefork, no accept lock: master SIGKILLed under load: idle workers go at once, the port is free, every client served to its end, then the group is gone" {
	need_model prefork
	ECHOLAB_ACCEPT_LOCK=none master_killed prefork --workers 6
}

@test "prefork, fcntl accept lock: master SIGKILLed under load: idle workers go at once, the port is free, every client served to its end, then the group is gone" {
	need_model prefork
	ECHOLAB_ACCEPT_LOCK=fcntl master_killed prefork --workers 6
}

@test "prefork, mutex accept lock: master SIGKILLed under load: idle workers go at once, the port is free, every client served to its end, then the group is gone" {
	need_model prefork
	ECHOLAB_ACCEPT_LOCK=mutex master_killed prefork --workers 6
}
