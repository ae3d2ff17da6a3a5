# make see MODEL=iterative: one idle client stalls everyone else.
SEE_TITLE="one idle client stalls every other client"
see_demo() {
	see_server it iterative
	say "One client connects, is echoed once, then sits idle (--hold 1). Beside it,
2 clients send 10 messages a second in total (open loop, light load):"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_it" --load --hold 1 \
		--connections 2 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	look "'messages 0': neither got a single echo, because the server is inside
         recv() on the idle client. Their connects succeeded anyway: the kernel
         finished the handshakes and queued them in the listen backlog."
	see_stop it
	say "The same against a model that serves clients concurrently:"
	see_server th threads
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_th" --load --hold 1 \
		--connections 2 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	look "every message echoed, errors 0: a thread per client, so the idle one blocks only its own thread."
	see_stop th
	return 0
}
