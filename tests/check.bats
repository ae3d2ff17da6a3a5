#!/usr/bin/env bats
# check.bats: the report card (bin/echo-check, make check) against real
# servers: one of the project's own models on the full profile, the shipped
# examples of docs/examples/ (the naive one must be caught, with its reason),
# a server's declared promises (--serves, --max-clients, and what make check
# declares for each model), a server that crashes mid-card, a running server
# by address, and every kind of bad input (exit 2 with a message naming it,
# nothing left running, no port left bound); then make install and its man
# pages.
#
# Only the model's card is run whole; the other cards run the cases that tell
# them apart (--cases), to keep the suite short. The full card of every stream
# model is .ci/run's (docs/TESTING.md).

load helpers

setup() {
	CHECK=$ECHOLAB_ROOT/bin/echo-check
	[ -x "$CHECK" ] || fail "no $CHECK: build it with make"
	T=$BATS_TEST_TMPDIR
	CORE=echo,no-early-echo,binary,pipelining,half-close,idle-client,reset,never-reads,1000-clients
	cd "$ECHOLAB_ROOT" || return 1
}

# card ARGS...: runs the checker, its card in $output, its status in $status
# and the seconds it took in $took.
card() {
	local began=$SECONDS
	run "$CHECK" --timeout 5 "$@"
	took=$((SECONDS - began))
}

# json_of FILE KEY: a top-level string of a card's JSON ("verdict", ...).
json_of() {
	local text
	text=$(<"$1")
	[[ $text =~ \"$2\":\ \"([^\"]*)\" ]] && echo "${BASH_REMATCH[1]}"
}

# listening PORT: something listens on TCP port PORT (from /proc/net/tcp*).
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:[0-9A-F]+ 0A " /proc/net/tcp /proc/net/tcp6
}

# card_port: the port the card says the server was started on.
card_port() {
	[[ $output =~ port\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

# nothing_left MARKER: no process has MARKER in its command line (the ones
# there are shown).
nothing_left() {
	! pgrep -af -- "$1" >&2
}

@test "epoll on PROFILE=full: every guarantee ✓, exit 0, the JSON says it holds" {
	local only=() n=15
	if grep -q fsanitize build/flags 2>/dev/null; then
		# a sanitizer's shadow memory and quarantine are not the server's own:
		# never-reads' memory bound does not apply to that build
		only=(--cases "$CORE,10000-clients,max-line,busy,idle-timeout,ipv6,sigterm")
		only[1]=${only[1]/never-reads,/}
		n=14
	fi
	card --server "bin/echo-epoll --port {port}" --profile full --json "$T/card.json" "${only[@]}"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"PROFILE=full holds: $n of $n guarantees ✓"* ]]
	[[ $output != *"✗"* && $output != *"not offered"* && $output != *"not run"* ]]
	[ "$(json_of "$T/card.json" verdict)" = holds ]
	! grep -q '"status": "fail"' "$T/card.json"
	[ "$(grep -c '"status": "pass"' "$T/card.json")" -eq "$n" ]
}

@test "the naive server (each recv echoed as it comes) is caught: no-early-echo ✗ with its reason, exit 1" {
	card --server "python3 docs/examples/naive_echo.py {port}" \
		--cases echo,no-early-echo,half-close --json "$T/naive.json"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"✓ echo "* && $output == *"✓ half-close "* ]]
	[[ $output == *"✗ no-early-echo"* ]]
	[[ $output == *"came back:    b'half a line, no LF yet' (22 bytes) before the LF was sent"* ]]
	[[ $output == *"echoes each recv() as it arrives instead of each line"* ]]
	[[ $output == *"PROFILE=core does not hold: no-early-echo ✗"* ]]
	[ "$(json_of "$T/naive.json" verdict)" = "does not hold" ]
}

@test "the Python asyncio example holds the core (all but 10,000 clients here); its extras are not offered" {
	card --server "python3 docs/examples/echo_asyncio.py {port}" --cases "$CORE,busy"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"PROFILE=core holds: 9 of 9 guarantees ✓"* ]]
	[[ $output == *"· busy "* && $output == *"not offered:  it ignores --max-clients"* ]]
}

