# make see MODEL=uring: system calls per message, counted, against epoll's.
SEE_TITLE="io_uring batches system calls: counted at 1 and 100 connections, against epoll"

# count_calls MODEL CONNS RATE: a fresh server, the load under strace -c -f
# attached to it, then the server stopped: its summary counts the messages
# that system calls were counted for. Prints the calls per message of the
# loop (connection set-up, accept and close, left out) and the top three.
count_calls() {
	local m=$1 conns=$2 rate=$3 name=$1_$2 out=$tmp/strace-$1-$2 msgs pid port
	see_server "$name" "$m" >/dev/null
	pid=PID_$name port=PORT_$name
	strace -c -f -q -p "${!pid}" -o "$out" 2>/dev/null &
	BG_PID[strace]=$!
	see_wait_for 10 grep -q 'TracerPid:[[:space:]]*[1-9]' "/proc/${!pid}/status" || return 1
	printf '$ strace -c -f -p %s &   # bin/echo-%s, port %s\n$ bin/echo-client --host 127.0.0.1 --port %s --load --connections %s --rate %s --warmup 0 --duration %s\n' \
		"${!pid}" "$m" "${!port}" "${!port}" "$conns" "$rate" "$(pick 2 0.5)"
	bin/echo-client --host 127.0.0.1 --port "${!port}" --load --connections "$conns" \
		--rate "$rate" --warmup 0 --duration "$(pick 2 0.5)" >/dev/null
	kill -INT "${BG_PID[strace]}"
	wait "${BG_PID[strace]}" 2>/dev/null
	unset "BG_PID[strace]"
	msgs=$(see_stop "$name" | sed -n 's/^summary:.* messages=\([0-9]*\).*/\1/p')
	awk -v n="$m" -v c="$conns" -v m="${msgs:-0}" '
		BEGIN { split("epoll_wait epoll_pwait epoll_pwait2 poll ppoll pselect6 select recvfrom recvmsg read readv sendmsg sendto write writev io_uring_enter", l, " ")
			for (i in l) loop[l[i]] = 1 }
		$1 ~ /^[0-9.]+$/ && ($NF in loop) { calls[$NF] = $4; total += $4 }
		END {
			if (m == 0) { printf "%s, %d connection(s): no message counted\n", n, c; exit }
			top = ""
			for (k = 0; k < 3; k++) {
				best = ""
				for (s in calls) if (best == "" || calls[s] > calls[best]) best = s
				if (best == "") break
				top = top sprintf("%s%s %.2f", top == "" ? "" : ", ", best, calls[best] / m)
				delete calls[best]
			}
			printf "%-6s %3d connection(s): %6d messages, %6d calls of the loop: %5.2f per message (%s)\n",
				n, c, m, total, total / m, top
		}' "$out"
}

see_demo() {
	if ! command -v strace >/dev/null; then
		echo "see: this demonstration counts system calls with strace, which is not installed" >&2
		echo "     (tests/deps.sh tour installs it)" >&2
		return 1
	fi
	say "Each server at 1 connection (1000 messages/s) and at 100 (5000 messages/s in
total), open loop, light load, a fresh server each time with strace -c -f
attached to it: its system calls are counted, and its summary says how many
messages they served. Counted: the calls of the loop (wait, receive, send,
io_uring_enter), not the accept and close of each connection. strace slows
every call it sees, so the speed means nothing here; the count per message
does. About $(pick 12 6) s:"
	echo
	local m
	for m in uring epoll; do
		count_calls "$m" 1 1000 || return 1
		count_calls "$m" 100 5000 || return 1
	done
	look "system calls per message. epoll pays about 3 for every message (a wait,
         a recvfrom, a sendmsg), a little less with 100 connections, when one
         wait reports several sockets. uring pays one io_uring_enter per batch:
         with 1 connection every message is its own batch (about 2 enters a
         message: one submits the send, one waits), with 100 one enter carries
         many messages and the count falls far below 1. Fewer system calls is not
         yet less CPU: with one client the kernel's io_uring work per message
         costs more than recvfrom + sendmsg (make bench's 1c cell); it wins where
         there is something to batch."
}
