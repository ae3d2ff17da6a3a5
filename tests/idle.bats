#!/usr/bin/env bats
# idle.bats: what --idle-timeout counts as activity, and what a connection
# costs once a burst is over.
#   - a client that sends but never reads is closed by the idle timeout
#     (blocking models: only the send timeout can end a blocked send)
#   - a client that reads a large echo slowly but steadily is activity: it is
#     not cut off half-way, whatever it has (not) sent lately
#   - after backpressure, an idle connection takes no CPU, is closed by the
#     idle timeout, and its buffer goes back to small (event models)
#
# run.sh: per model

# shellcheck disable=SC2153 # SERVER_PID and the like come from helpers.bash
load helpers

MODEL=${ECHOLAB_MODEL:-} # the case names; require_model checks it

setup_file() {
	require_model
}

# cpu_ticks PID: user + system clock ticks the process has used so far
cpu_ticks() {
	local stat fields
	read -r stat <"/proc/$1/stat"
	read -ra fields <<<"${stat##*) }"
	echo $((fields[11] + fields[12]))
}

@test "${MODEL}: a client that sends but never reads is closed by --idle-timeout" {
	start_server "$MODEL" --idle-timeout 1 --verbose
	# A small receive buffer, so that the echo backs up at once (loopback
	# would otherwise take megabytes): a blocking model then sits in send(),
	# which only its send timeout ends; an event model stops reading. The
	# client sends until the server takes no more, then holds on.
	cat >"$BATS_TEST_TMPDIR/stuck.py" <<-'EOF'
		import socket, sys, time
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		s.connect(("127.0.0.1", int(sys.argv[1])))
		s.setblocking(False)
		chunk, last = b"n" * 1023 + b"\n", time.monotonic()
		while time.monotonic() - last < 0.3:
		    try:
		        s.send(chunk)
		        last = time.monotonic()
		    except BlockingIOError:
		        time.sleep(0.01)
		    except OSError:
		        break # closed by the server meanwhile
		print("stalled", flush=True)
		time.sleep(60)
	EOF
	"$PYTHON" -S "$BATS_TEST_TMPDIR/stuck.py" "$PORT" >"$BATS_TEST_TMPDIR/stuck.out" 2>&1 3>&- &
	BG_PIDS+=("$!")
	wait_until "$WAIT" file_has '^close [^ ]+ \(idle timeout( \(client not reading\))?\)$' "$SERVER_ERR" ||
		fail "a client that never reads was not closed: $(cat "$SERVER_ERR")"
}

@test "${MODEL}: a slow, steady reader of a large echo is not cut off by --idle-timeout" {
	start_server "$MODEL" --idle-timeout 2 --max-line 33554432
	# 16 MB in one line, then read back at about 4 MB/s (4 s, twice the
	# timeout) with a small receive buffer: the kernel holds at most 4 MB of
	# the server's echo, so it is still writing seconds after the last byte
	# it read. Its writes are the activity.
	run "$PYTHON" - "$PORT" <<-'EOF'
		import socket, sys, time
		size = 16 * 1000 * 1000
		# built before connecting: on a busy machine building 16 MB can
		# take longer than the timeout, which would then rightly close an
		# idle connection
		line = b"s" * (size - 1) + b"\n"
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
		s.settimeout(20)
		s.connect(("127.0.0.1", int(sys.argv[1])))
		s.sendall(line)
		got, start = 0, time.monotonic()
		while got < size:
		    allowed = 4e6 * (time.monotonic() - start) + 65536
		    if got >= allowed:
		        time.sleep(0.005)
		        continue
		    chunk = s.recv(min(65536, size - got))
		    if not chunk:
		        sys.exit("cut off after %d of %d bytes, %.1f s in" % (got, size, time.monotonic() - start))
		    got += len(chunk)
		print("read %d bytes in %.1f s" % (got, time.monotonic() - start))
	EOF
	assert_success
}

