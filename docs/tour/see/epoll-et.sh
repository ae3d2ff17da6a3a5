# make see MODEL=epoll-et: edge-triggered pays one more read per wake-up.
SEE_TITLE="edge-triggered: read until EAGAIN, one more read per wake-up, against epoll"
see_demo() {
	local name
	see_server et epoll-et
	see_server lt epoll
	for name in et lt; do
		local port=PORT_$name
		say "$name: 50 clients at ping-pong, 5000 messages/s in total (light load):"
		see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --connections 50 \
			--rate 5000 --warmup 0.2 --duration "$(pick 2 0.5)"
	done
	see_stop et
	see_stop lt
	say "What each message cost the server (et: echo-epoll-et, lt: echo-epoll):"
	see_cost et
	see_cost lt
	look "CPU per message. At ping-pong every wake-up carries one message; the
         level-triggered loop reads it and waits, the edge-triggered one must
         read again until EAGAIN (one more system call that finds nothing)
         before it may wait, or a message that arrived meanwhile would never
         be reported. Edge-triggering pays off where a wake-up has much to
         read (pipelined or bulk clients) and the repeated reports of a
         level-triggered wait would cost more than that last read."
}
