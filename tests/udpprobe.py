#!/usr/bin/env python3
"""udpprobe: the datagram driver behind tests/udp.bats (stdlib only).

Every wait is bounded by --timeout seconds (default $ECHOPROBE_TIMEOUT or 5),
so a broken server fails a test, never hangs it. It only talks to the loopback
addresses. Exit status 0 when the server behaved, 1 (with the reason on
stderr) when it did not, 77 when this machine cannot run the check (say, no
permission for a raw socket).

Subcommands (PORT: the server's UDP port on 127.0.0.1)
  echo PORT SIZE          one datagram of SIZE pseudo-random bytes (LF, NUL, CR
                          among them) must come back identical, as one datagram
  boundaries PORT         several datagrams sent back to back, one holding LFs
                          and one empty, must come back one for one, in order,
                          each identical
  too-long PORT SIZE      a datagram of SIZE bytes must be answered exactly
                          "ERR line too long" (and the server must still echo)
  forbidden PORT SRCPORT  a datagram from source port SRCPORT (7, 19; 0 needs a
                          raw socket) must get no reply: a sentinel datagram
                          sent after it from an ordinary port is echoed, and by
                          then the forbidden port has received nothing
  silent                  bind a UDP port that never answers; print it, then
                          hold it until stdin closes
  interleaved PORT N R    N sockets each send R distinct datagrams, all sent
                          before any is read; every socket must get exactly its
                          own R datagrams back, in order
"""

import random
import select
import socket
import struct
import sys

# As the other probes: cached bytecode for probelib even when the suite sets
# PYTHONDONTWRITEBYTECODE, and probelib's small parser instead of argparse
# (whose imports cost more than a probe's work).
sys.dont_write_bytecode = False

from probelib.cli import Command, Parser, call, environ  # noqa: E402

HOST = "127.0.0.1"


def fail(msg):
    print(f"udpprobe: {msg}", file=sys.stderr)
    sys.exit(1)


def payload(size, seed):
    rnd = random.Random(seed)
    data = rnd.randbytes(size)
    if size >= 3:  # make sure the framing bytes of the TCP protocol are in it
        data = b"\n\0\r" + data[3:]
    return data


def receive(sock, timeout, what):
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        fail(f"no reply within {timeout} s to {what}")
    return sock.recv(70000)


def client(timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    return s


def cmd_echo(a):
    s = client(a.timeout)
    data = payload(a.size, a.size)
    s.sendto(data, (HOST, a.port))
    got = receive(s, a.timeout, f"a {a.size}-byte datagram")
    if got != data:
        fail(f"sent {len(data)} bytes, got back {len(got)} bytes that differ")
    print(f"echoed {len(got)} bytes")


def cmd_boundaries(a):
    s = client(a.timeout)
    sent = [b"one", b"two\nlines\n", b"", b"\n", b"x" * 1000, b"last"]
    for d in sent:
        s.sendto(d, (HOST, a.port))
    for i, d in enumerate(sent):
        got = receive(s, a.timeout, f"datagram {i} ({len(d)} bytes)")
        if got != d:
            fail(f"datagram {i}: sent {d[:40]!r} ({len(d)} bytes), got {got[:40]!r} "
                 f"({len(got)} bytes)")
    print(f"{len(sent)} datagrams, boundaries kept")


def cmd_too_long(a):
    s = client(a.timeout)
    s.sendto(b"y" * a.size, (HOST, a.port))
    got = receive(s, a.timeout, f"a {a.size}-byte datagram")
    if got != b"ERR line too long":
        fail(f"a {a.size}-byte datagram got {got[:60]!r} ({len(got)} bytes), "
             "not b'ERR line too long'")
    s.sendto(b"still there?", (HOST, a.port))
    if receive(s, a.timeout, "the next datagram") != b"still there?":
        fail("the datagram after the too-long one was not echoed")
    print("ERR line too long")


def udp_header_packet(src_port, dst_port, data):
    # UDP over IPv4 may carry checksum 0 ("none"); the kernel builds the IP header.
    return struct.pack("!HHHH", src_port, dst_port, 8 + len(data), 0) + data


def send_forbidden(a, data):
    """Sends data from source port a.srcport; returns a socket to check for
    replies, or None when nothing can receive on that port (port 0)."""
    if a.srcport == 0:
        try:
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
        except PermissionError:
            print("udpprobe: no permission for a raw socket", file=sys.stderr)
            sys.exit(77)
        raw.sendto(udp_header_packet(0, a.port, data), (HOST, 0))
        raw.close()
        return None
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A random loopback address of 127/8: tests running at once on this
    # machine (other work trees) each get their own address:port pair.
    for _ in range(20):
        addr = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        try:
            s.bind((addr, a.srcport))
            break
        except PermissionError:
            print(f"udpprobe: no permission to bind port {a.srcport}", file=sys.stderr)
            sys.exit(77)
        except OSError:
            continue
    else:
        print(f"udpprobe: cannot bind port {a.srcport} on any loopback address", file=sys.stderr)
        sys.exit(77)
    s.setblocking(False)
    s.sendto(data, (HOST, a.port))
    return s


def cmd_forbidden(a):
    trap = send_forbidden(a, b"would loop")
    # The server answers datagrams in the order they come, and loopback
    # delivers a reply before sendto returns: once the sentinel's echo is
    # here, any reply to the forbidden port would be here too.
    s = client(a.timeout)
    s.sendto(b"sentinel", (HOST, a.port))
    if receive(s, a.timeout, "the sentinel") != b"sentinel":
        fail("the sentinel was not echoed")
    if trap is not None:
        try:
            got = trap.recv(70000)
            fail(f"the server replied to source port {a.srcport}: {got[:40]!r}")
        except BlockingIOError:
            pass
    print(f"no reply to source port {a.srcport}")


def cmd_silent(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    print(s.getsockname()[1], flush=True)
    sys.stdin.read()


def cmd_interleaved(a):
    socks = [client(a.timeout) for _ in range(a.clients)]
    want = {}
    for r in range(a.rounds):
        for i, s in enumerate(socks):
            d = f"client {i} datagram {r} ".encode() + payload(32, i * 1000 + r)
            want.setdefault(i, []).append(d)
            s.sendto(d, (HOST, a.port))
    for i, s in enumerate(socks):
        for r in range(a.rounds):
            got = receive(s, a.timeout, f"client {i} datagram {r}")
            if got != want[i][r]:
                fail(f"client {i} expected its datagram {r}, got {got[:30]!r}")
    print(f"{a.clients} clients x {a.rounds} datagrams, each got its own back in order")


PORT = (("port", int),)
COMMANDS = {
    "echo": Command("__main__:cmd_echo", PORT + (("size", int),)),
    "boundaries": Command("__main__:cmd_boundaries", PORT),
    "too-long": Command("__main__:cmd_too_long", PORT + (("size", int),)),
    "forbidden": Command("__main__:cmd_forbidden", PORT + (("srcport", int),)),
    "silent": Command("__main__:cmd_silent"),
    "interleaved": Command("__main__:cmd_interleaved", PORT + (("clients", int), ("rounds", int))),
}


def main():
    common = {"--timeout": (float, float(environ("ECHOPROBE_TIMEOUT", "5")))}
    a, cmd = Parser("udpprobe.py", __doc__, common, COMMANDS).parse(sys.argv[1:])
    call(cmd, a)


if __name__ == "__main__":
    main()
