"""harness: the probes' connections and bounded socket waits.

Every read and write here waits at most a timeout (per lack of progress) and
fails with ProbeError saying what was missing and what came; only 127.0.0.1
and ::1 are ever talked to.

Built on _socket, the C half of the socket module, which has every call the
probes make: importing socket itself (enum, selectors) would cost about a
third of a probe start, and the suite starts the probes a thousand times.
"""
import select
import time
from _socket import (AF_INET, AF_INET6, IPPROTO_TCP, SO_LINGER, SOCK_STREAM, SOL_SOCKET,
                     TCP_NODELAY, socket)

ALLOWED_HOSTS = ("127.0.0.1", "::1")


class ProbeError(Exception):
    pass


def show(data, limit=80):
    """A short, unambiguous rendering of some bytes for an error message."""
    data = bytes(data)
    if len(data) <= limit:
        return "%r (%d bytes)" % (data, len(data))
    return "%r...%r (%d bytes)" % (data[: limit // 2], data[-limit // 2:], len(data))


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check_host(host):
    if host not in ALLOWED_HOSTS:
        raise ProbeError("refusing to talk to %s: only %s" % (host, " or ".join(ALLOWED_HOSTS)))
    return host


def tcp_socket(host):
    return socket(AF_INET6 if ":" in check_host(host) else AF_INET, SOCK_STREAM)


def connect(s, host, port, timeout):
    """Connects socket s (blocking, `timeout`); closes it and fails if refused."""
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except OSError as e:
        s.close()
        raise ProbeError("cannot connect to %s port %d: %s" % (host, port, e.strerror or e))
    return s


def open_connection(host, port, timeout):
    s = tcp_socket(host)
    s.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
    return connect(s, host, port, timeout)


def reset_close(sock):
    """Close with SO_LINGER 0: the peer gets RST, not FIN."""
    sock.setsockopt(SOL_SOCKET, SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def wait_readable(sock, seconds):
    r, _, _ = select.select([sock], [], [], max(0.0, seconds))
    return bool(r)


def wait_writable(sock, seconds):
    _, w, _ = select.select([], [sock], [], max(0.0, seconds))
    return bool(w)


def recv_some(sock, deadline, what):
    """One recv that waits until the deadline; b"" means EOF."""
    left = deadline - time.monotonic()
    if left <= 0 or not wait_readable(sock, left):
        raise ProbeError("timed out waiting for %s" % what)
    try:
        return sock.recv(1 << 20)
    except ConnectionResetError:
        raise ProbeError("connection reset by the server while waiting for %s" % what)
    except OSError as e:
        raise ProbeError("recv failed while waiting for %s: %s" % (what, e))


def recv_exact(sock, n, timeout):
    got = bytearray()
    deadline = time.monotonic() + timeout
    while len(got) < n:
        try:
            chunk = recv_some(sock, deadline, "%d more bytes" % (n - len(got)))
        except ProbeError as e:
            raise ProbeError("%s; got so far %s" % (e, show(got)))
        if not chunk:
            raise ProbeError("EOF after %s, wanted %d bytes" % (show(got), n))
        got += chunk
        deadline = time.monotonic() + timeout  # the timeout is per lack of progress
    return bytes(got)


def recv_until_eof(sock, timeout, limit=None, expected=None):
    """Everything until EOF. EXPECTED (a byte count), if given, is what a
    failure says was due, against the count that came."""
    got = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        try:
            chunk = recv_some(sock, deadline, "EOF")
        except ProbeError as e:
            if expected is not None:
                raise ProbeError("%s: expected %d bytes back, then EOF; received %d (%d missing), "
                                 "the last ones %s" % (e, expected, len(got), expected - len(got),
                                                       show(got[-24:])))
            raise ProbeError("%s; got so far %s" % (e, show(got)))
        if not chunk:
            return bytes(got)
        got += chunk
        if limit is not None and len(got) > limit:
            raise ProbeError("more than %d bytes before EOF: %s" % (limit, show(got)))
        deadline = time.monotonic() + timeout


def send_all(sock, data, timeout):
    view = memoryview(data)
    while view:
        if not wait_writable(sock, timeout):
            raise ProbeError("timed out sending (%d bytes left)" % len(view))
        try:
            n = sock.send(view[: 1 << 16])
        except OSError as e:
            raise ProbeError("send failed with %d bytes left: %s" % (len(view), e.strerror or e))
        view = view[n:]
