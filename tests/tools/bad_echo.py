#!/usr/bin/env python3
"""bad_echo.py MODE [IGNORED...] [--host H] [--port P]: an echo server that
breaks the echo on purpose, for the tests of echo-client's verifier.

MODE says how, for every connection:
  flip   every byte of every echoed line has its lowest bit flipped
  drop   the first byte of the 10th line is left out
  swap   lines 10 and 11 go back in the other order

Like the models it prints "listening on HOST:PORT" once it listens, so the
suite's start_server can run it (as ECHOLAB_SERVER_WRAPPER, which puts the
model's binary and its options after MODE: the binary is ignored, --host and
--port are taken). Stdlib only; it runs until killed.
"""
import socket
import sys
import threading


def serve(conn, mode):
    count = 0
    held = b""
    pending = None  # swap: line 10, until line 11 has gone out
    with conn:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            held += data
            *lines, held = held.split(b"\n")
            out = []
            for line in lines:
                line += b"\n"
                count += 1
                if mode == "flip":
                    line = bytes(b ^ 1 for b in line)
                elif mode == "drop" and count == 10:
                    line = line[1:]
                elif mode == "swap" and count == 10:
                    pending = line
                    continue
                out.append(line)
                if pending is not None and count == 11:
                    out.append(pending)
                    pending = None
            try:
                conn.sendall(b"".join(out))
            except OSError:
                return


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("flip", "drop", "swap"):
        sys.exit("usage: bad_echo.py flip|drop|swap [--host H] [--port P]")
    args = sys.argv[2:]
    host = args[args.index("--host") + 1] if "--host" in args else "127.0.0.1"
    port = int(args[args.index("--port") + 1]) if "--port" in args else 0
    listener = socket.create_server((host, port))
    print("listening on %s:%d" % listener.getsockname()[:2], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    main()
