"""scale_driver: the scale commands' engine: many non-blocking connections driven
by one epoll loop (Driver), the messages they send, and the checks run on
every byte that arrives (check_echo, classify).

Every stage runs until a condition holds and fails (Fail) once nothing has
moved for the driver's timeout; Skip says the machine cannot run the case.
Built on _socket, like harness.py: importing socket costs more than it gives.
"""
import errno
import select
import sys
import time
from _socket import (AF_INET, IPPROTO_TCP, SO_ERROR, SOCK_STREAM, SOL_SOCKET, TCP_NODELAY,
                     socket)

from probelib.oracle import BUSY

HOST = "127.0.0.1"


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def want_descriptors(n):
    """Raises the soft descriptor limit to the hard one; Skip if that is below n."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n:
        raise Skip("the descriptor hard limit is %d; this case needs %d" % (hard, n))
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def strerror(code):
    import os
    return os.strerror(code)


class Conn:
    __slots__ = ("i", "sock", "fd", "connected", "out", "sent_all", "got", "eof", "closed")

    def __init__(self, i):
        self.i = i
        self.sock = socket(AF_INET, SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        self.fd = self.sock.fileno()
        self.connected = False
        self.out = bytearray()  # still to send
        self.sent_all = bytearray()  # everything sent so far
        self.got = bytearray()  # everything received so far
        self.eof = False
        self.closed = False


class Driver:
    """One epoll loop over many connections. Each stage runs until a
    condition holds and fails once nothing moved for `timeout` seconds."""

    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.ep = select.epoll()
        self.by_fd = {}
        self.on_data = None  # callback(conn, new_bytes) to check what arrives
        self.moved = 0  # bumped whenever a byte, an EOF or a connect moves
        self.maxevents = 1024
        # When the previous poll returned: whatever the current one reports
        # became ready after that (unless maxevents cut a round short), so it
        # bounds when an event really happened, however late this process
        # got to look at it on a busy machine.
        self.ready_since = self.last_return = time.monotonic()

    def _mask(self, c):
        m = 0
        if not c.connected or c.out:
            m |= select.EPOLLOUT
        if c.connected and not c.eof:
            m |= select.EPOLLIN
        return m

    def _update(self, c):
        if not c.eof and not c.closed:
            self.ep.modify(c.fd, self._mask(c))

    def start_connect(self, i):
        c = Conn(i)
        rc = c.sock.connect_ex((HOST, self.port))
        if rc not in (0, errno.EINPROGRESS):
            raise Fail("connection %d: connect: %s" % (i, strerror(rc)))
        self.by_fd[c.fd] = c
        self.ep.register(c.fd, select.EPOLLOUT)
        return c

    def connect_many(self, n, window, first=0):
        """Opens n connections (numbered from `first`), at most `window`
        handshakes at a time."""
        conns = []
        pending = 0
        last = time.monotonic()
        while len(conns) < n or pending:
            while len(conns) < n and pending < window:
                conns.append(self.start_connect(first + len(conns)))
                pending += 1
            before = pending
            pending -= self.poll_once(0.05)
            if pending != before:
                last = time.monotonic()
            elif time.monotonic() - last > self.timeout:
                raise Fail("%d connections still not established after %.1f s without progress "
                           "(%d of %d started)" % (pending, self.timeout, len(conns), n))
        return conns

    def send(self, c, data):
        c.sent_all += data
        if not c.out:
            try:
                n = c.sock.send(data)
            except BlockingIOError:
                n = 0
            except OSError as e:
                raise Fail("connection %d: send: %s" % (c.i, e))
            data = data[n:]
        if data:
            c.out += data
            self._update(c)

    def close(self, c):
        if not c.closed:
            if not c.eof:
                self.ep.unregister(c.fd)
            del self.by_fd[c.fd]
            c.sock.close()
            c.closed = True

    def poll_once(self, wait):
        """One round of the loop; returns how many connects completed."""
        connected = 0
        events = self.ep.poll(wait, self.maxevents)
        self.ready_since, self.last_return = self.last_return, time.monotonic()
        for fd, ev in events:
            c = self.by_fd.get(fd)
            if c is None:
                continue
            if not c.connected:
                self.connected(c)
                connected += 1
                continue
            if ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                self.readable(c)
            if c.out and ev & select.EPOLLOUT and not c.eof and not c.closed:
                self.writable(c)
        return connected

    def connected(self, c):
        err = c.sock.getsockopt(SOL_SOCKET, SO_ERROR)
        if err:
            raise Fail("connection %d: connect: %s" % (c.i, strerror(err)))
        c.connected = True
        self.moved += 1
        self._update(c)

    def readable(self, c):
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            raise Fail("connection %d: recv after %d bytes %r: %s"
                       % (c.i, len(c.got), bytes(c.got[-40:]), e))
        self.moved += 1
        if data:
            c.got += data
        else:
            # nothing more can come; unregister, or EPOLLHUP would be
            # reported for ever
            c.eof = True
            self.ep.unregister(c.fd)
        if self.on_data:
            self.on_data(c, data)

    def writable(self, c):
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            n = 0
        except OSError as e:
            raise Fail("connection %d: send: %s" % (c.i, e))
        del c.out[:n]
        self.moved += n
        if not c.out:
            self._update(c)

    def run_until(self, done, what):
        """Runs the loop until done() holds; fails once nothing has moved
        for `timeout` seconds. `what()` describes what is missing. done() is
        looked at less often when it is costly, so it may be a scan over every
        connection."""
        last_move = time.monotonic()
        mark = self.moved
        checked_mark = None
        checked_at = 0.0
        gap = 0.0  # between looks at done(): ten times what one look costs
        while True:
            now = time.monotonic()
            if checked_mark != self.moved and now - checked_at >= gap:
                if done():
                    return
                checked_mark = self.moved
                checked_at = time.monotonic()
                gap = min(0.005, 10 * (checked_at - now))
            self.poll_once(0.005)
            if self.moved != mark:
                mark = self.moved
                last_move = time.monotonic()
            elif time.monotonic() - last_move > self.timeout:
                if done():
                    return
                raise Fail("nothing moved for %.1f s: %s" % (self.timeout, what()))

    def echoed_all(self, conns):
        """Runs until every connection of conns has its echo back."""
        self.run_until(lambda: all(len(c.got) == len(c.sent_all) for c in conns), missing(conns))


def message(i, j, salt=""):
    """A distinct message for connection i, number j: varied lengths, and
    bytes that tell connections and messages apart."""
    body = ("c%05d-m%d%s:" % (i, j, salt)).encode()
    fill = bytes((i * 7 + j * 13 + k) % 94 + 33 for k in range((i * 31 + j * 17) % 150))
    return body + fill + b"\n"


def check_echo(c, data):
    """on_data for connections that must only ever get their echo back."""
    if data:
        start = len(c.got) - len(data)
        if len(c.got) > len(c.sent_all) or c.got[start:] != c.sent_all[start:len(c.got)]:
            end = min(len(c.got), len(c.sent_all))
            at = next((k for k in range(start, end) if c.got[k] != c.sent_all[k]), end)
            raise Fail("connection %d: echo differs at byte %d: sent %r, got %r"
                       % (c.i, at, bytes(c.sent_all[at:at + 40]), bytes(c.got[at:at + 40])))
    elif data == b"" and len(c.got) < len(c.sent_all):
        raise Fail("connection %d: EOF after %d of %d echoed bytes (got %r)"
                   % (c.i, len(c.got), len(c.sent_all), bytes(c.got[-60:])))


def missing(conns):
    def what():
        short = [c for c in conns if len(c.got) < len(c.sent_all)]
        s = "%d of %d connections still wait for their echo" % (len(short), len(conns))
        if short:
            c = short[0]
            s += " (connection %d: %d of %d bytes back)" % (c.i, len(c.got), len(c.sent_all))
        return s
    return what


def classify(c, data):
    """on_data for connections that are either served or refused."""
    if data is None:
        return
    if c.got[:1] == BUSY[:1] and not c.sent_all.startswith(BUSY[:1]):
        if c.got != BUSY[:len(c.got)]:
            raise Fail("connection %d: got %r, neither its echo nor %r" % (c.i, bytes(c.got), BUSY))
        if data == b"" and c.got != BUSY:
            raise Fail("connection %d: EOF after only %r" % (c.i, bytes(c.got)))
        return
    check_echo(c, data)
    if data == b"":
        raise Fail("connection %d: the server closed it after echoing %r"
                   % (c.i, bytes(c.got[-60:])))


def outcome(c):
    """'served', 'refused' or None (undecided)."""
    if c.got == BUSY:
        return "refused" if c.eof else None
    if c.sent_all and len(c.got) == len(c.sent_all) and not c.eof:
        return "served"
    return None


def undecided(conns):
    """what() for run_until: the connections with neither echo nor refusal."""
    return lambda: ("%d of %d connections have neither their echo nor a refusal"
                    % (sum(outcome(c) is None for c in conns), len(conns)))


def try_until_served(d, limit, start_i, salt="-new"):
    """A new client, retried while the server answers busy; returns the
    number of refusals seen and the bytes the served one sent."""
    end = time.monotonic() + limit
    refusals = 0
    i = start_i
    while True:
        c = d.start_connect(i)
        d.run_until(lambda: c.connected, "connection %d not established" % i)
        d.send(c, message(i, 0, salt))
        d.run_until(lambda: outcome(c) is not None, "no answer on new connection %d" % i)
        if outcome(c) == "served":
            d.close(c)
            return refusals, len(c.sent_all)
        refusals += 1
        d.close(c)
        if time.monotonic() > end:
            raise Fail("a new client is still refused after %.1f s (%d tries)" % (limit, refusals))
        i += 1
        time.sleep(0.01)  # pacing between tries of a bounded poll
