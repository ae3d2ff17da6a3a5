# make see MODEL=libev: the backend decides the weakness; one thread like epoll.
SEE_TITLE="one binary, three backends: LIBEV_FLAGS=4 (epoll), 2 (poll), 1 (select)"
see_demo() {
	local n f
	n=$(pick 900 300)
	for f in 4 2 1; do
		LIBEV_FLAGS=$f SEE_ENV="LIBEV_FLAGS=$f" see_server "lb$f" libev --max-clients 20000
		local port=PORT_lb$f pid=PID_lb$f
		see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --hold "$n" \
			--connections 10 --rate 2000 --warmup 0.5 --duration "$(pick 2 0.5)"
		see_status "${!pid}" Threads
		see_stop "lb$f"
	done
	look "the same source, the same $n idle clients: latency follows the backend
         (epoll's O(ready) against poll's and select's O(all) per wake-up); libev's
         select backend keeps its own bitmaps, so it is not capped at 1024. And
         Threads: 1 on every backend: one core, like epoll.c."
}
