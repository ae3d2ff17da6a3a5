# make see MODEL=epoll: one thread, so one core at most; reuseport's workers beside it.
SEE_TITLE="one thread serves everyone: one core is the ceiling"

# The client gets the last CPU to itself (taskset), as in make bench: the
# server's core is then not the client's too.
CLIENT_CPU=$(($(nproc) - 1))

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

# clock VAR: sets VAR to "NS BUSY": the time, and the ticks every CPU spent
# busy so far (/proc/stat, anyone's work)
clock() {
	printf -v "$1" '%s %s' "$(date +%s%N)" "$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)"
}

# children_cpu FILE: the CPU seconds of this shell's finished children (the
# client, once it has run), from bash's times saved in FILE; times itself
# must run in this shell, not in a $( ) subshell, which has children of its own
children_cpu() {
	awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } print s }' "$1"
}

# saturate NAME PID PORT: a closed-loop load as fast as the server answers;
# then, from /proc, over the client's run: the server's CPU, what each of its
# threads did with the time (ran, waited for a CPU, slept for lack of work),
# the client's CPU and everyone else's
saturate() {
	local name=$1 pid=$2 port=$3 t0 t1 before after
	# the clock outside the threads' readings, so that their times fall
	# within it
	clock t0
	before=$(tasks "$pid")
	times >"$tmp/times0"
	see_run taskset -c "$CLIENT_CPU" bin/echo-client --host 127.0.0.1 --port "$port" --load \
		--connections 100 --depth 64 --warmup 0 --duration "$(pick 3 1)"
	times >"$tmp/times1"
	after=$(tasks "$pid")
	clock t1
	awk -v name="$name" -v cpu_n="$CLIENT_CPU" -v t0="$t0" -v t1="$t1" -v c0="$(children_cpu "$tmp/times0")" -v c1="$(children_cpu "$tmp/times1")" -v hz="$(getconf CLK_TCK)" '
		NR == FNR { run[$1] = $2; wait[$1] = $3; sleeps[$1] = $4; next }
		$1 in run { tid[++n] = $1; r[n] = ($2 - run[$1]) / 1e9; w[n] = ($3 - wait[$1]) / 1e9; s[n] = $4 - sleeps[$1] }
		function pct(x) { return sprintf("%.0f%%", 100 * x) }
		END {
			split(t0, a); split(t1, b)
			secs = (b[1] - a[1]) / 1e9
			for (i = 1; i <= n; i++) { got += r[i]; wanted += r[i] + w[i] }
			client = c1 - c0
			others = (b[2] - a[2]) / hz - got - client
			printf "\n%s, over the %.1f s of the run, from /proc:\n", name, secs
			printf "  the server wanted %s of one core and got %s (its threads: schedstat)\n", pct(wanted / secs), pct(got / secs)
			for (i = 1; i <= n; i++) {
				if (r[i] + w[i] < 0.05 * secs)
					continue # a thread that only waits for the stop
				asleep = 1 - (r[i] + w[i]) / secs
				printf "    thread %s: on a CPU %s + ready, waiting for one %s = %s; asleep %s:\n", tid[i], pct(r[i] / secs), pct(w[i] / secs), pct((r[i] + w[i]) / secs), pct(asleep < 0 ? 0 : asleep)
				printf "      it fell asleep in epoll_wait (nothing ready) %d times\n", s[i]
			}
			printf "  the client got %s of one core (on CPU %s), other processes %s (/proc/stat)\n", pct(client / secs), cpu_n, pct(others < 0 ? 0 : others / secs)
		}' <(echo "$before") <(echo "$after")
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
CPU $CLIENT_CPU (taskset), so it does not take the server's core. From /proc,
before and after, what each server thread did with the time: ran on a CPU,
was ready but waiting for one (someone else had it), or slept in epoll_wait
because nothing was ready. 'Wanted' is the first two, 'got' the first.
About $(pick 4 2) s:"
	saturate epoll "$PID_e" "$PORT_e"
	see_stop e
	say "The same load against reuseport: the same epoll loop in 2 worker threads,
each with its own listening socket on the port, free to run on any CPU:"
	see_server r reuseport --max-clients 20000 --workers 2
	saturate "reuseport --workers 2" "$PID_r" "$PORT_r"
	see_stop r
	look "Threads: 1. $n + 100 connections, one thread: the wait is cheap (O(ready)),
         but every echo runs on the same core. Then epoll under the full load:
         its thread wanted a CPU about 100% of the time (on one, or ready and
         waiting for one) and was asleep close to 0%: it almost never waited
         for work. It is saturated, and what it wants is one core: never
         more, however many the machine has. Whether
         it gets all of it ('got') is up to the others: the client and other
         processes had the CPUs while it waited (their line). With no one else
         on the machine it gets its core whole, and its msg/s is what one core
         does. reuseport's two threads want up to two cores: one loop per core
         is how a server gets past one. Here the machine has $(nproc) CPU(s) and
         the client needs one: what the second worker gets, it takes from the
         client and the others, so the msg/s does not rise with it. One loop
         per core pays where there are cores to spare, for the server and for
         a client that can keep them busy."
}
