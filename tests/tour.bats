#!/usr/bin/env bats
# tour.bats: the guided tour (docs/TOUR.md) stays true.
#
#   step 0: bin/bare-server and bin/bare-client echo a line, a split write too;
#   the tour's step 0 commands work pasted as written
#   the non-blocking step: bin/bare-select, two clients in one thread
#   the core's traced walk (docs/tour/core_walk.py --check)
#   the navigation (stop N of M, previous/next, contents) agrees with
#   docs/tour/stops.list (docs/tour/nav.py --check)
#   the docs check (make docs-check) lists a model's missing page, tour stop
#   and see-demo (a model without them still builds and passes the suites),
#   and fails on a measured figure that is not the record's
#   every `file:function` a page cites exists in that file
#   every `make see MODEL=m` runs end to end in its short mode (SEE_SHORT=1)
#   make watch: its refreshes show a server's backlog, connections, threads;
#   it ends by itself when the server exits

# shellcheck disable=SC2153 # PORT and the like come from helpers.bash
load helpers

# start_bare_server [PROGRAM]: starts bin/bare-server (or PROGRAM) on a free port; sets PORT and SERVER_PID (teardown
# ends it with the others).
start_bare_server() {
	local program=${1:-bare-server}
	SERVER_OUT=$BATS_TEST_TMPDIR/bare.out
	SERVER_ERR=$BATS_TEST_TMPDIR/bare.err
	setsid "$ECHOLAB_BIN/$program" 0 </dev/null >"$SERVER_OUT" 2>"$SERVER_ERR" 3>&- &
	SERVER_PID=$!
	SERVER_PIDS+=("$SERVER_PID")
	SERVER_ERRS+=("$SERVER_ERR")
	[ -z "${ECHOLAB_RUN_DIR:-}" ] || echo "$SERVER_PID" >>"$ECHOLAB_RUN_DIR/server-pids"
	wait_until "$WAIT" file_has '^listening on port ' "$SERVER_OUT"
	PORT=$(sed -n 's/^listening on port //p' "$SERVER_OUT")
}

@test "step 0: bare-client gets its line back from bare-server" {
	start_bare_server
	run timeout 10 "$ECHOLAB_BIN/bare-client" 127.0.0.1 "$PORT" "hello, socket"
	assert_success
	assert_output "hello, socket"
	# and from ::1 / localhost, whichever address the name gives first
	run timeout 10 "$ECHOLAB_BIN/bare-client" localhost "$PORT"
	assert_success
	assert_output "hello"
}

@test "step 0: bare-server echoes a line split over two writes, and many lines in one" {
	start_bare_server
	run probe script <<-'EOF'
		connect a
		send a b"hel"
		pause 0.1
		send a b"lo\n"
		expect a b"hello\n"
		trickle a b"one byte at a time\n"
		expect a b"one byte at a time\n"
		# one client at a time: b is served once a has gone
		close a
		connect b
		send b b"x" * 100000 + b"\n"
		expect b b"x" * 100000 + b"\n"
		shutdown b
		expect_eof b
	EOF
	assert_success
}

@test "step 0: bare-client speaks the models' protocol" {
	local m
	for m in $(any_concurrent_model); do
		start_server "$m"
		run timeout 10 "$ECHOLAB_BIN/bare-client" 127.0.0.1 "$PORT" "to $m"
		assert_success
		assert_output "to $m"
	done
}

@test "non-blocking step: bare-select serves two clients from one thread, partial lines kept" {
	start_bare_server bare-select
	run probe script <<-'EOF'
		connect a
		connect b
		# a's line arrives in two pieces, with b's whole line between them
		send a b"hel"
		pause 0.1
		send b b"one\n"
		expect b b"one\n"
		send a b"lo\nwor"
		expect a b"hello\n"
		trickle b b"two\n"
		expect b b"two\n"
		send a b"ld\n"
		expect a b"world\n"
		close a
		send b b"x" * 3000 + b"\n"
		expect b b"x" * 3000 + b"\n"
	EOF
	assert_success
	# recv said EAGAIN with a's first piece kept for the next wake-up
	grep -q '^fd [0-9]*: recv -> EAGAIN, 3 bytes of a line kept, back to select$' "$SERVER_ERR" ||
		fail "no EAGAIN with 3 bytes kept in its stderr: $(head -c 2000 "$SERVER_ERR")"
	assert_equal "$(awk '/^Threads:/ { print $2 }' "/proc/$SERVER_PID/status")" 1
}

