# make see MODEL=uring: the lone client pays for the batching it cannot use.
SEE_TITLE="io_uring with nothing to batch: one client, against epoll"
see_demo() {
	local m
	for m in uring epoll; do
		see_server "$m" "$m"
		local port=PORT_$m
		say "$m: one client, 2000 messages/s (light load, open loop):"
		see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --connections 1 \
			--rate 2000 --warmup 0.2 --duration "$(pick 2 0.5)"
		see_stop "$m"
	done
	say "What each message cost the server:"
	see_cost uring
	see_cost epoll
	look "CPU per message and peak memory. io_uring saves system calls by
         batching many operations into one io_uring_enter; with one client
         there is nothing to batch, so each message still costs a full
         submission and completion round (plus one for the send), and the
         provided-buffer ring is a fixed memory floor. Its gain shows with
         many busy connections (make bench, 1000c)."
}
