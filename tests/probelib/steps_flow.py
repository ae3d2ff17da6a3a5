"""steps_flow: the script steps about backpressure, where one side stops
reading: flood, epipe, push_start and push_finish (a mixin of
transcript.Script: self.conn, self.host, self.port, self.timeout)."""
import select
import time
from _socket import SHUT_WR, SO_RCVBUF, SOL_SOCKET

from probelib.harness import (ProbeError, connect, first_difference, recv_some, reset_close,
                              show, tcp_socket)
from probelib.oracle import pattern


def unacked(sock):
    """Bytes in the socket's send queue not yet acknowledged by the peer."""
    import fcntl
    import struct
    import termios
    return struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def send_until_stalled(sock, nbytes, tag):
    """Sends pattern(nbytes, tag) until the peer stops taking it."""
    sent = 0
    while sent < nbytes:
        _, w, _ = select.select([], [sock], [], 0.2)
        if not w:
            break
        try:
            sent += sock.send(pattern(min(nbytes, sent + (1 << 16)), tag, sent))
        except OSError as e:
            raise ProbeError("send failed after %d bytes: %s (is the server still there?)"
                             % (sent, e.strerror or e))
    return sent


def fin_delivered(s):
    """Half-closes s and waits (briefly, while the queue still moves) for
    everything, FIN included, to be acknowledged; False if it got stuck."""
    s.shutdown(SHUT_WR)
    deadline = time.monotonic() + 0.3
    left, still = unacked(s), time.monotonic()
    while left > 0 and time.monotonic() < deadline and time.monotonic() - still < 0.06:
        time.sleep(0.005)
        now = unacked(s)
        if now != left:
            left, still = now, time.monotonic()
    return left == 0


class Push:
    """Sends a pattern without reading, from a thread, so the server's echo
    backs up."""

    def __init__(self, conn, data, timeout, then_shutdown):
        import threading  # only the push steps pay for it
        self.conn = conn
        self.data = data
        self.timeout = timeout
        self.then_shutdown = then_shutdown
        self.sent = 0
        self.error = None
        self.progress = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        sock = self.conn.sock
        view = memoryview(self.data)
        try:
            while self.sent < len(self.data):
                # Stalling is expected here (nobody reads yet), so the wait is
                # long; push_finish starts reading and unblocks it.
                _, w, _ = select.select([], [sock], [], self.timeout * 4)
                if not w:
                    raise ProbeError("push: socket unwritable for %.0f s" % (self.timeout * 4))
                n = sock.send(view[self.sent: self.sent + (1 << 16)])
                self.sent += n
                self.progress = time.monotonic()
            if self.then_shutdown:
                sock.shutdown(SHUT_WR)
        except (OSError, ProbeError) as e:
            self.error = "push: send failed after %d of %d bytes: %s" % (self.sent, len(self.data), e)

    def sender(self):
        return self.error or "%d sent" % self.sent


class FlowSteps:
    def step_flood(self, name, nbytes):
        c = self.conn(name)
        data = pattern(int(nbytes), b"flood")
        view = memoryview(data)
        sent = 0
        while sent < len(data):
            _, w, _ = select.select([], [c.sock], [], 0.2)
            if not w:
                break  # the server stopped reading: its echo fills our buffer
            try:
                sent += c.sock.send(view[sent: sent + (1 << 16)])
            except OSError as e:
                raise ProbeError("flood: send failed after %d bytes: %s" % (sent, e))
        c.last = time.monotonic()
        print("%s flooded %d bytes" % (name, sent), flush=True)

    def smallbuf_connection(self):
        """A connection with a small receive buffer (no autotuning): a server
        writing to it soon has to wait."""
        s = tcp_socket(self.host)
        s.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096)
        connect(s, self.host, self.port, self.timeout)
        s.setblocking(False)
        return s

    def step_epipe(self):
        """Makes a server's blocked send() fail with EPIPE, which raises
        SIGPIPE in a server that does not guard against it. The recipe: send
        lines without reading until the server is stuck writing their echo to
        us, with all our data and then our FIN delivered to it (its socket is
        then in CLOSE_WAIT), and reset. A reset in CLOSE_WAIT makes the
        kernel fail the blocked writer with EPIPE rather than ECONNRESET.

        How much to send depends on the kernel's buffer sizes, so a first
        connection measures it: it sends until nothing more is taken, which
        is what the server reads before it blocks plus what its receive
        buffer holds. Each attempt then sends a little less than that."""
        probe = self.smallbuf_connection()
        sent = send_until_stalled(probe, 64 << 20, b"measure")
        taken = sent - unacked(probe)
        reset_close(probe)
        print("epipe: the server took %d bytes before stalling" % taken, flush=True)
        # From just under that down: too much leaves our FIN stuck behind data
        # the server does not read; enough less gets through while the server
        # still waits to write. Stop after two that got through.
        amount = taken - (64 << 10)
        floor = taken * 0.6
        through = 0
        while through < 2 and amount > floor:
            s = self.smallbuf_connection()
            sent = send_until_stalled(s, amount, b"epipe")
            if sent < amount:
                # This connection stalled sooner than the measure said (a
                # busy machine, or buffers that autotuned differently): go
                # on down from where it really stalled.
                amount, floor = sent, min(floor, sent * 0.6)
            delivered = fin_delivered(s)
            reset_close(s)
            through += delivered
            print("epipe: sent %d bytes, %s, reset" % (sent, "FIN delivered" if delivered else "FIN stuck"),
                  flush=True)
            amount -= 128 << 10

    def step_push_start(self, name, nbytes, then=None):
        c = self.conn(name)
        if c.push is not None:
            raise ProbeError("a push is already running on %s" % name)
        if then not in (None, "shutdown"):
            raise ProbeError("push_start: unknown %r (only 'shutdown')" % then)
        c.push = Push(c, pattern(int(nbytes), b"push"), self.timeout, then == "shutdown")
        c.push.thread.start()
        # Wait until everything is sent or the sender made no progress for a
        # while (the server's echo is backed up into our receive buffer).
        deadline = time.monotonic() + self.timeout * 4
        while c.push.thread.is_alive() and time.monotonic() - c.push.progress < 0.3:
            if time.monotonic() > deadline:
                raise ProbeError("push: still sending after %.0f s" % (self.timeout * 4))
            time.sleep(0.02)
        print("%s pushed %d bytes before reading (%s)" % (
            name, c.push.sent, "stalled" if c.push.thread.is_alive() else "all sent"), flush=True)

    def step_push_finish(self, name):
        c = self.conn(name)
        push = c.push
        if push is None:
            raise ProbeError("no push running on %s" % name)
        want = push.data
        got = bytearray()
        deadline = time.monotonic() + self.timeout
        while len(got) < len(want):
            try:
                chunk = recv_some(c.sock, deadline, "the echo of the push")
            except ProbeError as e:
                raise ProbeError("%s; received %d of %d bytes (sender: %s)"
                                 % (e, len(got), len(want), push.sender()))
            if not chunk:
                raise ProbeError("EOF after %d of %d bytes (sender: %s)"
                                 % (len(got), len(want), push.sender()))
            got += chunk
            deadline = time.monotonic() + self.timeout
        push.thread.join(self.timeout)
        if push.error:
            raise ProbeError(push.error)
        if got != want:
            at = first_difference(got, want)
            raise ProbeError("echo differs from offset %d: expected %s, received %s"
                             % (at, show(want[at: at + 64]), show(got[at: at + 64])))
        c.push = None
        c.last = time.monotonic()
        print("%s got all %d pushed bytes back intact" % (name, len(want)), flush=True)
