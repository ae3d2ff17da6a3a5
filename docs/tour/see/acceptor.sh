# make see MODEL=acceptor: one thread deals the clients, to the least loaded loop.
SEE_TITLE="one acceptor deals each client to the least loaded loop: every worker gets its share"
see_demo() {
	see_server a acceptor --workers 8 --verbose
	say "8 workers (one epoll loop each); one main thread accepts every client and
hands it to the worker holding the fewest. 8 clients that stay connected, at
400 messages/s in total (make see MODEL=reuseport runs the same load):"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_a" --load --connections 8 \
		--rate 400 --warmup 0 --duration "$(pick 2 0.5)"
	see_stop a '^worker '
	look "the connections per worker, and spread=MIN/MAX in the summary: one client
         each, every time, where SO_REUSEPORT's hash leaves some workers two and
         some none. The price is the hand-off: the acceptor's accept, a write to
         the worker's eventfd, and the worker's wake-up and read of it, per
         connection. A client counts as one whatever it sends: messages= shows
         the work each worker really got."
}
