#!/usr/bin/env bash
# bench/copies.sh [--connections N] [--size B] [--depth D] [--duration S] SERVER...
#
# Counts, per echoed message, the calls a server makes to malloc/calloc/
# realloc/free and to memcpy/memmove (and the bytes memcpy moved): each
# SERVER (a path such as bin/echo-uring, or a model name) runs with
# bench/copies/count.c preloaded, bin/echo-client --load drives it, and on
# SIGTERM the server writes its totals; they are divided by the messages its
# summary line reports. Start-up and per-connection costs are in the totals
# too, spread over every message (a few hundred calls over hundreds of
# thousands of messages: the third decimal). What it shows is the server's
# own calls: glibc's internal ones do not go through the preload.
set -euo pipefail
cd "$(dirname "$0")/.."

conns=100 size=64 depth=1 duration=2
while [ $# -gt 0 ]; do
	case "$1" in
	--connections) conns=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--depth) depth=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--*) echo "copies.sh: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "usage: bench/copies.sh [--connections N] [--size B] [--depth D] [--duration S] SERVER..." >&2; exit 2; }

tmp=$(mktemp -d)
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
cc -O2 -std=c11 -Wall -Wextra -Werror -shared -fPIC -o "$tmp/count.so" bench/copies/count.c -ldl

maxline=$(( size > 4096 ? size : 4096 ))
printf '%-32s %10s %8s %8s %8s %8s %12s\n' server messages malloc free memcpy memmove "copied B"
for s in "$@"; do
	bin=$s
	[ -x "$bin" ] || bin=bin/echo-$s
	[ -x "$bin" ] || { echo "copies.sh: no server $s" >&2; exit 2; }
	COUNT_OUT=$tmp/counts LD_PRELOAD=$tmp/count.so "$bin" --port 0 --max-line "$maxline" \
		--max-clients $((conns + 10)) >"$tmp/out" 2>"$tmp/err" &
	server=$!
	port=
	for _ in $(seq 500); do
		port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
		[ -n "$port" ] && break
		kill -0 "$server" 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
		sleep 0.01
	done
	[ -n "$port" ] || { echo "copies.sh: $s did not listen" >&2; exit 1; }
	bin/echo-client --load --host 127.0.0.1 --port "$port" --connections "$conns" \
		--size "$size" --depth "$depth" --duration "$duration" --warmup 0.2 >/dev/null
	kill -TERM "$server"
	wait "$server" || true
	server=
	read -r _ malloc _ calloc _ realloc _ free _ memcpy _ bytes _ memmove <"$tmp/counts"
	msgs=$(sed -n 's/^summary: .* messages=\([0-9]*\) .*/\1/p' "$tmp/err")
	[ "${msgs:-0}" -gt 0 ] || { echo "copies.sh: $s echoed no message" >&2; exit 1; }
	awk -v s="$s" -v m="$msgs" -v a=$((malloc + calloc + realloc)) -v f="$free" \
		-v c="$memcpy" -v mv="$memmove" -v b="$bytes" 'BEGIN {
		printf "%-32s %10d %8.3f %8.3f %8.3f %8.3f %12.1f\n", s, m, a / m, f / m, c / m, mv / m, b / m }'
done
