# make see MODEL=fork: a process per connection, and what each one costs.
SEE_TITLE="a process per connection: count them, weigh them, time their creation"
children_at_least() {
	[ "$(ps --no-headers --ppid "$1" | wc -l)" -ge "$2" ]
}

see_demo() {
	local n
	n=$(pick 200 20)
	see_server f fork --max-clients 5000
	say "$n idle clients (--hold $n) beside 2 busy ones at 20 messages/s:"
	see_bg load bin/echo-client --host 127.0.0.1 --port "$PORT_f" --load --hold "$n" \
		--connections 2 --rate 20 --warmup 0 --duration "$(pick 5 3)"
	see_wait_for 30 see_bg_said load 'echoed and now idle' || return 1
	see_wait_for 10 children_at_least "$PID_f" $((n + 2)) || return 1
	see_sh "ps --no-headers --ppid $PID_f | wc -l"
	look "one child process per connection ($n + 2), all children of the server's own pid
         ($PID_f). (pgrep -n echo-fork would pick the newest child, not the server.)"
	local kids pss
	kids=$(ps --no-headers -o pid --ppid "$PID_f" | tr '\n' ' ')
	# shellcheck disable=SC2086 # a list of pids
	pss=$(see_pss "$PID_f" $kids)
	printf '\nproportional set size, server + children: %s KiB, %s KiB per connection\n' \
		"$pss" "$((pss / (n + 2)))"
	look "memory grows with every client: page tables, stack, its own copy of
         every page it writes, all before the kernel's own per-process costs."
	see_wait load
	see_stop f
	look "user + sys in the summary: mostly fork() and exit() of $((n + 2)) children."
	say "The same connections against threads, for the cost of creating each:"
	see_server t threads --max-clients 5000
	see_run bin/echo-client --host 127.0.0.1 --port "$PORT_t" --load --hold "$n" \
		--connections 2 --rate 20 --warmup 0 --duration "$(pick 3 1)"
	see_stop t
	look "compare user + sys per connection: a thread shares the address space,
         a process copies its page tables at fork() and tears them down at exit()."
}