@test "the Go tutorial design drops the unfinished line on half-close: half-close ✗, echo ✓" {
	[ -x build/examples/echo-go ] || skip "n/a: go is not installed (docs/examples/go)"
	card --server "build/examples/echo-go {port}" --cases echo,half-close
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"✓ echo "* && $output == *"✗ half-close"* ]]
	[[ $output == *"came back:    b'one\ntwo\n' (8 bytes) then EOF"* ]]
	[[ $output == *"drops the unfinished line when the client half-closes"* ]]
}

@test "--serves: serial makes idle-client and busy 'not offered' as declared once its own promise is checked; over-declared it is ✗" {
	card --server "bin/echo-iterative --port {port}" --serves serial --profile full \
		--cases echo,idle-client,busy --json "$T/serial.json"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"PROFILE=full, declared: --serves serial"* ]]
	[[ $output == *"· idle-client"*"not offered:  declared serial: one client at a time"*"checked: one more client waited and was served once the first left"* ]]
	[[ $output == *"· busy "*"not offered:  declared serial"* ]]
	[[ $output == *"PROFILE=full holds: 1 of 1 guarantees ✓, 2 not offered as declared"* ]]
	[ "$(json_of "$T/serial.json" declared)" = "--serves serial" ]
	grep -q '"declared": true' "$T/serial.json"

	# a pool of 2 declared for a server of one at a time: the promise is not kept
	card --server "bin/echo-iterative --port {port}" --serves pool:2 --cases idle-client --timeout 1
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"✗ idle-client"*"came back:    client 2 of 2: nothing more for 1 s"* ]]
	[[ $output == *"expected:     every echo of the 2 at once"*"(declared pool:2)"* ]]
}

@test "--max-clients: a declared cap is checked (busy answers beyond it, none lost) in place of 1,000 served; a lower one is ✗" {
	card --server "bin/echo-epoll --port {port} --max-clients 50" --max-clients 50 --cases 1000-clients \
		--json "$T/cap.json"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"· 1000-clients"*"not offered:  declared --max-clients 50"* ]]
	grep -F "declared --max-clients 50: checked: of 1,000 clients 50 served at once, the other 950 answered 'ERR server busy' then EOF, none lost" "$T/cap.json"

	card --server "bin/echo-epoll --port {port} --max-clients 20" --max-clients 50 --cases 1000-clients
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"✗ 1000-clients"*"came back:    20 served at once, the other 980 refused"* ]]
}

@test "make check declares what each model promises: serial, a pool of its --workers, select's fd_set cap; other commands nothing" {
	promises() { (. models/models.sh && model_promises "$@"); }
	[ "$(promises bin/echo-iterative --port 1)" = "--serves serial" ]
	[ "$(promises bin/echo-prefork --port 1)" = "--serves pool:16" ]
	[ "$(promises bin/echo-prethreaded --workers 4 --port 1)" = "--serves pool:4" ]
	[ "$(promises bin/echo-select --port 1)" = "--max-clients 1000" ]
	[ -z "$(promises bin/echo-epoll --port 1)" ]
	[ -z "$(promises python3 docs/examples/echo_asyncio.py 1)" ]
	run make --no-print-directory check SERVER='bin/echo-iterative --port {port}' CASES=echo,idle-client
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"declared: --serves serial"* && $output == *"· idle-client"* ]]
}

@test "a server that crashes mid-card: that case ✗ with the signal and its stderr, every later one not run" {
	card --server "python3 tests/tools/crashing_echo.py {port}" --cases echo,binary,half-close \
		--json "$T/crash.json"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"the server died during this case: killed by SIGABRT (signal 6)"* ]]
	[[ $output == *"- binary "*"not run:      the server crashed during echo"* ]]
	[[ $output == *"- half-close "*"not run:      the server crashed during echo"* ]]
	[[ $output == *"the server crashed during echo: killed by SIGABRT (signal 6)"* ]]
	[[ $output == *"stderr: crashing_echo: a NUL byte; aborting"* ]]
	grep -q '"status": -6' "$T/crash.json"
}

