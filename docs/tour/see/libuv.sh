# make see MODEL=libuv: a completion-style library over the same epoll, against libev.
SEE_TITLE="libuv against libev: system calls per message, then CPU per message, same load"
see_demo() {
	need_strace || return 1
	say "First each server under strace -c -f at 100 connections (5000 messages/s in
total, open loop): the system calls of its loop per message. strace slows
every call, so only the counts mean something there. About $(pick 6 3) s:"
	echo
	local m
	for m in libev libuv; do
		count_calls "$m" 100 5000 || return 1
	done
	say "Then each at full speed, no strace: 100 connections in ping-pong for
$(pick 3 0.3) s, and its CPU per message from its summary line."
	for m in libev libuv; do
		see_server "$m" "$m"
		local port=PORT_$m
		see_run bin/echo-client --host 127.0.0.1 --port "${!port}" --load --connections 100 \
			--warmup "$(pick 0.5 0.1)" --duration "$(pick 3 0.3)"
		see_stop "$m" >/dev/null
		see_cost "$m"
	done
	look "the same three system calls a message for both (a wait shared by the
         ready sockets, a read, a write: libuv's writev where libev.c sends):
         libuv makes them for us and calls back with the outcome. What it adds
         is user-space work on every message: two callbacks instead of one,
         and the echo copied into the connection's buffer (a uv_write owns its
         bytes until its callback), where libev.c sends from the read buffer.
         Compare the two CPU figures; on a busy machine the noise between runs
         can be as large as the difference (docs/models/libuv.md: measured)."
}
