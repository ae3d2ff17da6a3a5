#!/usr/bin/env bash
# bench/demo.sh MODEL: what `make demo [MODEL=m]` runs.
#
# Starts bin/echo-MODEL on a free port of 127.0.0.1, connects bin/echo-client
# to it on this terminal (type lines, see them echoed; Ctrl-D ends), then stops
# the server with SIGTERM and prints its summary line. Exit status: the
# client's (0 when it ends by Ctrl-D or Ctrl-C); 2 for an unknown model or bad
# usage; 1 if the server cannot start.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

# shellcheck source=../models/models.sh
. models/models.sh
model=$(model_argument demo "$0 MODEL (make demo MODEL=<model>)" "$@") || exit 2
for exe in "bin/echo-$model" bin/echo-client; do
	if [ ! -x "$exe" ]; then
		echo "demo: $exe is not built (run make)" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/echolab-demo.XXXXXX") || exit 1
server=
stop_server() {
	[ -n "$server" ] || return 0
	kill -TERM "$server" 2>/dev/null
	for _ in $(seq 50); do # up to 5 s, then no more waiting
		kill -0 "$server" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	server=
}
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' TERM HUP
# Ctrl-C reaches the client (it is in our process group); the shell only
# notes it and goes on to stop the server and print its summary.
trap ':' INT

# setsid: the server gets its own session, so the terminal's Ctrl-C and
# Ctrl-\ go to the client only and the server stops by our SIGTERM alone.
setsid "bin/echo-$model" --host 127.0.0.1 --port 0 </dev/null >"$tmp/out" 2>"$tmp/err" &
server=$!

port=
for _ in $(seq 100); do # up to 5 s
	port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$tmp/out" | head -n 1)
	[ -n "$port" ] && break
	if ! kill -0 "$server" 2>/dev/null; then
		break
	fi
	sleep 0.05
done
if [ -z "$port" ]; then
	echo "demo: echo-$model did not start:" >&2
	cat "$tmp/err" >&2
	exit 1
fi

echo "demo: echo-$model is listening on 127.0.0.1:$port (pid $server)." >&2
echo "demo: type lines and see them echoed; Ctrl-D (or Ctrl-C) ends the demo." >&2
# A datagram model (models/models.list) talks UDP, and so must the client.
udp=()
[ "$(model_serves "$model")" != datagram ] || udp=(--udp)
bin/echo-client --host 127.0.0.1 --port "$port" "${udp[@]}"
status=$?
if [ "$status" -eq 130 ]; then
	# Ctrl-C is how a demo is meant to end, like Ctrl-D: not a failure (make
	# would otherwise report "Error 130" under the summary).
	echo >&2 # start on a fresh line after ^C
	status=0
elif [ "$status" -ge 128 ]; then
	echo >&2
fi

stop_server
summary=$(grep '^summary:' "$tmp/err" | tail -n 1)
if [ -n "$summary" ]; then
	echo "demo: echo-$model stopped; its summary:" >&2
	echo "$summary"
else
	echo "demo: echo-$model printed no summary; its messages:" >&2
	cat "$tmp/err" >&2
fi
exit "$status"
