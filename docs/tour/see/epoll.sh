# make see MODEL=epoll: one thread, so one core at most; reuseport's workers beside it.
SEE_TITLE="one thread serves everyone: one core is the ceiling"

# The client gets CPUs of its own (taskset), as in make bench, so that the
# server's core is not the client's too: the last one, or the last two with a
# thread on each where there are 3 CPUs or more. It pays about what the
# server pays per message, so one client core only just keeps one server
# core busy.
CPUS=$(nproc)
if [ "$CPUS" -ge 3 ]; then
	CLIENT_CPUS=$((CPUS - 2))-$((CPUS - 1)) CLIENT_THREADS=2
else
	CLIENT_CPUS=$((CPUS - 1)) CLIENT_THREADS=1
fi

# tasks PID: a line per thread of PID, "TID RUN WAIT SLEEPS": nanoseconds on a
# CPU and ready but waiting for one (/proc/PID/task/TID/schedstat), and how
# many times it went to sleep of its own accord (voluntary_ctxt_switches: for
# an epoll loop, an epoll_wait that found nothing ready)
tasks() {
	local t run wait
	for t in /proc/"$1"/task/*; do
		read -r run wait _ <"$t/schedstat" &&
			echo "${t##*/} $run $wait $(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status")"
	done
}

# sample SERVER CLIENT: "NS BUSY", the time and the ticks every CPU has spent
# busy so far (/proc/stat: anyone's work), then the tasks of both
sample() {
	echo "$(date +%s%N) $(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)"
	tasks "$1" | sed 's/^/server /'
	tasks "$2" | sed 's/^/client /'
}

# report NAME BEFORE AFTER: what the server's threads did with the time
# between the two samples, the client's CPU and everyone else's
report() {
	awk -v name="$1" -v cpus="$CLIENT_CPUS" -v hz="$(getconf CLK_TCK)" '
		FNR == 1 && NR == 1 { t0 = $1; busy0 = $2; next }
		FNR == 1 { t1 = $1; busy1 = $2; next }
		NR == FNR { run[$1, $2] = $3; wait[$1, $2] = $4; sleeps[$1, $2] = $5; next }
		!(($1, $2) in run) { next }
		$1 == "client" { client += ($3 - run[$1, $2]) / 1e9; next }
		{ tid[++n] = $2; r[n] = ($3 - run[$1, $2]) / 1e9; w[n] = ($4 - wait[$1, $2]) / 1e9; s[n] = $5 - sleeps[$1, $2] }
		# a thread cannot want more than all of the time: the readings of
		# the clock and of schedstat are a few ms apart, so round to it
		function cap(i) { if (r[i] + w[i] > secs) { w[i] = secs - r[i]; if (w[i] < 0) { r[i] = secs; w[i] = 0 } } }
		function pct(x) { return sprintf("%.0f%%", 100 * (x < 0 ? 0 : x)) }
		END {
			secs = (t1 - t0) / 1e9
			for (i = 1; i <= n; i++) { cap(i); got += r[i]; wanted += r[i] + w[i] }
			others = (busy1 - busy0) / hz - got - client
			printf "\n%s, over %.1f s of the measured run, from /proc:\n", name, secs
			printf "  the server wanted %s of one core and got %s (its threads: schedstat)\n", pct(wanted / secs), pct(got / secs)
			for (i = 1; i <= n; i++) {
				if (r[i] + w[i] < 0.05 * secs)
					continue # a thread that only waits for the stop
				printf "    thread %s: on a CPU %s + ready, waiting for one %s = %s; asleep %s:\n", tid[i], pct(r[i] / secs), pct(w[i] / secs), pct((r[i] + w[i]) / secs), pct(1 - (r[i] + w[i]) / secs)
				printf "      it fell asleep in epoll_wait (nothing ready) %d times\n", s[i]
			}
			printf "  the client got %s of one core (on CPU %s), other processes %s (/proc/stat)\n", pct(client / secs), cpus, pct(others / secs)
		}' <(echo "$2") <(echo "$3")
}

