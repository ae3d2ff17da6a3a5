# make see MODEL=poll: every wake-up pays for every connection, idle or not.
SEE_TITLE="latency with thousands of idle connections, poll against epoll"
see_demo() {
	local n m
	n=$(pick 5000 500)
	for m in poll epoll; do
		see_server "$m" "$m" --max-clients 20000
		local port=PORT_$m
		say "$m: $n idle clients (--hold $n) beside 10 busy ones at 2000 messages/s in total:"
		see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --hold "$n" \
			--connections 10 --rate 2000 --warmup 0.5 --duration "$(pick 2 0.5)"
		see_stop "$m"
	done
	look "the latency percentiles. Every poll() hands the kernel all $n + 12
         pollfds, which checks each and queues itself on every socket, then the
         loop scans them all again: O(all connections) per wake-up, for ~10 ready
         ones. epoll_wait returns only the ready ones: O(ready)."
}