@test "step 0: bare-client: connection refused and bad usage are reported" {
	run "$ECHOLAB_BIN/bare-client" 127.0.0.1
	assert_failure 2
	assert_output --partial "usage:"
	run probe refusing-port -- timeout 20 \
		"$ECHOLAB_BIN/bare-client" 127.0.0.1 '{port}'
	assert_failure
	assert_output --partial "Connection refused"
}

# ----------------------------------------------------------------- the tour

@test "step 0: the tour's commands work pasted as written, with PORT from the server's line" {
	start_bare_server
	# the block of docs/TOUR.md from "PORT=" to "kill %1": each "$ " line run
	# as it is (PORT set to ours), its output compared with the lines under it
	run "$PYTHON" - "$ECHOLAB_ROOT/docs/TOUR.md" "$PORT" "$ECHOLAB_BIN" <<-'EOF'
		import os, re, subprocess, sys
		text, port, bindir = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
		block = re.search(r"\n\$ PORT=.*?\n(.*?)\$ kill %1", text, re.S).group(1)
		steps = re.findall(r"^\$ (.*)\n((?:(?!\$ ).*\n)*)", block, re.M)
		env = dict(os.environ, PORT=port)
		for cmd, want in steps:
		    cmd = cmd.replace("bin/", bindir + "/")
		    got = subprocess.run(["bash", "-c", cmd], env=env, capture_output=True, text=True, timeout=20)
		    if got.returncode != 0 or got.stdout != want:
		        sys.exit(f"{cmd}: exit {got.returncode}, printed {got.stdout!r} {got.stderr!r}; the tour shows {want!r}")
		print(f"{len(steps)} commands as the tour shows them")
	EOF
	assert_success
	assert_output "2 commands as the tour shows them"
}

@test "tour: the core's traced walk in TOUR.md is what bin/echo-select does now" {
	command -v gdb >/dev/null || skip "gdb is not installed (tests/deps.sh tour)"
	# the walk shows the plain build; a sanitizer's build inlines differently
	! grep -q fsanitize "$ECHOLAB_ROOT/build/flags" 2>/dev/null || skip "a sanitizer build"
	run timeout 120 "$PYTHON" "$ECHOLAB_ROOT/docs/tour/core_walk.py" --check
	assert_success
}

@test "tour: stop headers, previous/next links and contents agree with docs/tour/stops.list" {
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/nav.py" --check
	assert_success
	# a copy with one header out of step, one page without its stop's page
	# (skipped: make docs-check's to-do), then a section the list lacks
	local t=$BATS_TEST_TMPDIR/tree
	mkdir -p "$t"
	cp -r "$ECHOLAB_ROOT/docs" "$t/"
	sed -i 's/^## Stop 3 of \([0-9]*\):/## Stop 4 of \1:/' "$t/docs/TOUR.md"
	rm "$t/docs/models/uring.md"
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/nav.py" --check --root "$t"
	assert_failure 1
	assert_output --partial "+## Stop 3 of"
	assert_output --regexp "nav: docs/TOUR.md.* disagrees? with docs/tour/stops.list: run make nav"
	# uring's neighbours link to its tour stop instead; no error for its page
	assert_output --partial "previous: [uring](../TOUR.md#stop-uring)"
	refute_output --partial "page stop-uring"
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/nav.py" --root "$t"
	assert_success
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/nav.py" --check --root "$t"
	assert_success
	printf '<a id="stop-newmodel"></a>\n' >>"$t/docs/TOUR.md"
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/nav.py" --check --root "$t"
	assert_failure 1
	assert_output --partial 'the section <a id="stop-newmodel"></a> is not in docs/tour/stops.list'
}