# connected PID N: server PID has accepted N clients: it holds more than N
# sockets, its listening one besides (/proc/PID/fd; /proc/net/tcp would be
# every socket of the machine, tens of thousands after a test run)
connected() {
	[ "$(find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l)" -gt "$2" ]
}

# saturate NAME PID PORT: a closed-loop load as fast as the server answers,
# and two samples of /proc inside its measured window: once every
# connection is open and the warm-up is over, and SPAN seconds later, well
# before the client stops (its start and end, when the server has less to
# do, are left out). A client that ends first, on a machine too busy for the
# samples to keep time, is said so, not reported.
saturate() {
	local name=$1 pid=$2 port=$3 warmup span before after
	warmup=$(pick 1 0.3) span=$(pick 3 0.5)
	see_bg load taskset -c "$CLIENT_CPUS" bin/echo-client --host 127.0.0.1 --port "$port" --load \
		--threads "$CLIENT_THREADS" --connections 100 --depth 64 --warmup "$warmup" --duration "$(pick 5 1.2)"
	see_wait_for 10 connected "$pid" 100 || return 1
	sleep "$warmup"
	before=$(sample "$pid" "${BG_PID[load]}")
	sleep "$span"
	after=$(sample "$pid" "${BG_PID[load]}")
	see_wait load
	if [ "$(echo "$after" | grep -c '^client ')" -eq 0 ]; then
		say "(the client ended before the second sample: the machine is too busy to measure now)"
		return 0
	fi
	report "$name" "$before" "$after"
}

see_demo() {
	local n
	n=$(pick 2000 200)
	see_server e epoll --max-clients 20000
	say "$n idle clients and 100 busy ones at 5000 messages/s in total (light load):"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_e" --load --hold "$n" \
		--connections 100 --rate 5000 --warmup 0.5 --duration "$(pick 2 0.5)"
	see_status "$PID_e" Threads

	say "Now as fast as it goes: 100 connections, each keeping 64 messages in flight
and sending the next as soon as an echo returns. The client runs alone on
CPU $CLIENT_CPUS (taskset), so it does not take the server's core. Two samples of
/proc, after the client's warm-up and $(pick 3 0.5) s later, say what each server
thread did with the time between: ran on a CPU, was ready but waiting for one
(someone else had it), or slept in epoll_wait because nothing was ready.
'Wanted' is the first two, 'got' the first. About $(pick 6 2) s:"
	saturate epoll "$PID_e" "$PORT_e" || return 1
	see_stop e
	say "The same load against reuseport: the same epoll loop in 2 worker threads,
each with its own listening socket on the port, free to run on any CPU:"
	see_server r reuseport --max-clients 20000 --workers 2
	saturate "reuseport --workers 2" "$PID_r" "$PORT_r" || return 1
	see_stop r
	local spare=$((CPUS - CLIENT_THREADS)) second
	if [ "$spare" -ge 2 ]; then
		second="Here $spare CPUs are not the client's: each worker can have one, and
         the msg/s can pass epoll's as far as the client keeps up."
	else
		second="Here, with $CPUS CPU(s) and the client on $CLIENT_THREADS, what the second
         worker gets it takes from the client and the others, so the msg/s
         does not rise with it."
	fi
	look "Threads: 1. $n + 100 connections, one thread: the wait is cheap (O(ready)),
         but every echo runs on the same core. Then epoll under the full load:
         'wanted' is the time its thread had work (on a CPU, or ready and
         waiting for one), 'asleep' the time epoll_wait found none. Asleep
         near 0%: the thread is saturated, and what it wants is one core, never
         more, however many the machine has; what it got of that core is what
         the client and the other processes (the last line) left it. Asleep
         well above 0%: the client did not keep up. On loopback the client pays
         about as much CPU per message as the server (each side's send carries
         the other's receive path), so a client core only just keeps a server
         core busy, and the server may wait for it part of the time.
         reuseport's two threads can want two cores: one loop per core is how
         a server gets past one.
         $second
         One loop per core pays where there are cores to spare, for the server
         and for a client that can keep them busy."
}
