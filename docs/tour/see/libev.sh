# make see MODEL=libev: the backend decides the weakness; one thread like epoll.
SEE_TITLE="one binary, three backends: LIBEV_FLAGS=4 (epoll), 2 (poll), 1 (select)"
see_demo() {
	local n f
	n=$(pick 1100 300)
	for f in 4 2 1; do
		LIBEV_FLAGS=$f SEE_ENV="LIBEV_FLAGS=$f" see_server "lb$f" libev --max-clients 20000
		local port=PORT_lb$f pid=PID_lb$f
		see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --hold "$n" \
			--connections 10 --rate 2000 --warmup 0.5 --duration "$(pick 2 0.5)"
		see_status "${!pid}" Threads
		see_stop "lb$f"
	done
	local cap="libev's select backend keeps bitmaps of its own size, so it is not
         capped at 1024: the full run (without SHORT) holds 1100 clients on it."
	[ "$n" -le 1024 ] || cap="$n clients, past select's 1024, all served on LIBEV_FLAGS=1:
         libev's select backend keeps bitmaps of its own size (select.c stops at 1024)."
	look "the same source, the same $n idle clients: latency follows the backend
         (epoll's O(ready) against poll's and select's O(all) per wake-up). $cap
         And Threads: 1 on every backend: one core, like epoll.c."
}
