"""udp: the datagram commands of tests/probe.py (udp-echo, udp-boundaries,
udp-too-long, udp-forbidden, udp-silent, udp-interleaved), which hold the
datagram model (udp) to its promise; see tests/probe.py for each. A check
that fails prints the reason on stderr and exits 1; one this machine cannot
run (no permission for a raw socket) exits 77."""

import random
import select
import socket
import struct
import sys

HOST = "127.0.0.1"


def fail(msg):
    print(f"probe: {msg}", file=sys.stderr)
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
            print("probe: no permission for a raw socket", file=sys.stderr)
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
            print(f"probe: no permission to bind port {a.srcport}", file=sys.stderr)
            sys.exit(77)
        except OSError:
            continue
    else:
        print(f"probe: cannot bind port {a.srcport} on any loopback address", file=sys.stderr)
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
