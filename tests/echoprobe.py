#!/usr/bin/env python3
"""echoprobe: the socket driver behind the echolab bats tests (stdlib only).

Everything here has a deadline: every socket operation waits at most --timeout
seconds (default 5, or $ECHOPROBE_TIMEOUT), and the whole run is aborted after
--deadline seconds (default 180), so a broken server fails a test, never hangs it.
It only ever talks to 127.0.0.1 or ::1.

Subcommands
  script          run steps read from stdin, one per line (see SCRIPT STEPS)
  roundtrip       send a file (in chunks if asked), half-close, write all that
                  comes back until EOF to a file; --generate KIND writes the
                  file first (as gen), --verify checks the echo against what
                  `expected` computes (one start instead of three)
  expected        compute, independently of any server, what the protocol says
                  the echo of a byte stream is
  gen             write a deterministic test input (lines, allbytes, transcript)
  port-in-use     hold a listening socket on 127.0.0.1 while running a command,
                  "{port}" in its arguments replaced by that port
  refusing-port   hold a bound but non-listening socket (connections to it are
                  refused) while running a command, "{port}" replaced
  has-ipv6        exit 0 if a socket can be bound to ::1
  pty             run a command on a pseudo-terminal and type at it

SCRIPT STEPS (NAME is any word naming a connection; DATA is a Python bytes
expression such as b"ab\\n" + b"x" * 10)
  connect NAME [HOST]        open a connection (TCP_NODELAY)
  local NAME                 print "NAME local ADDR:PORT" (the client's side)
  send NAME DATA             send all of DATA
  trickle NAME DATA          send DATA one byte per send, 2 ms apart
  expect NAME DATA           read exactly len(DATA) bytes; they must equal DATA
  expect_eof NAME [MIN MAX]  read until EOF; nothing may arrive first. With MIN
                             and MAX the EOF must come that many seconds after the
                             connection's last activity (connect, send, expect)
  quiet NAME SECS            nothing (not even EOF) may arrive for SECS
  shutdown NAME              half-close (SHUT_WR)
  close NAME                 close normally
  reset NAME                 close with SO_LINGER 0: the peer gets RST
  pause SECS                 pacing only (e.g. a client that types slowly)
  flood NAME BYTES           send up to BYTES of lines without reading, stopping
                             early once the socket stays unwritable 0.2 s
  epipe                      connections that make the server's blocked
                             send() fail with EPIPE (see step_epipe)
  push_start NAME BYTES [shutdown]
                             send BYTES of lines from a thread, without reading
                             (then half-close, if asked); returns once all is
                             sent or sending has stalled
  push_finish NAME           read everything back; it must equal what was sent
  served NAME [TIMEOUT]      connect until the server serves us instead of
                             answering "ERR server busy" (polls, bounded)
  many N                     open N connections at once, send a different
                             message on each and half-close, then every one must
                             get exactly its message back and EOF
  many_together N            open N connections, send half a message on each,
                             then the rest; every echo must arrive while all N
                             are still open (only a concurrent server can)
  churn N SECS               N threads each connect, echo one message, close,
                             as fast as they can for SECS; prints
                             "churn: S served, R refused"
  say TEXT                   print TEXT (a marker another process can wait for)
  signal SIG PID             send a signal (TERM, INT) to a process
"""

import argparse
import ast
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time

ALLOWED_HOSTS = ("127.0.0.1", "::1")
TOO_LONG = b"ERR line too long\n"
GEN_KINDS = ("lines", "allbytes", "transcript", "pattern")
BUSY = b"ERR server busy\n"


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