@test "${MODEL}: after backpressure, an idle connection takes no CPU and the idle timeout still closes it" {
	event_driven "$MODEL" || skip "n/a: a blocking model sleeps in recv() by construction"
	start_server "$MODEL" --idle-timeout 2 --verbose
	# the echo of 400 KB backs up (the server waits to write), then is read
	# back; the connection then holds a partial line and is quiet
	"$PYTHON" -S "$ECHOLAB_TESTS/tools/backlog_client.py" "$PORT" 400000 drain \
		>"$BATS_TEST_TMPDIR/burst.out" 2>&1 3>&- &
	BG_PIDS+=("$!")
	wait_until "$WAIT" file_has drained "$BATS_TEST_TMPDIR/burst.out" || fail "$(cat "$BATS_TEST_TMPDIR/burst.out")"
	local before after hz
	hz=$(getconf CLK_TCK)
	before=$(cpu_ticks "$SERVER_PID")
	nap 1
	after=$(cpu_ticks "$SERVER_PID")
	# a loop woken for nothing burns the whole second
	[ $((after - before)) -le $((hz / 5)) ] ||
		fail "$((after - before)) of $hz ticks in a second with nothing to do"
	wait_until "$WAIT" file_has '^close [^ ]+ \(idle timeout\)$' "$SERVER_ERR" ||
		fail "not closed by the idle timeout: $(cat "$SERVER_ERR")"
}

@test "${MODEL}: after a burst, 30 connections holding a partial line give their buffers back" {
	event_driven "$MODEL" || skip "n/a: a blocking model's buffer is fixed per connection"
	! sanitized_build "$MODEL" || skip "sanitizer build: its heap is not the server's RSS"
	start_server "$MODEL" --max-clients 100
	run "$PYTHON" -S - "$PORT" "$SERVER_PID" <<-'EOF'
		import select, socket, sys, time
		port, pid = int(sys.argv[1]), sys.argv[2]
		def rss_kb():
		    for line in open("/proc/%s/status" % pid):
		        if line.startswith("VmRSS:"):
		            return int(line.split()[1])
		conns = []
		# a small receive buffer and segments: the server's send buffer then
		# stays small too (the kernel sizes it by segments in flight), so a
		# burst of 400 KB backs the echo up into the server's own buffer
		for _ in range(30):
		    s = socket.socket()
		    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
		    s.connect(("127.0.0.1", port))
		    s.sendall(b"partial")
		    conns.append(s)
		before = rss_kb()
		# each completes its line, sends 400 KB more and a new partial line,
		# reading only when stalled; once the echo is out, the server holds
		# the partial line, in a buffer that must have shrunk back
		burst = b"\n" + (b"b" * 63 + b"\n") * 6400 + b"partial again"
		for s in conns:
		    s.setblocking(False)
		sent = {s: 0 for s in conns}
		got = {s: 0 for s in conns}
		want = len(b"partial") + len(burst) - len(b"partial again")
		deadline = time.monotonic() + 60
		while any(got[s] < want for s in conns):
		    if time.monotonic() > deadline:
		        sys.exit("burst not echoed in time")
		    wr = [s for s in conns if sent[s] < len(burst)]
		    r, w, _ = select.select(conns, wr, [], 1)
		    for s in w:
		        try:
		            sent[s] += s.send(burst[sent[s]:sent[s] + 65536])
		        except BlockingIOError:
		            pass
		    for s in r:
		        # read only once its sending is over, or stalled on the echo
		        if sent[s] == len(burst) or s not in w:
		            got[s] += len(s.recv(65536))
		# quiet now: the server trims its heap a second after the burst
		limit = before + 1024
		deadline = time.monotonic() + 10
		while rss_kb() > limit and time.monotonic() < deadline:
		    time.sleep(0.05)
		after = rss_kb()
		print("RSS %d kB before the burst, %d kB after" % (before, after))
		assert after <= limit, "30 idle connections keep %d kB more after a burst" % (after - before)
	EOF
	assert_success
}
