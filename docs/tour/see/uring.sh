# make see MODEL=uring: system calls per message, counted, against epoll's.
SEE_TITLE="io_uring batches system calls: counted at 1 and 100 connections, against epoll"

see_demo() {
	need_strace || return 1
	say "Each server at 1 connection (1000 messages/s) and at 100 (5000 messages/s in
total), open loop, light load, a fresh server each time with strace -c -f
attached to it: its system calls are counted, and its summary says how many
messages they served. Counted: the calls of the loop (wait, receive, send,
io_uring_enter), not the accept and close of each connection. strace slows
every call it sees, so the speed means nothing here; the count per message
does. About $(pick 12 6) s:"
	echo
	local m
	for m in uring epoll; do
		count_calls "$m" 1 1000 || return 1
		count_calls "$m" 100 5000 || return 1
	done
	look "system calls per message. epoll pays about 3 for every message (a wait,
         a recvfrom, a sendmsg), a little less with 100 connections, when one
         wait reports several sockets. uring pays one io_uring_enter per batch:
         with 1 connection every message is its own batch (about 2 enters a
         message: one submits the send, one waits), with 100 one enter carries
         many messages and the count falls far below 1. Fewer system calls is not
         yet less CPU: with one client the kernel's io_uring work per message
         costs more than recvfrom + sendmsg (make bench's 1c cell); it wins where
         there is something to batch."
}
