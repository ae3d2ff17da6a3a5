#!/usr/bin/env python3
"""backlog_client.py PORT BYTES [drain]: backs a server's echo up, for the
tests of what a server does under backpressure and after it.

It connects with a small receive buffer and a small segment size (the
server's send buffer is sized by the segments in flight, so it stays small
too: loopback would otherwise take megabytes before the server had to wait)
and sends BYTES of 64-byte lines without reading, until everything is sent
or the server takes nothing more for 0.3 s: then it prints "stalled" (the
echo is backed up in the server). With "drain" it goes on: it reads the echo
while sending the rest, until all of it is back, sends "partial" (an
unfinished line) and prints "drained". Then it holds the connection, quiet,
until killed (or 60 s).
"""
import select
import socket
import sys
import time


def main():
    port, size = int(sys.argv[1]), int(sys.argv[2])
    drain = sys.argv[3:] == ["drain"]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.connect(("127.0.0.1", port))
    data = (b"q" * 63 + b"\n") * (size // 64)
    s.setblocking(False)
    sent = got = 0
    stalled, last, deadline = False, time.monotonic(), time.monotonic() + 60
    while sent < len(data) or (drain and got < len(data)):
        if time.monotonic() > deadline:
            sys.exit("still at %d sent, %d read after 60 s" % (sent, got))
        if not stalled and (sent == len(data) or time.monotonic() - last > 0.3):
            stalled = True
            print("stalled", flush=True)
            if not drain:
                break
        want_write = [s] if sent < len(data) else []
        r, w, _ = select.select([s] if stalled else [], want_write, [], 0.05)
        if w:
            try:
                sent += s.send(data[sent:sent + 65536])
                last = time.monotonic()
            except BlockingIOError:
                pass
        if r:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit("closed by the server after %d of %d bytes" % (got, len(data)))
            got += len(chunk)
    if drain:
        s.setblocking(True)
        s.sendall(b"partial")
        print("drained", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    main()
