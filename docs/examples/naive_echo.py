#!/usr/bin/env python3
"""A deliberately naive echo server, for the report card to catch: a thread
per client that sends back each recv() as it arrives. TCP is a byte stream,
so a recv() may hold half a line, or several: this server echoes the first
half of a line before its LF has come, which a line-echo server must not do.
usage: naive_echo.py PORT"""
import socket
import sys
import threading


def serve(conn):
    with conn:
        while True:
            data = conn.recv(4096)  # whatever has arrived, lines or not
            if not data:
                return
            conn.sendall(data)


def main(port):
    threading.stack_size(256 << 10)  # thousands of clients, thousands of threads
    listener = socket.create_server(("localhost", port), reuse_port=False)
    listener.listen(4096)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main(int(sys.argv[1]))