@test "tour: the docs check lists what a model lacks, and fails only when asked to" {
	# a tree of two models: poll with its docs, "newmodel" with none
	local t=$BATS_TEST_TMPDIR/tree
	mkdir -p "$t/models" "$t/tests" "$t/docs/models" "$t/docs/tour/see"
	cp "$ECHOLAB_ROOT/models/models.sh" "$t/models/"
	printf 'poll         concurrent  -  -\nnewmodel     concurrent  -  -\n' >"$t/models/models.list"
	cp "$ECHOLAB_ROOT/docs/TOUR.md" "$t/docs/"
	cp "$ECHOLAB_ROOT/docs/models/poll.md" "$t/docs/models/"
	cp "$ECHOLAB_ROOT/docs/tour/see/poll.sh" "$t/docs/tour/see/"
	run "$ECHOLAB_ROOT/tests/docs-check.sh" "$t"
	assert_failure 1
	assert_line --index 0 "docs to-do (make docs-check): 3 missing"
	assert_output --partial "newmodel: its page, docs/models/newmodel.md"
	assert_output --partial "newmodel: a tour stop in docs/TOUR.md (<a id=\"stop-newmodel\"></a>)"
	assert_output --partial "newmodel: its demonstration, docs/tour/see/newmodel.sh"
	refute_output --partial "poll:"
	run "$ECHOLAB_ROOT/tests/docs-check.sh" --todo "$t"
	assert_success
	assert_output --partial "newmodel: its page"
	# the real tree: the check runs (its list is make test's to print)
	run "$ECHOLAB_ROOT/tests/docs-check.sh" --todo
	assert_success
}

@test "tour: a figure edited by hand fails the docs check; the rendered one passes" {
	local page=$BATS_TEST_TMPDIR/TOUR.md
	cp "$ECHOLAB_ROOT/docs/TOUR.md" "$page"
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/render_docs.py" --check --files "$page"
	assert_success
	# the first rendered row of a block: its last figure gets one more digit
	local line
	line=$(grep -n -A3 '^<!-- figures:cells ' "$page" | sed -n 's/^\([0-9]*\)-| 1c 64B .*/\1/p' | head -n 1)
	[ -n "$line" ]
	sed -i "${line}s/ |\$/1 |/" "$page"
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/render_docs.py" --check --files "$page"
	assert_failure 1
	assert_output --partial "TOUR.md:$((line - 3)): <!-- figures:cells "
	assert_output --partial "differs from the record"
	# and a span: the first inline figure replaced by a typed number
	cp "$ECHOLAB_ROOT/docs/TOUR.md" "$page"
	sed -i '0,/<!-- figure:[^>]*-->[^<]*<!-- \/figure -->/s//<!-- figure:mem10k epoll -->1 KiB<!-- \/figure -->/' "$page"
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/render_docs.py" --check --files "$page"
	assert_failure 1
	assert_output --partial "<!-- figure:mem10k epoll -->1 KiB<!-- /figure --> differs from the record"
}

@test "tour: every relative link in docs/ and README.md points at a file that exists" {
	run "$PYTHON" - "$ECHOLAB_ROOT" <<-'EOF'
		import os, re, sys
		root = sys.argv[1]
		bad = []
		pages = [os.path.join(root, "README.md")]
		for d, _, fs in os.walk(os.path.join(root, "docs")):
		    pages += [os.path.join(d, f) for f in fs if f.endswith(".md")]
		for page in pages:
		    text = open(page, encoding="utf-8").read()
		    for target in re.findall(r"\]\(([^)\s]+)\)", text):
		        if re.match(r"[a-z]+:", target) or target.startswith("#"):
		            continue
		        path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
		        if not os.path.exists(path):
		            bad.append(f"{os.path.relpath(page, root)}: {target}")
		print("\n".join(bad))
		sys.exit(1 if bad else 0)
	EOF
	assert_success
}

