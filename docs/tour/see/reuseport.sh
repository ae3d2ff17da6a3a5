# make see MODEL=reuseport: the kernel spreads connections by hash, blind to load.
SEE_TITLE="SO_REUSEPORT's hash is blind to load: some workers get two clients, some none"
see_demo() {
	see_server r reuseport --workers 8 --verbose
	say "8 workers (one epoll loop each, each with its own listening socket on the
same port); 8 clients that stay connected, at 400 messages/s in total:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_r" --load --connections 8 \
		--rate 400 --warmup 0 --duration "$(pick 2 0.5)"
	see_stop r '^worker '
	look "the connections per worker, and spread=MIN/MAX in the summary. The kernel
         picks a listener by a hash of each connection's addresses and ports, not
         by how busy the worker is: an even 8-into-8 deal happens 0.24 % of the
         time. Nothing moves a connection later, so a long, busy client keeps its
         worker's core while another core idles. Many short connections even out."
}