@test "a server already running, by ADDR: the cases that need its process are not run" {
	start_server epoll
	card --addr "127.0.0.1:$PORT" --cases echo,half-close,never-reads,sigterm --profile full
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"✓ echo "* && $output == *"✓ half-close "* ]]
	[[ $output == *"- never-reads"*"not run:      needs the server's process"* ]]
	[[ $output == *"PROFILE=full holds: 2 of 2 guarantees ✓ (2 not run)"* ]]
	proc_alive "$SERVER_PID"
}

@test "bad SERVER: not found, exits at once, never listens and prints nothing, another port: exit 2, said, nothing left" {
	local marker=echo-check-bad-$$
	card --server "no-such-server-$marker {port}"
	[ "$status" -eq 2 ] && [ "$took" -lt 60 ]
	[[ $output == *"command not found: no-such-server-$marker"* ]]

	card --server "sh -c 'echo cannot bind >&2; exit 3' $marker {port}"
	[ "$status" -eq 2 ] && [ "$took" -lt 60 ]
	[[ $output == *"the server exited with status 3 before accepting a connection"*"its stderr ends: cannot bind"* ]]

	card --start-timeout 1 --server "sh -c 'sleep 600' $marker {port}"
	echo "$output"
	[ "$status" -eq 2 ] && [ "$took" -lt 60 ]
	[[ $output == *"accepts no connection on 127.0.0.1 port "*" after 1 s: it listens on no TCP port; it printed nothing"* ]]
	! listening "$(card_port)"
	nothing_left "$marker"

	# port 0 in place of {port}: it listens, but where the checker cannot know
	# (3 s: Python and asyncio must have started and bound within it)
	card --start-timeout 3 --server "python3 docs/examples/echo_asyncio.py 0 {port} $marker"
	echo "$output"
	[ "$status" -eq 2 ] && [ "$took" -lt 60 ]
	[[ $output == *"it listens on port "*" instead (does the command put {port} where the server takes its port?)"* ]]
	nothing_left "$marker"

	card --server "bin/echo-epoll --port 8080"
	[ "$status" -eq 2 ] && [ "$took" -lt 60 ]
	[[ $output == *"has no {port}"* ]]
}

@test "a server that ignores SIGTERM: its card, then SIGKILL after the grace period, said, nothing left, port free" {
	local marker=echo-check-noterm-$$
	card --grace 1 --profile full --cases echo,sigterm \
		--server "sh -c 'trap \"\" TERM; exec python3 docs/examples/echo_asyncio.py \"\$1\"' $marker {port}"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ $output == *"✓ echo "* && $output == *"✗ sigterm"* ]]
	[[ $output == *"still running 1 s after SIGTERM: killed with SIGKILL"* ]]
	[ "$took" -lt 60 ]
	! listening "$(card_port)"
	nothing_left "$marker"
}

@test "bad ADDR (refused, does not resolve, not HOST:PORT) and bad flags: exit 2 with the reason" {
	card --addr 127.0.0.1:1
	[ "$status" -eq 2 ]
	[[ $output == *"cannot connect to 127.0.0.1:1: 127.0.0.1: Connection refused"* ]]
	card --addr nosuch.invalid:80 --json "$T/addr.json"
	[ "$status" -eq 2 ]
	[[ $output == *"cannot resolve nosuch.invalid"* ]]
	[ "$(json_of "$T/addr.json" verdict)" = "could not run" ]
	card --addr localhost
	[ "$status" -eq 2 ]
	[[ $output == *"is not HOST:PORT"* ]]
	card
	[ "$status" -eq 2 ]
	[[ $output == *"one of the arguments --server --addr is required"* ]]
	card --addr 127.0.0.1:1 --profile most
	[ "$status" -eq 2 ]
	[[ $output == *"argument --profile: invalid choice: 'most'"* ]]
	card --addr 127.0.0.1:1 --cases echo,nosuch
	[ "$status" -eq 2 ]
	[[ $output == *"--cases: no case nosuch"* ]]
	card --addr 127.0.0.1:1 --serves parallel
	[ "$status" -eq 2 ]
	[[ $output == *"--serves: 'parallel' is none of serial, concurrent, pool:N"* ]]
	card --addr 127.0.0.1:1 --serves pool
	[ "$status" -eq 2 ]
	[[ $output == *"--serves: 'pool': a pool needs its size, pool:N"* ]]
	card --addr 127.0.0.1:1 --max-clients 12x
	[ "$status" -eq 2 ]
	[[ $output == *"--max-clients: '12x' is not a number of clients from 1 to 1000000"* ]]
}

