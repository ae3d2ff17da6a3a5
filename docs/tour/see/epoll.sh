# make see MODEL=epoll: one thread, so one core at most.
SEE_TITLE="one thread serves everyone: one core is the ceiling"

# cpu_ticks PID: user + system clock ticks the process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

see_demo() {
	local n
	n=$(pick 2000 200)
	see_server e epoll --max-clients 20000
	say "$n idle clients and 100 busy ones at 5000 messages/s in total (light load):"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_e" --load --hold "$n" \
		--connections 100 --rate 5000 --warmup 0.5 --duration "$(pick 2 0.5)"
	see_status "$PID_e" Threads

	say "Now as fast as it goes: 100 clients in closed loop, 8 messages in flight each,
from two client threads, to use up the server's one thread (its CPU measured
from /proc/$PID_e/stat over the run):"
	local before after start end report rate
	before=$(cpu_ticks "$PID_e")
	start=$(date +%s.%N)
	report=$(see_run bin/echo-client --host 127.0.0.1 --port "$PORT_e" --load \
		--connections 100 --depth 8 --threads 2 --warmup 0 --duration "$(pick 3 1)")
	end=$(date +%s.%N)
	after=$(cpu_ticks "$PID_e")
	echo "$report"
	rate=$(sed -n 's/.*messages  *[0-9]* (\([0-9]*\) msg\/s).*/\1/p' <<<"$report")
	awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" -v s="$start" -v e="$end" \
		-v r="$rate" 'BEGIN {
		busy = t / hz / (e - s)
		printf "\nthe server used %.0f%% of one core for %d messages/s, measured\n", busy * 100, r
		if (busy >= 0.9) print "its core was saturated: that rate is its ceiling on this machine"
		else print "its core was not saturated (the clients, or other processes, had the CPUs):\nits ceiling here is above that rate" }'
	see_stop e
	look "Threads: 1. $n + 100 connections, one thread: the wait is cheap (O(ready)),
         but every echo runs on the same core, so the server's ceiling is what one
         core echoes, as measured above, and any slow step in the loop delays every
         client. Going past it needs one loop per core (SO_REUSEPORT), not a
         faster wait."
}