@test "tour: every 'file:function' the docs cite exists in that file" {
	run "$PYTHON" - "$ECHOLAB_ROOT" <<-'EOF'
		import os, re, sys
		root = sys.argv[1]
		cite = re.compile(r"\b((?:models|common|client|bench|docs/tour|tests/unit)/[\w./-]+\.(?:c|h|cc)):(\w+)\b")
		bad, seen = [], 0
		for d, _, fs in os.walk(os.path.join(root, "docs")):
		    for f in fs:
		        if not f.endswith(".md"):
		            continue
		        page = os.path.join(d, f)
		        for path, name in cite.findall(open(page, encoding="utf-8").read()):
		            seen += 1
		            src = os.path.join(root, path)
		            if not os.path.exists(src):
		                bad.append(f"{os.path.relpath(page, root)}: {path}:{name}: no such file")
		                continue
		            code = open(src, encoding="utf-8").read()
		            # a definition: the name at the start of a declarator followed by "(",
		            # or a struct/enum/macro of that name
		            if not re.search(r"(^|[\s*])" + name + r"\s*\([^;]*$|\b(struct|enum|union)\s+" + name
		                             + r"\b|#define\s+" + name + r"\b", code, re.M):
		                bad.append(f"{os.path.relpath(page, root)}: {path}:{name}: not defined there")
		print("\n".join(bad) or f"{seen} citations checked")
		sys.exit(1 if bad or seen == 0 else 0)
	EOF
	assert_success
}

@test "tour: every 'make see MODEL=m' runs end to end in its short mode (all at once)" {
	local m pids=() names=() i failed=0
	# every kind of model (datagram ones too), as far as it is built
	for m in $(models_list | awk '{ print $1 }'); do
		[ -x "$ECHOLAB_BIN/echo-$m" ] || continue
		# a model without its demonstration yet: make docs-check lists it
		[ -f "$ECHOLAB_ROOT/docs/tour/see/$m.sh" ] || continue
		if [ -n "${ECHOLAB_MODELS:-}" ] && ! grep -qxF -- "$m" <<<"${ECHOLAB_MODELS// /$'\n'}"; then
			continue
		fi
		# setsid + timeout: a demo that hangs is cut off with all it started
		SHORT=1 setsid timeout -k 5 80 "$ECHOLAB_ROOT/docs/tour/see.sh" "$m" \
			</dev/null >"$BATS_TEST_TMPDIR/see-$m.out" 2>&1 3>&- &
		pids+=("$!")
		names+=("$m")
	done
	for i in "${!pids[@]}"; do
		m=${names[$i]}
		if ! wait "${pids[$i]}"; then
			echo "--- make see MODEL=$m SHORT=1 failed:"
			cat "$BATS_TEST_TMPDIR/see-$m.out"
			failed=1
		elif ! grep -q '^look at: ' "$BATS_TEST_TMPDIR/see-$m.out" ||
			! grep -q '^=== done' "$BATS_TEST_TMPDIR/see-$m.out"; then
			echo "--- make see MODEL=$m SHORT=1 said nothing to look at:"
			cat "$BATS_TEST_TMPDIR/see-$m.out"
			failed=1
		fi
	done
	return "$failed"
}

@test "make watch: refreshes the live view of a server, and ends when the server exits" {
	local m out=$BATS_TEST_TMPDIR/watch.out watch_pid
	m=$(any_concurrent_model)
	start_server "$m"
	# two clients held open, so there is something to see
	exec 4<>/dev/tcp/127.0.0.1/"$PORT" 5<>/dev/tcp/127.0.0.1/"$PORT"
	"$PYTHON" "$ECHOLAB_ROOT/docs/tour/watch.py" "$m" --port "$PORT" --interval 0.3 \
		</dev/null >"$out" 2>&1 3>&- &
	watch_pid=$!
	wait_until "$WAIT" eval '[ "$(grep -c "^watch: echo-" "$out")" -ge 3 ]' ||
		fail "fewer than 3 refreshes: $(cat "$out")"
	# the fields, from the last complete refresh; the heading lines counted
	# in one snapshot, since watch.py keeps writing while they are counted
	local snapshot=$BATS_TEST_TMPDIR/watch.snapshot
	cp "$out" "$snapshot"
	assert_equal "$(grep -c '^watch: echo-'"$m"", pid $SERVER_PID " "$snapshot")" "$(grep -c '^watch: ' "$snapshot")"
	grep -q "^listen backlog  port $PORT: [0-9]* queued (ss Recv-Q), limit [0-9]" "$out" || fail "no backlog line: $(cat "$out")"
	grep -q '^connections     2 established$' "$out" || fail "not 2 connections: $(cat "$out")"
	grep -Eq '^cpu             [0-9]+% of one core   wake-ups/s [0-9]+$' "$out" || fail "no cpu line: $(cat "$out")"
	grep -Eq '^processes       [0-9]+   threads [0-9]+   RSS [0-9.]+ MiB$' "$out" || fail "no processes line: $(cat "$out")"
	grep -Eq "^ +[0-9]+ × echo-$m +[RSD] +[a-z_]" "$out" || fail "no wait line: $(cat "$out")"
	exec 4>&- 5>&-
	stop_server
	# it ends by itself, within a refresh or two
	wait_until 5 eval "! kill -0 $watch_pid 2>/dev/null" || { kill "$watch_pid"; fail "still running after the server exited"; }
	wait "$watch_pid"
	assert_equal "$(tail -n 1 "$out")" "watch: echo-$m (pid $SERVER_PID) has exited"
	run "$PYTHON" "$ECHOLAB_ROOT/docs/tour/watch.py" "no such model!"
	assert_failure 2
	assert_output --partial "not a model name"
}

