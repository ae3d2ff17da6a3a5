# make see MODEL=select: FD_SETSIZE is a hard limit.
SEE_TITLE="refused past FD_SETSIZE (1024 descriptors)"
see_demo() {
	see_server s select --max-clients 5000
	say "1100 clients try to connect and stay (--hold 1100), with --max-clients 5000:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_s" --load --hold 1100 \
		--connections 1 --rate 10 --warmup 0 --duration "$(pick 1 0.3)"
	look "about 1017 echoed, the rest refused with 'ERR server busy', whatever
         --max-clients says: an fd_set holds descriptors 0..1023 only, and
         descriptors 0-2, the listener and a spare come first. The one load
         connection came after them all: refused too, hence errors 1 and exit 1."
	see_stop s
	say "poll has no such limit; the same command:"
	see_server p poll --max-clients 5000
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_p" --load --hold 1100 \
		--connections 1 --rate 10 --warmup 0 --duration "$(pick 1 0.3)"
	see_stop p
	look "refused=0: every client served."
}
