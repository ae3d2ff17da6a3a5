"""transcript: the interpreter of `probe.py script`, a test's steps read
from stdin, one per line (the steps are listed in probelib/main.py).

Script runs the lines in order, each by its step_NAME method; a failing step
raises ProbeError with its line number and text. The steps that talk one
message at a time live here; the ones about backpressure (flood, epipe,
push) in steps_flow.py, the ones about many clients (served, many,
many_together, churn) in steps_crowd.py.
"""
import sys
import time
from _socket import SHUT_WR

from probelib.harness import (ProbeError, first_difference, open_connection, recv_exact,
                              recv_until_eof, reset_close, send_all, show, wait_readable)
from probelib.steps_crowd import CrowdSteps
from probelib.steps_flow import FlowSteps


class Conn:
    def __init__(self, name, sock):
        self.name = name
        self.sock = sock
        self.last = time.monotonic()   # its last activity: connect, send, expect
        self.push = None               # a running steps_flow.Push


def data(expr):
    """The bytes a step's DATA expression (b"ab\\n" + b"x" * 10) evaluates to,
    with no builtins: only literals and operators."""
    try:
        value = eval(compile(expr, "<data>", "eval"), {"__builtins__": {}}, {})
    except Exception as e:  # a typo in a test, reported as such
        raise ProbeError("bad data expression %r: %s" % (expr, e))
    if not isinstance(value, (bytes, bytearray)):
        raise ProbeError("data expression %r is not bytes" % expr)
    return bytes(value)


class Script(FlowSteps, CrowdSteps):
    # Steps whose last argument is a data expression, which may hold spaces.
    DATA_STEPS = ("send", "trickle", "expect")

    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.timeout = args.timeout
        self.conns = {}

    def adopt(self, name, sock):
        """sock becomes the script's connection `name`."""
        self.conns[name] = Conn(name, sock)

    def conn(self, name):
        if name not in self.conns:
            raise ProbeError("no connection named %r" % name)
        return self.conns[name]

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
        self.adopt(name, open_connection(host or self.host, self.port, self.timeout))

    def step_local(self, name):
        addr = self.conn(name).sock.getsockname()
        host = addr[0]
        if ":" in host:
            host = "[%s]" % host
        print("%s local %s:%d" % (name, host, addr[1]), flush=True)

    def step_send(self, name, expr):
        c = self.conn(name)
        send_all(c.sock, data(expr), self.timeout)
        c.last = time.monotonic()

    def step_trickle(self, name, expr):
        c = self.conn(name)
        for byte in data(expr):
            send_all(c.sock, bytes([byte]), self.timeout)
            time.sleep(0.002)  # pacing, so that each byte travels on its own
        c.last = time.monotonic()

    def step_expect(self, name, expr):
        c = self.conn(name)
        want = data(expr)
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
                got = c.sock.recv(4096)
            except OSError as e:
                raise ProbeError("expected silence for %s s, got an error: %s" % (seconds, e))
            raise ProbeError("expected silence for %s s, received %s"
                             % (seconds, "EOF" if not got else show(got)))

    def step_held(self, name):
        """The server has read all NAME sent and still holds its side open."""
        from probelib.procfs import tcp_sockets
        port = self.conn(name).sock.getsockname()[1]
        deadline = time.monotonic() + self.timeout
        while True:
            # the server's side: its port local, ours remote (a socket no
            # process holds any more has inode 0)
            side = [s for s in tcp_sockets(self.port) if s[1] == port]
            if not side:
                raise ProbeError("the server's side of the connection is gone (reset)")
            if side[0][4] == "0":
                raise ProbeError("the server closed the connection (no process holds it)")
            if side[0][3] == 0:
                return
            if time.monotonic() > deadline:
                raise ProbeError("the server left %d bytes unread for %.0f s"
                                 % (side[0][3], self.timeout))
            time.sleep(0.01)

    def step_shutdown(self, name):
        c = self.conn(name)
        c.sock.shutdown(SHUT_WR)
        c.last = time.monotonic()

    def step_close(self, name):
        self.conn(name).sock.close()
        del self.conns[name]

    def step_reset(self, name):
        reset_close(self.conn(name).sock)
        del self.conns[name]

    def step_pause(self, seconds):
        time.sleep(float(seconds))

    def step_say(self, *words):
        print(" ".join(words), flush=True)

    def step_wait_file(self, path):
        import os
        deadline = time.monotonic() + self.timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise ProbeError("no %s after %.0f s" % (path, self.timeout))
            time.sleep(0.02)

    def step_signal(self, sig, pid):
        import os
        import signal
        os.kill(int(pid), getattr(signal, "SIG" + sig.upper().replace("SIG", "")))


def cmd_script(args):
    script = Script(args)
    try:
        script.run(sys.stdin.read().splitlines())
    finally:
        script.close_all()
    return 0
