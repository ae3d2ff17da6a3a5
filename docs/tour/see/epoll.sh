# make see MODEL=epoll: one thread, so one core at most; reuseport's workers beside it.
SEE_TITLE="one thread serves everyone: one core is the ceiling"

# busy PID: per thread, the nanoseconds on a CPU and waiting for one
# (/proc/PID/task/TID/schedstat), then the process's CPU ticks: "TID RUN WAIT"
# lines and a last "cpu TICKS" line
busy() {
	local f
	for f in /proc/"$1"/task/*/schedstat; do
		read -r run wait _ <"$f" && echo "${f//[^0-9]/ } $run $wait"
	done | awk '{ print $2, $3, $4 }'
	awk '{ sub(/^.*\) /, ""); print "cpu", $12 + $13 }' "/proc/$1/stat"
}

# saturate NAME PID PORT: a closed-loop load as fast as the server answers;
# then, from /proc, the server's CPU over it, and how much of the time each
# of its threads was busy (running, or ready to run and waiting for a CPU)
# rather than asleep waiting for work
saturate() {
	local name=$1 pid=$2 port=$3 t0 t1 before after
	before=$(busy "$pid")
	t0=$(date +%s%N)
	see_run bin/echo-client --host 127.0.0.1 --port "$port" --load --threads 2 \
		--connections 100 --depth 8 --warmup 0 --duration "$(pick 3 1)"
	t1=$(date +%s%N)
	after=$(busy "$pid")
	awk -v ns="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$name" '
		NR == FNR { before[$1] = $1 == "cpu" ? $2 : $2 + $3; next }
		$1 == "cpu" { cpu = $2 - before["cpu"]; next }
		$1 in before { busy[$1] = ($2 + $3 - before[$1]) / ns }
		END {
			printf "\n%s, over the %.1f s of the run, from /proc:\n", n, ns / 1e9
			printf "  CPU used: %.0f%% of one core (user + sys, /proc/PID/stat)\n", 100 * cpu / hz / (ns / 1e9)
			for (t in busy) if (busy[t] > 0.05)
				printf "  thread %s: busy %.0f%% of the time: on a CPU, or ready and waiting for one (schedstat)\n", t, 100 * busy[t]
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

	say "Now as fast as it goes: 100 connections, each keeping 8 messages in flight
and sending the next as soon as an echo returns (two client threads). From
/proc, before and after: the server's CPU, and how much of the time its thread
was busy (running, or ready and waiting for a CPU) rather than asleep in
epoll_wait with nothing to do. About $(pick 6 3) s:"
	saturate epoll "$PID_e" "$PORT_e"
	see_stop e
	say "The same load against reuseport, the same epoll loop in 2 worker threads,
each with its own listening socket on the port:"
	see_server r reuseport --max-clients 20000 --workers 2
	saturate "reuseport --workers 2" "$PID_r" "$PORT_r"
	see_status "$PID_r" Threads
	see_stop r
	look "Threads: 1. $n + 100 connections, one thread: the wait is cheap (O(ready)),
         but every echo runs on the same core. Then the two 'busy' and 'CPU used'
         lines: a thread busy close to 100% of the time is saturated: it never
         waits for work, so a faster client cannot get more from it. epoll has one
         such thread: its 'CPU used' can never pass 100% of one core, however many
         cores the machine has, and its msg/s is what one core does. reuseport
         runs the same loop in 2 threads, so it can use 2 cores: going past one
         core needs one loop per core (SO_REUSEPORT), not a faster wait. Here the
         client needs CPU too, and on a busy machine (see 'busy' well above 'CPU
         used': waiting for a CPU) the cores the server gets are what others leave
         it; compare the two runs, not the numbers with another machine's."
}
