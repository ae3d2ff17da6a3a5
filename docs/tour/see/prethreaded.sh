# make see MODEL=prethreaded: a fixed pool of threads; client N+1 waits.
SEE_TITLE="a pool of threads created once: no thread per client, but client N+1 waits for a free worker"
see_demo() {
	see_server p prethreaded --workers 4
	see_status "$PID_p" Threads
	say "4 workers, 4 idle clients (--hold 4): every worker is now inside recv() on one.
Beside them, 2 clients send 10 messages/s in total:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_p" --load --hold 4 \
		--connections 2 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	look "'messages 0': the pool is the iterative server times 4. The fifth client
         is accepted and queued, but no worker thread is free to serve it."
	say "With one worker free (3 idle clients), the same load is served:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_p" --load --hold 3 \
		--connections 1 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	see_status "$PID_p" Threads
	look "still 4 workers + main: created once at start, not one per connection, so a
         connection costs no pthread_create (compare make see MODEL=threads). The
         price is the fixed size: size the pool for the most clients held at once."
	see_stop p
}
