# make see MODEL=libevent: what the library costs per message, beside libev and epoll.c.
SEE_TITLE="one load, three loops: epoll.c by hand, libev, libevent; CPU per message from each summary"
see_demo() {
	local m rate port
	rate=$(pick 20000 10000)
	say "The same open-loop load (100 connections, $rate messages/s in all) on each
server in turn, a fresh one each time; its summary's user + sys time over its
messages is what the loop costs per message. Same system calls in all three
(epoll_wait, recvfrom, sendmsg); what differs is the code around them."
	for m in epoll libev libevent; do
		see_server "$m" "$m"
		port=PORT_$m
		see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --connections 100 \
			--rate "$rate" --warmup "$(pick 0.5 0.2)" --duration "$(pick 3 0.5)"
		see_stop "$m"
		see_cost "$m"
	done
	look "the three CPU-per-message lines. libevent hands each ready event to its
         callback through its own queue of active events, with two events per
         client (read and write); libev through its pending array. The gap to
         epoll.c is the library's price; on a busy machine it is within the noise."
}
