# make see MODEL=udp: no connection, so no flow control: bursts are lost.
SEE_TITLE="one socket, no connections, no flow control: a burst bigger than the receive buffer is lost"
see_demo() {
	see_server u udp
	say "10 clients (UDP sockets), one 64-byte datagram in flight each:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_u" --load --udp --connections 10 \
		--size 64 --warmup 0 --duration "$(pick 1 0.5)"
	see_sh "ss -uanp 'sport = :$PORT_u' | tail -n +2 | wc -l"
	look "one socket serves every client (ss counts 1), and nothing is lost."
	say "1000 clients, 1400 bytes each in flight: 1.4 MB arriving at once on the
server's single socket, whose receive buffer (SO_RCVBUF) is a few hundred KiB:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_u" --load --udp --connections 1000 \
		--size 1400 --warmup 0 --duration "$(pick 1 0.5)"
	see_stop u
	look "'lost': what does not fit in the buffer is dropped by the kernel, and
         nobody tells the sender. TCP would have slowed the clients down (flow
         control) and resent; with UDP only the client can notice, by a timeout,
         and decide whether to send again."
}