@test "check/grade.sh: a card and a JSON per submission, and the summary table" {
	mkdir -p "$T/subs/good" "$T/subs/naive" "$T/subs/broken" "$T/subs/notes"
	cp docs/examples/echo_asyncio.py "$T/subs/good/server.py"
	echo 'python3 server.py {port}' >"$T/subs/good/RUN"
	echo "python3 $ECHOLAB_ROOT/docs/examples/naive_echo.py {port}" >"$T/subs/naive/RUN"
	echo 'python3 missing.py {port}' >"$T/subs/broken/RUN"
	run check/grade.sh "$T/subs" "$T/grades" --cases echo,no-early-echo
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"notes: no RUN file"* ]]
	[[ $output == *"| good | holds | 0 |  |"* ]]
	[[ $output == *"| naive | does not hold | 1 | no-early-echo |"* ]]
	[[ $output == *"| broken | could not run | 2 | the server exited with status 2 before accepting"*"missing.py"* ]]
	[ -f "$T/grades/good.json" ] && [ -f "$T/grades/naive.txt" ] && [ -f "$T/grades/summary.md" ]
	[ "$(json_of "$T/grades/naive.json" verdict)" = "does not hold" ]
}

@test "make check passes SERVER, PROFILE, JSON and CASES on; without SERVER or ADDR it says what it wants" {
	run make --no-print-directory check SERVER='bin/echo-poll --port {port}' PROFILE=full \
		CASES=echo,max-line JSON="$T/make.json"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"'bin/echo-poll --port {port}' on 127.0.0.1 port"*"PROFILE=full"* ]]
	[[ $output == *"✓ max-line "* ]]
	[ "$(json_of "$T/make.json" verdict)" = holds ]
	run make --no-print-directory check
	[ "$status" -ne 0 ]
	[[ $output == *"make check: say SERVER='COMMAND ... {port}' or ADDR=HOST:PORT"* ]]
}

@test "make install: servers, echo-client and echo-check, each with a man page naming every option of its --help" {
	run make --no-print-directory install DESTDIR="$T/root" PREFIX=/usr
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	local prog page help opt missing=()
	for prog in "$T"/root/usr/bin/*; do
		prog=${prog##*/}
		page=$T/root/usr/share/man/man1/$prog.1
		[ -f "$page" ] || missing+=("$prog: no man page")
		help=$("$T/root/usr/bin/$prog" --help) || missing+=("$prog: --help failed")
		# roff writes - as \-; the page's text without its font changes
		text=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$page")
		for opt in $(grep -oE -- '--[a-z][a-z-]*' <<<"$help" | sort -u); do
			[[ $text == *"$opt"* ]] || missing+=("$prog: $opt")
		done
	done
	[ ${#missing[@]} -eq 0 ] || { printf '%s\n' "${missing[@]}"; false; }
	[ -x "$T/root/usr/bin/echo-check" ] && [ -x "$T/root/usr/bin/echo-epoll" ]
	[ -f "$T/root/usr/lib/echolab/probelib/harness.py" ]
	# the installed checker finds its modules without the source tree
	run "$T/root/usr/bin/echo-check" --addr 127.0.0.1:1
	[ "$status" -eq 2 ]
	[[ $output == *"Connection refused"* ]]
}
