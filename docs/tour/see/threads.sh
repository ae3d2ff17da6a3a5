# make see MODEL=threads: a thread per connection, its count and its memory.
SEE_TITLE="a thread per connection: count them and weigh them"
see_demo() {
	local n
	n=$(pick 2000 50)
	see_server t threads --max-clients 5000
	see_status "$PID_t" Threads VmRSS VmSize
	say "$n idle clients (--hold $n) beside 2 busy ones at 20 messages/s:"
	see_bg load bin/echo-client --host 127.0.0.1 --port "$PORT_t" --load --hold "$n" \
		--connections 2 --rate 20 --warmup 0 --duration "$(pick 3 2)"
	see_wait_for 60 see_bg_said load 'echoed and now idle' || return 1
	see_status "$PID_t" Threads VmRSS VmSize
	look "Threads: one per connection plus main. VmRSS (memory in use) grows by
         tens of KiB per thread: its stack pages, its buffer. VmSize (address space
         reserved) by more: a 64 KiB stack + guard page each, and glibc's malloc
         arenas, 64 MiB of address space each but at most 8 per CPU ($(nproc) CPUs
         here: up to $((8 * $(nproc)))), shared by the threads beyond that."
	see_wait load
	see_stop t
	say "The same clients against epoll: one thread holds them all."
	see_server e epoll --max-clients 5000
	see_bg load2 bin/echo-client --host 127.0.0.1 --port "$PORT_e" --load --hold "$n" \
		--connections 2 --rate 20 --warmup 0 --duration "$(pick 3 2)"
	see_wait_for 60 see_bg_said load2 'echoed and now idle' || return 1
	see_status "$PID_e" Threads VmRSS VmSize
	see_wait load2 >/dev/null
	see_stop e
}
