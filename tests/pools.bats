#!/usr/bin/env bats
# pools.bats: what only the pool models have. Everything they share with the
# other models is in the conformance suites (kind "pool" in models/models.list);
# here: prefork's ECHOLAB_ACCEPT_LOCK (none, fcntl, mutex), a worker killed
# and replaced, and prethreaded's bounded queue.

load helpers

# worker_counts: N of each "worker I: connections=N" lines of the server's --verbose log
worker_counts() {
	sed -n 's/^worker [0-9]*: connections=\([0-9]*\) messages=[0-9]*$/\1/p' "$SERVER_ERR"
}

@test "prefork: an unknown ECHOLAB_ACCEPT_LOCK exits 2 naming it and the choices" {
	need_model prefork
	run env ECHOLAB_ACCEPT_LOCK=semaphore timeout 5 "$ECHOLAB_BIN/echo-prefork" --host 127.0.0.1 --port 0
	assert_failure 2
	assert_output --partial "ECHOLAB_ACCEPT_LOCK"
	assert_output --partial "'semaphore'"
	assert_output --partial "none, fcntl or mutex"
	refute_output --partial "listening on"
	run timeout 5 "$ECHOLAB_BIN/echo-prefork" --help
	assert_success
	assert_output --partial "ECHOLAB_ACCEPT_LOCK=none|fcntl|mutex"
}

# serve_and_count LOCK: 4 workers serve 40 clients; the per-worker lines add
# up and the summary's spread is their fewest/most
serve_and_count() {
	export ECHOLAB_ACCEPT_LOCK=$1
	start_server prefork --workers 4 --verbose
	run probe script <<<"many 40"
	assert_success
	stop_server
	assert_equal "$(summary_field connections)" 40
	run worker_counts
	assert_equal "${#lines[@]}" 4
	assert_equal "$(awk '{ s += $1 } END { print s }' <<<"$output")" 40
	assert_equal "$(summary_field spread)" "$(sort -n <<<"$output" | sed -n '1p;$p' | paste -sd/)"
	echo "$1: per worker $(paste -sd' ' <<<"$output")"
}

@test "prefork, no accept lock: 4 workers serve 40 clients, count them per worker, stop on SIGTERM" {
	need_model prefork
	serve_and_count none
}

@test "prefork, fcntl accept lock: 4 workers serve 40 clients, count them per worker, stop on SIGTERM" {
	need_model prefork
	serve_and_count fcntl
}

@test "prefork, mutex accept lock: 4 workers serve 40 clients, count them per worker, stop on SIGTERM" {
	need_model prefork
	serve_and_count mutex
}

# kill_the_holder LOCK: with one worker, whenever it is not serving it holds
# the lock (if any) and sleeps in accept(). SIGKILL it there: the parent
# reaps it and starts another, which must get the lock and serve.
kill_the_holder() {
	local lock=$1 worker
	export ECHOLAB_ACCEPT_LOCK=$lock
	start_server prefork --workers 1 --verbose
	run probe script <<-'EOF'
		connect a
		send a b"first\n"
		expect a b"first\n"
		close a
	EOF
	assert_success
	wait_until 10 file_has '^close ' "$SERVER_ERR"
	worker=$(children_of "$SERVER_PID")
	worker=${worker%% *}
	[ -n "$worker" ] || fail "no worker"
	# After its close line the worker only takes the lock again and goes to
	# sleep in accept(): asleep means holding the lock.
	asleep() {
		local stat
		{ read -r stat <"/proc/$worker/stat"; } 2>/dev/null || return 1
		stat=${stat##*) }
		[ "${stat%% *}" = S ]
	}
	wait_until 10 asleep
	kill -KILL "$worker"
	wait_until 10 file_has "worker 0 killed by signal 9; starting another" "$SERVER_ERR"
	run probe script <<-'EOF'
		connect b
		send b b"after\n"
		expect b b"after\n"
	EOF
	assert_success # else the pool froze when its worker died
	if [ "$lock" = mutex ]; then
		grep -qF "accept lock: its holder died holding it; recovered" "$SERVER_ERR" ||
			fail "no recovery of the mutex: $(cat "$SERVER_ERR")"
	fi
	# the dead worker was reaped: no zombie, and one worker again
	wait_until "$WAIT" children_are 1 "$SERVER_PID" || fail "not one worker: $(children_of "$SERVER_PID")"
	stop_server
	assert_equal "$(summary_field connections)" 2
}

# workers_woken PID: the voluntary context switches of PID's children so far
# (each one a sleep that ended: a wake-up)
workers_woken() {
	local pid total=0 n
	for pid in $(children_of "$1" | awk '{ print $1 }'); do
		n=$(awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
		total=$((total + ${n:-0}))
	done
	echo "$total"
}

@test "prefork, no accept lock: a connection wakes one of 8 workers, not all (no thundering herd)" {
	need_model prefork
	export ECHOLAB_ACCEPT_LOCK=none
	start_server prefork --workers 8
	wait_until "$WAIT" eval '[ "$(children_of "$SERVER_PID" | wc -l)" -eq 8 ]'
	local before after i per
	before=$(workers_woken "$SERVER_PID")
	for i in $(seq 40); do
		printf 'x\n' | timeout 10 "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" >/dev/null
	done
	after=$(workers_woken "$SERVER_PID")
	per=$(((after - before) * 10 / 40))
	echo "# $((after - before)) wake-ups of the workers for 40 connections" >&3
	# one worker wakes in accept, then once or twice in recv: about 2.5;
	# a herd wakes all 8 for each connection: 9 or more
	((per <= 50)) || fail "expected about 2 to 3 wake-ups of the workers per connection (one worker: accept, then recv); measured $((per / 10)).$((per % 10)): each connection woke several workers"
}

@test "prefork, no accept lock: a worker killed with SIGKILL in accept() is reaped and replaced, the pool serves on" {
	need_model prefork
	kill_the_holder none
}

@test "prefork, fcntl accept lock: a worker killed with SIGKILL holding the lock is replaced, the pool serves on" {
	need_model prefork
	kill_the_holder fcntl
}

@test "prefork, mutex accept lock: a worker killed with SIGKILL holding the mutex is replaced, the next one recovers the mutex (robust), the pool serves on" {
	need_model prefork
	kill_the_holder mutex
}

@test "prethreaded: --max-clients bounds served + queued: 1 worker, --max-clients 2: one served, one queued, the third refused" {
	need_model prethreaded
	start_server prethreaded --workers 1 --max-clients 2
	run probe script <<-'EOF'
		connect a
		send a b"a\n"
		expect a b"a\n"
		connect b
		send b b"b\n"
		# queued: the one worker is busy with a
		quiet b 0.3
		connect c
		expect c b"ERR server busy\n"
		expect_eof c
		close a
		expect b b"b\n"
	EOF
	assert_success
	stop_server
	assert_equal "$(summary_field connections)" 2
	assert_equal "$(summary_field refused)" 1
}
