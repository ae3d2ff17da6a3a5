# make see MODEL=coro: threads' code at epoll's price? Its memory, its switches, its CPU.
SEE_TITLE="a coroutine per connection: weigh it against threads, count its switches"

# rss_kb PID: the resident memory of a process, KiB
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# hold NAME MODEL N: a fresh server, N idle clients beside 2 busy ones, its
# threads and its memory per idle client, then the server stopped
hold() {
	local name=$1 m=$2 n=$3 pid port before
	see_server "$name" "$m" --max-clients 20000
	pid=PID_$name port=PORT_$name
	before=$(rss_kb "${!pid}")
	see_bg "$name" bin/echo-client --host 127.0.0.1 --port "${!port}" --load --hold "$n" \
		--connections 2 --rate 20 --warmup 0 --duration "$(pick 3 2)"
	see_wait_for 60 see_bg_said "$name" 'echoed and now idle' || return 1
	see_status "${!pid}" Threads VmRSS
	awk -v m="$m" -v n="$n" -v a="$before" -v b="$(rss_kb "${!pid}")" 'BEGIN {
		printf "%s: %d KiB before the clients, %d KiB with them: %.1f KiB per connection\n",
			m, a, b, (b - a) / n }'
	see_wait "$name" >/dev/null
	see_stop "$name" >/dev/null
}

# switches NAME: strace -c attached to that server during a ping-pong load,
# then the server stopped; the calls per message of the loop, rt_sigprocmask
# among them
switches() {
	local pidvar=PID_$1 portvar=PORT_$1 out=$tmp/strace-$1 msgs pid port
	pid=${!pidvar} port=${!portvar}
	strace -c -q -p "$pid" -o "$out" 2>/dev/null &
	BG_PID[strace]=$!
	see_wait_for 10 grep -q 'TracerPid:[[:space:]]*[1-9]' "/proc/$pid/status" || return 1
	printf '\n$ strace -c -p %s &\n' "$pid"
	see_run bin/echo-client --host 127.0.0.1 --port "$port" --load --connections 10 \
		--rate 500 --warmup 0 --duration "$(pick 3 0.5)" | grep -E '^ +messages'
	kill -INT "${BG_PID[strace]}"
	wait "${BG_PID[strace]}" 2>/dev/null
	unset "BG_PID[strace]"
	msgs=$(see_stop "$1" | sed -n 's/^summary:.* messages=\([0-9]*\).*/\1/p')
	awk -v m="${msgs:-0}" '
		$1 ~ /^[0-9.]+$/ && $NF ~ /^(rt_sigprocmask|recvfrom|sendmsg|epoll_wait|epoll_ctl)$/ {
			if (m > 0) printf "  %-15s %7d calls, %5.2f per message\n", $NF, $4, $4 / m }' "$out"
}

# cost NAME MODEL: CPU per message at 100 connections, ping-pong, as fast as it goes
cost() {
	see_server "$1" "$2"
	local port=PORT_$1
	see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --connections 100 \
		--warmup "$(pick 0.3 0.1)" --duration "$(pick 2 0.3)" | grep -E '^ +messages'
	see_stop "$1" >/dev/null
	see_cost "$1"
}

see_demo() {
	local n
	n=$(pick 2000 200)
	say "$n idle clients (--hold $n) beside 2 busy ones, first against threads, then
against coro: the same blocking-style loop per connection, in a thread each, or
in a coroutine each on one thread."
	hold t threads "$n" || return 1
	hold c coro "$n" || return 1
	look "Threads: one per connection for threads, 1 for coro. The memory per
         connection: a thread's stack pages, kernel bookkeeping and malloc arena
         share, against one 4 KiB page of coroutine stack (its frames and the
         client's struct at its top) and the socket."

	if ! command -v strace >/dev/null; then
		echo "see: the rest counts system calls with strace, which is not installed" >&2
		echo "     (tests/deps.sh tour installs it)" >&2
		return 1
	fi
	say "What a switch costs: coro under strace -c, 10 connections at 500 messages/s
in total (the calls of opening and closing the 10 are counted too, a few per
connection). strace slows every call, so only the counts mean anything:"
	see_server c coro
	switches c || return 1
	look "no rt_sigprocmask: the switch (models/coro/switch.c) saves a few
         registers in user space and leaves the signal mask alone; glibc's
         swapcontext would add one per switch, two per message. recvfrom and
         sendmsg: one each, as in epoll.c; the read waits for readiness first,
         so no read fails with EAGAIN."

	say "And in CPU: the same 100 connections at ping-pong, as fast as each goes,
coro against epoll (same loop underneath; the difference is the coroutines):"
	cost c coro
	cost e epoll
	look "the two CPU-per-message lines: their difference is what the coroutines
         cost per message: two switches, a few registers saved and loaded each
         (as Go's gogo and mcall do), and a resume through the wait set."
}
