# make see MODEL=epoll: one thread, so one core at most.
SEE_TITLE="one thread serves everyone: one core is the ceiling"
see_demo() {
	local n
	n=$(pick 2000 200)
	see_server e epoll --max-clients 20000
	say "$n idle clients and 100 busy ones at 5000 messages/s in total (light load):"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_e" --load --hold "$n" \
		--connections 100 --rate 5000 --warmup 0.5 --duration "$(pick 2 0.5)"
	see_status "$PID_e" Threads
	local summary cpu msgs
	summary=$(see_stop e)
	echo "$summary"
	cpu=$(sed -n 's/.* user=\([0-9.]*\)s sys=\([0-9.]*\)s.*/\1 \2/p' <<<"$summary")
	msgs=$(sed -n 's/.* messages=\([0-9]*\) .*/\1/p' <<<"$summary")
	awk -v c="$cpu" -v m="$msgs" 'BEGIN { split(c, t, " "); us = (t[1] + t[2]) * 1e6 / m
		printf "\nCPU per message: %.1f us (user + sys over messages, from the summary)\n", us
		printf "so one core echoes at most ~%d messages/s, whatever the number of cores\n", 1e6 / us }'
	look "Threads: 1. $n + 100 connections, one thread: the wait is cheap (O(ready)),
         but every echo runs on the same core, so the server's ceiling is one core's
         worth of messages, and any slow step in the loop delays every client.
         Going past it needs one loop per core (SO_REUSEPORT), not a faster wait."
}