@test "tour: make see refuses an unknown model and names the known ones" {
	run "$ECHOLAB_ROOT/docs/tour/see.sh" nosuchmodel
	assert_failure 2
	assert_output --partial "unknown model 'nosuchmodel'"
	assert_output --partial "iterative"
}

# ----------------------------------------------------------------- what the demos need

@test "client --hold N: N idle connections, each echoed once, beside the load" {
	local m
	m=$(any_concurrent_model)
	start_server "$m"
	run load_run timeout 60 "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" --load --hold 7 \
		--connections 2 --rate 50 --warmup 0 --duration 0.3
	assert_success
	assert_output --partial "--hold 7: 7 echoed and now idle, 0 refused"
	stop_server
	local runs=1 # load_run ran it twice if the machine stalled the first run
	[[ $output != *"load_run: "* ]] || runs=2
	assert_equal "$(summary_field connections)" $((9 * runs))
	run "$ECHO_CLIENT" --hold 3
	assert_failure 2
	assert_output --partial "--hold only applies to --load"
}

@test "client --hold N against a serial server: the held client stalls the load" {
	selected_models | grep -qx iterative || skip "iterative is not selected"
	# --idle-timeout 1: the held client is let go after a second, so the load's
	# echoes come back in its drain, after the window, not 20 s later
	start_server iterative --idle-timeout 1
	run timeout 60 "$ECHO_CLIENT" --host 127.0.0.1 --port "$PORT" --load --hold 1 \
		--connections 1 --rate 20 --warmup 0 --duration 0.3
	assert_failure 1
	assert_output --partial "--hold 1: 1 echoed and now idle"
	assert_output --regexp "messages +0 "
}

@test "make demo: Ctrl-C ends with the summary and no make error" {
	local m
	m=$(any_concurrent_model)
	run timeout 60 "$PYTHON" - "$ECHOLAB_ROOT" "$m" <<-'EOF'
		import fcntl, os, pty, select, subprocess, sys, termios, time
		root, model = sys.argv[1], sys.argv[2]
		master, slave = pty.openpty()
		proc = subprocess.Popen(["make", "-s", "--no-print-directory", "-C", root, "demo", "MODEL=" + model],
		                        stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
		                        close_fds=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
		os.close(slave)
		seen = b""
		def until(needle, limit=30):
		    global seen
		    end = time.monotonic() + limit
		    while needle not in seen:
		        r, _, _ = select.select([master], [], [], max(0, end - time.monotonic()))
		        if not r:
		            sys.exit("timed out waiting for %r; the terminal shows %r" % (needle, seen))
		        try:
		            chunk = os.read(master, 4096)
		        except OSError:
		            chunk = b""
		        if not chunk:
		            sys.exit("terminal closed before %r; it shows %r" % (needle, seen))
		        seen += chunk
		until(b"Ctrl-D")
		os.write(master, b"hello\n")
		until(b"> hello")
		os.write(master, b"\x03")
		until(b"summary:")
		proc.wait(30)
		while True:
		    r, _, _ = select.select([master], [], [], 0.5)
		    if not r:
		        break
		    try:
		        chunk = os.read(master, 4096)
		    except OSError:
		        break
		    if not chunk:
		        break
		    seen += chunk
		print(seen.decode(errors="replace"))
	EOF
	assert_success
	assert_output --partial "summary: model="
	refute_output --partial "Error"
	refute_output --partial "make:"
}
