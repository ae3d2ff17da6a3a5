#!/usr/bin/env python3
"""A line echo server that crashes (SIGABRT) when a line holds a NUL byte,
after saying so on stderr: tests/check.bats shows the checker reporting a
crash in the middle of a card. usage: crashing_echo.py PORT"""
import os
import socket
import sys
import threading


def serve(conn):
    with conn, conn.makefile("rb") as lines:
        for line in lines:
            if b"\0" in line:
                print("crashing_echo: a NUL byte; aborting", file=sys.stderr, flush=True)
                os.abort()
            conn.sendall(line)


listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
