# make see MODEL=iterative: one idle client stalls everyone else.
SEE_TITLE="one idle client stalls every other client"
see_demo() {
	local idle
	idle=$(pick 3 1)
	see_server it iterative --idle-timeout "$idle"
	say "One client connects, is echoed once, then sits idle (--hold 1). Beside it,
2 clients send 10 messages a second in total (open loop, light load). The server
closes a client quiet for $idle s (--idle-timeout $idle), just after the client's
window: only then can it serve the other two, so the client's wait for their
late echoes is short, not 20 s. About $(pick 4 2) s:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_it" --load --hold 1 \
		--connections 2 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	look "'messages 0': neither got a single echo during the window, because the
         server was inside recv() on the idle client. Their connects succeeded
         anyway: the kernel finished the handshakes and queued them in the listen
         backlog. Their echoes came only after the idle client was let go (and
         'server closed the connection': the first of them, once quiet, was let go
         too, so that the second could be served: one at a time)."
	see_stop it
	say "The same against a model that serves clients concurrently:"
	see_server th threads
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_th" --load --hold 1 \
		--connections 2 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	look "every message echoed, errors 0: a thread per client, so the idle one blocks only its own thread."
	see_stop th
	return 0
}
