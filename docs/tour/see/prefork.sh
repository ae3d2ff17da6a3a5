# make see MODEL=prefork: a fixed pool of processes; client N+1 waits.
SEE_TITLE="a pool forked once: no fork per client, but client N+1 waits for a free worker"
see_demo() {
	local idle
	idle=$(pick 3 1)
	see_server p prefork --workers 4 --idle-timeout "$idle"
	see_sh "ps --no-headers --ppid $PID_p | wc -l"
	say "4 workers, 4 idle clients (--hold 4): every worker is now inside recv() on one.
Beside them, 2 clients send 10 messages/s in total. A worker lets its idle
client go after $idle s (--idle-timeout $idle), just after the window, so the
late echoes come back soon instead of after the client's 20 s wait. About $(pick 4 2) s:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_p" --load --hold 4 \
		--connections 2 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	look "'messages 0' in the window: the pool is the iterative server times 4. The
         fifth client is connected (the kernel's backlog) but no worker is free to
         accept it until an idle client is let go."
	say "With one worker free (3 idle clients), the same load is served:"
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_p" --load --hold 3 \
		--connections 1 --rate 10 --warmup 0 --duration "$(pick 2 0.5)"
	see_sh "ps --no-headers --ppid $PID_p | wc -l"
	look "still 4 children: created once at start, not one per connection, so a
         connection costs no fork (compare make see MODEL=fork). The price is the
         fixed size: size the pool for the most clients held at once."
	see_stop p
}