def open_connection(host, port, timeout):
    check_host(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.connect((host, port))
    except OSError as e:
        s.close()
        raise ProbeError("cannot connect to %s port %d: %s" % (host, port, e.strerror or e))
    return s


def wait_readable(sock, seconds):
    r, _, _ = select.select([sock], [], [], max(0.0, seconds))
    return bool(r)


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


def recv_until_eof(sock, timeout, limit=None):
    got = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        try:
            chunk = recv_some(sock, deadline, "EOF")
        except ProbeError as e:
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
        _, w, _ = select.select([], [sock], [], timeout)
        if not w:
            raise ProbeError("timed out sending (%d bytes left)" % len(view))
        try:
            n = sock.send(view[: 1 << 16])
        except OSError as e:
            raise ProbeError("send failed with %d bytes left: %s" % (len(view), e.strerror or e))
        view = view[n:]


def pattern(nbytes, tag=b"", start=0):
    """Bytes start..nbytes of a stream of numbered 64-byte lines (the last one
    may be cut short). Every line is 64 bytes, so any stretch of the stream
    is made without the lines before it: a probe sending megabytes makes
    them as it goes."""
    first = start // 64
    lines = []
    for i in range(first, (nbytes + 63) // 64):
        head = b"%s%010d " % (tag, i)
        lines.append(head + b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: 63 - len(head)] + b"\n")
    return b"".join(lines)[start - first * 64: nbytes - first * 64]


# --------------------------------------------------------------------------
# the protocol, written down independently of the C code


def expected_echo(data, max_line):
    """What the server must send back for a stream that ends with a half-close."""
    out = bytearray()
    start = 0  # start of the current message
    n = len(data)
    while start < n:
        lf = data.find(b"\n", start, start + max_line)
        if lf >= 0:
            out += data[start: lf + 1]
            start = lf + 1
            continue
        # No LF among the next max_line bytes (or fewer, at the end).
        if n - start >= max_line:
            out += TOO_LONG
            return bytes(out)
        out += data[start:]  # a trailing partial message goes back as it is
        break
    return bytes(out)


# --------------------------------------------------------------------------
# script


class Conn:
    def __init__(self, name, sock):
        self.name = name
        self.sock = sock
        self.last = time.monotonic()
        self.push = None


class Push(threading.Thread):
    """Sends a pattern without reading, so the server's echo backs up."""

    def __init__(self, conn, data, timeout, then_shutdown):
        super().__init__(daemon=True)
        self.conn = conn
        self.data = data
        self.timeout = timeout
        self.then_shutdown = then_shutdown
        self.sent = 0
        self.error = None
        self.progress = time.monotonic()

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
                sock.shutdown(socket.SHUT_WR)
        except (OSError, ProbeError) as e:
            self.error = "push: send failed after %d of %d bytes: %s" % (self.sent, len(self.data), e)


class Script:
    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.timeout = args.timeout
        self.conns = {}

    def conn(self, name):
        if name not in self.conns:
            raise ProbeError("no connection named %r" % name)
        return self.conns[name]

    @staticmethod
    def data(expr):
        try:
            value = eval(compile(ast.parse(expr, mode="eval"), "<data>", "eval"), {"__builtins__": {}}, {})
        except Exception as e:  # a typo in a test, reported as such
            raise ProbeError("bad data expression %r: %s" % (expr, e))
        if not isinstance(value, (bytes, bytearray)):
            raise ProbeError("data expression %r is not bytes" % expr)
        return bytes(value)

    # Steps whose last argument is a data expression, which may hold spaces.
    DATA_STEPS = ("send", "trickle", "expect")

    def run(self, lines):
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            step = line.split(None, 1)[0]
            words = line.split(None, 2) if step in self.DATA_STEPS else line.split()
            handler = getattr(self, "step_" + step, None)
            if handler is None:
                raise ProbeError("line %d: unknown step %r" % (number, step))
            try:
                handler(*words[1:])
            except ProbeError as e:
                raise ProbeError("line %d `%s`: %s" % (number, line[:120], e))
            except TypeError as e:
                raise ProbeError("line %d `%s`: bad arguments (%s)" % (number, line[:120], e))
            except (OSError, ValueError) as e:
                raise ProbeError("line %d `%s`: %s: %s" % (number, line[:120], type(e).__name__, e))

    def close_all(self):
        for c in self.conns.values():
            try:
                c.sock.close()
            except OSError:
                pass

    # ---- steps
    def step_connect(self, name, host=None):
        if name in self.conns:
            raise ProbeError("connection %r already exists" % name)
        self.conns[name] = Conn(name, open_connection(host or self.host, self.port, self.timeout))

    def step_local(self, name):
        addr = self.conn(name).sock.getsockname()
        host = addr[0]
        if ":" in host:
            host = "[%s]" % host
        print("%s local %s:%d" % (name, host, addr[1]), flush=True)

    def step_send(self, name, expr):
        c = self.conn(name)
        send_all(c.sock, self.data(expr), self.timeout)
        c.last = time.monotonic()

    def step_trickle(self, name, expr):
        c = self.conn(name)
        for byte in self.data(expr):
            send_all(c.sock, bytes([byte]), self.timeout)
            time.sleep(0.002)  # pacing, so that each byte travels on its own
        c.last = time.monotonic()

    def step_expect(self, name, expr):
        c = self.conn(name)
        want = self.data(expr)
        got = recv_exact(c.sock, len(want), self.timeout)
        if got != want:
            at = first_difference(got, want)
            raise ProbeError("wrong bytes from offset %d:\n  expected %s\n  received %s"
                             % (at, show(want[at:]), show(got[at:])))
        c.last = time.monotonic()

    def step_expect_eof(self, name, *bounds):
        c = self.conn(name)
        bounds = [float(x) for x in bounds]
        timeout = self.timeout
        if bounds:
            low, high = bounds
            timeout = max(0.1, high - (time.monotonic() - c.last)) + 0.05
        got = recv_until_eof(c.sock, timeout, limit=0)
        elapsed = time.monotonic() - c.last
        if got:
            raise ProbeError("expected EOF, received %s" % show(got))
        if bounds:
            if not low <= elapsed <= high:
                raise ProbeError("EOF came %.2f s after the last activity, expected %.2f to %.2f s"
                                 % (elapsed, low, high))
            print("%s eof after %.2fs" % (name, elapsed), flush=True)

    def step_quiet(self, name, seconds):
        c = self.conn(name)
        if wait_readable(c.sock, float(seconds)):
            try:
                data = c.sock.recv(4096)
            except OSError as e:
                raise ProbeError("expected silence for %s s, got an error: %s" % (seconds, e))
            raise ProbeError("expected silence for %s s, received %s" % (seconds, "EOF" if not data else show(data)))

    def step_shutdown(self, name):
        c = self.conn(name)
        c.sock.shutdown(socket.SHUT_WR)
        c.last = time.monotonic()

    def step_close(self, name):
        self.conn(name).sock.close()
        del self.conns[name]

    def step_reset(self, name):
        c = self.conn(name)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.sock.close()
        del self.conns[name]

    def step_pause(self, seconds):
        time.sleep(float(seconds))

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
        host = check_host(self.host)
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(self.timeout)
        try:
            s.connect((host, self.port))
        except OSError as e:
            s.close()
            raise ProbeError("cannot connect to %s port %d: %s" % (host, self.port, e.strerror or e))
        s.setblocking(False)
        return s

    @staticmethod
    def unacked(sock):
        import fcntl
        import struct
        import termios
        return struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ, b"\0\0\0\0"))[0]

    @staticmethod
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

    @staticmethod
    def reset_socket(sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()

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
        sent = self.send_until_stalled(probe, 64 << 20, b"measure")
        taken = sent - self.unacked(probe)
        self.reset_socket(probe)
        print("epipe: the server took %d bytes before stalling" % taken, flush=True)
        # From just under that down: too much leaves our FIN stuck behind data
        # the server does not read; enough less gets through while the server
        # still waits to write. Stop after two that got through.
        amount = taken - (64 << 10)
        floor = taken * 0.6
        through = 0
        while through < 2 and amount > floor:
            s = self.smallbuf_connection()
            sent = self.send_until_stalled(s, amount, b"epipe")
            if sent < amount:
                # This connection stalled sooner than the measure said (a
                # busy machine, or buffers that autotuned differently): go
                # on down from where it really stalled.
                amount, floor = sent, min(floor, sent * 0.6)
            s.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + 0.3
            left, still = self.unacked(s), time.monotonic()
            while left > 0 and time.monotonic() < deadline and time.monotonic() - still < 0.06:
                time.sleep(0.005)
                now = self.unacked(s)
                if now != left:
                    left, still = now, time.monotonic()
            self.reset_socket(s)
            through += left == 0
            print("epipe: sent %d bytes, %s, reset" % (sent, "FIN delivered" if left == 0 else "FIN stuck"), flush=True)
            amount -= 128 << 10

    def step_push_start(self, name, nbytes, then=None):
        c = self.conn(name)
        if c.push is not None:
            raise ProbeError("a push is already running on %s" % name)
        if then not in (None, "shutdown"):
            raise ProbeError("push_start: unknown %r (only 'shutdown')" % then)
        c.push = Push(c, pattern(int(nbytes), b"push"), self.timeout, then == "shutdown")
        c.push.start()
        # Wait until everything is sent or the sender made no progress for a
        # while (the server's echo is backed up into our receive buffer).
        deadline = time.monotonic() + self.timeout * 4
        while c.push.is_alive() and time.monotonic() - c.push.progress < 0.3:
            if time.monotonic() > deadline:
                raise ProbeError("push: still sending after %.0f s" % (self.timeout * 4))
            time.sleep(0.02)
        print("%s pushed %d bytes before reading (%s)" % (
            name, c.push.sent, "stalled" if c.push.is_alive() else "all sent"), flush=True)

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
                                 % (e, len(got), len(want), push.error or "%d sent" % push.sent))
            if not chunk:
                raise ProbeError("EOF after %d of %d bytes (sender: %s)"
                                 % (len(got), len(want), push.error or "%d sent" % push.sent))
            got += chunk
            deadline = time.monotonic() + self.timeout
        push.join(self.timeout)
        if push.error:
            raise ProbeError(push.error)
        if got != want:
            at = first_difference(got, want)
            raise ProbeError("echo differs from offset %d: expected %s, received %s"
                             % (at, show(want[at: at + 64]), show(got[at: at + 64])))
        c.push = None
        c.last = time.monotonic()
        print("%s got all %d pushed bytes back intact" % (name, len(want)), flush=True)

    def step_served(self, name, timeout=None):
        if name in self.conns:
            raise ProbeError("connection %r already exists" % name)
        limit = time.monotonic() + float(timeout or self.timeout)
        refusals = 0
        while True:
            sock = open_connection(self.host, self.port, self.timeout)
            said = b""
            # A refusal comes at once; a served connection stays silent.
            if not wait_readable(sock, 0.05):
                try:
                    send_all(sock, b"ping\n", self.timeout)
                    said = recv_exact(sock, 5, self.timeout)
                except ProbeError:
                    said = None  # EOF or reset: refused while our ping was in flight
                if said == b"ping\n":
                    break
            try:
                said = (said or b"") + recv_until_eof(sock, self.timeout)
            except ProbeError:
                pass  # a reset may cut the line short; what came must still fit
            sock.close()
            if said is not None and not BUSY.startswith(said):
                raise ProbeError("neither an echo nor %s: received %s" % (show(BUSY), show(said)))
            refusals += 1
            if time.monotonic() > limit:
                raise ProbeError("still refused after %d tries" % refusals)
            time.sleep(0.02)
        self.conns[name] = Conn(name, sock)
        print("%s served after %d refusals" % (name, refusals), flush=True)

    def step_many(self, count):
        count = int(count)
        socks = [open_connection(self.host, self.port, self.timeout) for _ in range(count)]
        try:
            for i, s in enumerate(socks):
                send_all(s, b"client %d says hello\n" % i, self.timeout)
                s.shutdown(socket.SHUT_WR)
            for i, s in enumerate(socks):
                want = b"client %d says hello\n" % i
                try:
                    got = recv_until_eof(s, self.timeout)
                except ProbeError as e:
                    raise ProbeError("client %d: %s" % (i, e))
                if got != want:
                    raise ProbeError("client %d: expected %s, received %s" % (i, show(want), show(got)))
        finally:
            for s in socks:
                s.close()
        print("%d clients each got their own echo" % count, flush=True)

    def step_many_together(self, count):
        count = int(count)
        socks = [open_connection(self.host, self.port, self.timeout) for _ in range(count)]
        try:
            for i, s in enumerate(socks):
                send_all(s, b"client %d " % i, self.timeout)
            for i, s in enumerate(socks):
                send_all(s, b"is here\n", self.timeout)
            for i, s in enumerate(socks):
                want = b"client %d is here\n" % i
                try:
                    got = recv_exact(s, len(want), self.timeout)
                except ProbeError as e:
                    raise ProbeError("client %d (all %d still open): %s" % (i, count, e))
                if got != want:
                    raise ProbeError("client %d: expected %s, received %s" % (i, show(want), show(got)))
        finally:
            for s in socks:
                s.close()
        print("%d clients served at the same time" % count, flush=True)

    def step_churn(self, count, seconds):
        """COUNT threads each connect, echo one message and close, as fast as
        they can, for SECONDS; then print how many were served and refused.
        Any other failure (a wrong echo, a timeout, a reset) fails the step."""
        count, seconds = int(count), float(seconds)
        stop_at = time.monotonic() + seconds
        served, refused, errors = [0] * count, [0] * count, []

        def one_client(i):
            n = 0
            try:
                while time.monotonic() < stop_at:
                    # 9 bytes, shorter than the busy line, so a refusal
                    # reads as its first 9 bytes
                    msg = b"%02d%06d\n" % (i % 100, n % 1000000)
                    n += 1
                    s = open_connection(self.host, self.port, self.timeout)
                    try:
                        send_all(s, msg, self.timeout)
                        got = recv_exact(s, len(msg), self.timeout)
                    except ProbeError as e:
                        raise ProbeError("connection %d.%d: %s" % (i, n, e))
                    finally:
                        s.close()
                    if got == BUSY[: len(msg)]:
                        refused[i] += 1
                    elif got != msg:
                        raise ProbeError("connection %d.%d: expected %s, received %s"
                                         % (i, n, show(msg), show(got)))
                    else:
                        served[i] += 1
            except (ProbeError, OSError) as e:
                errors.append("client %d: %s" % (i, e))

        threads = [threading.Thread(target=one_client, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("churn: %d served, %d refused" % (sum(served), sum(refused)), flush=True)
        if errors:
            raise ProbeError("; ".join(errors[:4]))

    def step_say(self, *words):
        print(" ".join(words), flush=True)

    def step_signal(self, sig, pid):
        os.kill(int(pid), getattr(signal, "SIG" + sig.upper().replace("SIG", "")))


def cmd_script(args):
    script = Script(args)
    try:
        script.run(sys.stdin.read().splitlines())
    finally:
        script.close_all()
    return 0


# --------------------------------------------------------------------------
# roundtrip


def cmd_roundtrip(args):
    if args.generate:
        # write INPUT first: one interpreter start instead of two
        write_generated(args.generate, args.input, args.gen_seed, args)
    with open(args.input, "rb") as f:
        data = f.read()
    sock = open_connection(args.host, args.port, args.timeout)
    rng = random.Random(args.seed)
    errors = []

    def sender():
        try:
            pos = 0
            while pos < len(data):
                size = args.chunk or len(data)
                if args.seed is not None:
                    size = rng.randint(1, args.max_chunk)
                send_all(sock, data[pos: pos + size], args.timeout)
                pos += size
                if args.pace:
                    time.sleep(args.pace)
            sock.shutdown(socket.SHUT_WR)
        except (OSError, ProbeError) as e:
            errors.append("sending: %s" % e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = recv_until_eof(sock, args.timeout)
    except ProbeError as e:
        errors.append("receiving: %s" % e)
        got = b""
    t.join(args.timeout)
    sock.close()
    with open(args.output, "wb") as f:
        f.write(got)
    if not errors and args.verify:
        want = expected_echo(data, args.max_line)
        if got != want:
            at = first_difference(got, want)
            errors.append("the echo differs from what the protocol says from offset %d:"
                          "\n  expected %s\n  received %s" % (at, show(want[at: at + 64]), show(got[at: at + 64])))
    if errors:
        for e in errors:
            print("roundtrip: %s" % e, file=sys.stderr)
        return 1
    print("sent %d bytes, received %d bytes then EOF%s"
          % (len(data), len(got), ", as the protocol says" if args.verify else ""))
    return 0


# --------------------------------------------------------------------------
# expected, gen


def cmd_expected(args):
    with open(args.input, "rb") as f:
        data = f.read()
    with open(args.output, "wb") as f:
        f.write(expected_echo(data, args.max_line))
    return 0


def gen_lines(rng, count, longest):
    """count messages of random length and content (every byte value but LF)."""
    out = bytearray()
    for _ in range(count):
        n = rng.choice((0, 1, 2, rng.randint(0, 20), rng.randint(0, longest)))
        out += rng.randbytes(n).replace(b"\n", b"\x0b") + b"\n"
    return bytes(out)


def gen_allbytes(repeat):
    """Every byte value in order, repeated; the LFs split it into messages."""
    return bytes(range(256)) * repeat + b"\n"


def gen_transcript(rng, max_line):
    """The differential test's input: every awkward case the protocol has."""
    parts = [
        b"hello\n",
        b"\n", b"\n\n\n",                      # empty messages
        b"crlf\r\n", b"\r\n", b"\r\r\r\n",      # CR is data
        b"nul\x00inside\n", b"\x00\n",          # so is NUL
        bytes(range(256)) * 3 + b"\n",          # all byte values
        b"y" * (max_line - 1) + b"\n",          # the longest allowed message
        b"z" * (max_line // 2) + b"\n",
        gen_lines(rng, 3000, 120),              # many small messages
        b"\xff\xfe high bytes \x80\x81\n",
        b" leading and trailing spaces \n",
        b"y" * (max_line - 1) + b"\n",
        b"trailing partial, no LF \x00\r",     # echoed as is after the half-close
    ]
    return b"".join(parts)


def cmd_gen(args):
    write_generated(args.kind, args.output, args.seed, args)
    return 0


def write_generated(kind, path, seed, args):
    rng = random.Random(seed)
    if kind == "lines":
        data = gen_lines(rng, args.count, args.longest)
    elif kind == "allbytes":
        data = gen_allbytes(args.count)
    elif kind == "transcript":
        data = gen_transcript(rng, args.max_line)
    elif kind == "pattern":
        data = pattern(args.count)
    else:
        raise ProbeError("unknown kind %r" % kind)
    with open(path, "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------
# ports


def run_with_port(port, command, timeout):
    argv = [a.replace("{port}", str(port)) for a in command]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        print("probe: %s still running after %.0f s; killed" % (argv[0], timeout), file=sys.stderr)
        return 124
    return proc.returncode


def strip_dashdash(command):
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise ProbeError("no command given")
    return command


def cmd_port_in_use(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        return run_with_port(s.getsockname()[1], strip_dashdash(args.command), args.timeout)
    finally:
        s.close()


def cmd_refusing_port(args):
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((check_host(args.host), 0))  # bound, never listening: connects are refused
    try:
        return run_with_port(s.getsockname()[1], strip_dashdash(args.command), args.timeout)
    finally:
        s.close()


def cmd_has_ipv6(args):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return 0
    except OSError:
        return 1


# --------------------------------------------------------------------------
# pty: drive an interactive program


def cmd_pty(args):
    """Runs a command on a pseudo-terminal with terminal echo off (so whatever
    shows up was written by the program), waits for its first output (the
    prompt), types each --line and waits for the matching --expect text in what
    the program writes after it, then types Ctrl-D and requires the program to
    exit with status --status."""
    import pty
    import termios

    command = strip_dashdash(args.command)
    if len(args.line) != len(args.expect):
        raise ProbeError("give one --expect per --line")
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    import fcntl

    def controlling_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, close_fds=True,
                            preexec_fn=controlling_terminal)
    os.close(slave)
    seen = bytearray()

    def read_more(what):
        r, _, _ = select.select([master], [], [], args.timeout)
        if not r:
            raise ProbeError("timed out waiting for %s; the terminal shows %s" % (what, show(seen, 200)))
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every copy of the terminal is closed
            chunk = b""
        if not chunk:
            raise ProbeError("terminal closed while waiting for %s; it shows %s" % (what, show(seen, 200)))
        seen.extend(chunk)

    def wait_for(needle, start, what):
        while needle not in bytes(seen[start:]):
            read_more(what)

    try:
        read_more("the prompt")  # any output before we type
        print("prompt %r" % bytes(seen), flush=True)
        for line, want in zip(args.line, args.expect):
            mark = len(seen)
            os.write(master, line.encode() + b"\n")
            wait_for(want.encode(), mark, "%r after typing %r" % (want, line))
            print("typed %r, saw %r" % (line, want), flush=True)
        os.write(master, b"\x04")  # Ctrl-D at the start of a line: EOF
        try:
            status = proc.wait(args.timeout)
        except subprocess.TimeoutExpired:
            raise ProbeError("still running %.0f s after Ctrl-D; the terminal shows %s"
                             % (args.timeout, show(seen, 200)))
        if status != args.status:
            raise ProbeError("exited with status %d after Ctrl-D, expected %d; the terminal shows %s"
                             % (status, args.status, show(seen, 200)))
        print("exited %d after Ctrl-D" % status, flush=True)
        return 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


# --------------------------------------------------------------------------


def main():
    timeout = float(os.environ.get("ECHOPROBE_TIMEOUT", "5"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--timeout", type=float, default=timeout, help="seconds any one wait may take")
    p.add_argument("--deadline", type=float, default=180, help="seconds the whole run may take")
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("script")

    r = sub.add_parser("roundtrip")
    r.add_argument("input")
    r.add_argument("output")
    r.add_argument("--chunk", type=int, default=0, help="bytes per send (default: all at once)")
    r.add_argument("--seed", type=int, default=None, help="random chunk sizes from this seed")
    r.add_argument("--max-chunk", type=int, default=4096)
    r.add_argument("--pace", type=float, default=0.0, help="seconds between sends")
    r.add_argument("--generate", choices=GEN_KINDS, help="first write INPUT as gen KIND would "
                   "(with --count, --longest, --gen-seed)")
    r.add_argument("--count", type=int, default=1000)
    r.add_argument("--longest", type=int, default=200)
    r.add_argument("--gen-seed", dest="gen_seed", type=int, default=1)
    r.add_argument("--verify", action="store_true", help="the echo must be what `expected` computes")
    r.add_argument("--max-line", type=int, default=4096)

    e = sub.add_parser("expected")
    e.add_argument("input")
    e.add_argument("output")
    e.add_argument("--max-line", type=int, default=4096)

    g = sub.add_parser("gen")
    g.add_argument("kind", choices=GEN_KINDS)
    g.add_argument("output")
    g.add_argument("--count", type=int, default=1000)
    g.add_argument("--longest", type=int, default=200)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--max-line", type=int, default=4096)

    for name in ("port-in-use", "refusing-port"):
        c = sub.add_parser(name)
        c.add_argument("command", nargs=argparse.REMAINDER)

    sub.add_parser("has-ipv6")

    t = sub.add_parser("pty")
    t.add_argument("--line", action="append", default=[], help="a line to type")
    t.add_argument("--expect", action="append", default=[], help="text the program must show after it")
    t.add_argument("--status", type=int, default=0, help="exit status required after Ctrl-D")
    t.add_argument("command", nargs=argparse.REMAINDER)

    args = p.parse_args()

    def overall_deadline(signo, frame):
        print("echoprobe: the run took longer than %.0f s; giving up" % args.deadline, file=sys.stderr)
        os._exit(3)

    signal.signal(signal.SIGALRM, overall_deadline)
    signal.alarm(int(args.deadline))
    handlers = {
        "script": cmd_script, "roundtrip": cmd_roundtrip, "expected": cmd_expected,
        "gen": cmd_gen, "port-in-use": cmd_port_in_use, "refusing-port": cmd_refusing_port,
        "has-ipv6": cmd_has_ipv6, "pty": cmd_pty,
    }
    try:
        return handlers[args.cmd](args)
    except ProbeError as e:
        print("echoprobe: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
