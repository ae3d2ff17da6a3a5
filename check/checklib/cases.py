"""cases: what a case is, how one is run and what it can say.

A case is a function of a Context, registered with @case: its id, the
guarantee it checks in one line, its profile (core or extra), what it needs
(the server's process, loopback), what it sends and expects in words, and
the usual cause of its failure (the hint). It returns a note (or None) when
the guarantee holds and raises otherwise: Broken with what was sent,
expected and came back; NotOffered when the server does not offer an
extra; Skip when this machine cannot run it. Any other ProbeError, Fail or
OSError is a failure whose message says what came back.
"""
import contextlib
import io
import select
import socket
import time

from probelib.cli import Namespace
from probelib.harness import ProbeError, connect, show
from probelib.scale_driver import Fail, Skip

CASES = []
LOOPBACK = ("127.0.0.1", "::1")


class Broken(Exception):
    def __init__(self, got, sent=None, expected=None, hint=None):
        super().__init__(got)
        self.got, self.sent, self.expected, self.hint = got, sent, expected, hint


class NotOffered(Exception):
    declared = False   # True: the server said so itself (promises.py); the profile holds


class Case:
    def __init__(self, fn, id, title, profile, sent, expected, hint, needs):
        self.fn, self.id, self.title, self.profile = fn, id, title, profile
        self.sent, self.expected, self.hint, self.needs = sent, expected, hint, needs


def case(id, title, sent, expected, hint, profile="core", needs=()):
    def register(fn):
        CASES.append(Case(fn, id, title, profile, sent, expected, hint, needs))
        return fn
    return register


class Context:
    """What a case talks to: host, port, the server (target: its process
    group when the checker started it), the per-step timeout, the profile and
    what the server declares (promises.Promises)."""

    def __init__(self, target, host, port, timeout, profile, promises):
        self.target, self.host, self.port, self.timeout = target, host, port, timeout
        self.profile, self.promises = profile, promises

    @property
    def pgid(self):
        return self.target.pgid

    def can_restart(self):
        return hasattr(self.target, "start")

    @contextlib.contextmanager
    def fresh(self, extra):
        """A Context on a server started anew from the same command with
        `extra` arguments after it, stopped when done; NotOffered if it does
        not start with them."""
        from checklib.server import CannotRun
        other = self.target.twin()
        try:
            try:
                other.start(extra)
            except CannotRun as e:
                raise NotOffered("it does not start with %s: %s" % (" ".join(extra), e))
            yield Context(other, self.host, other.port, self.timeout, self.profile,
                          self.promises)
        finally:
            other.cleanup()

    def connect(self, host=None):
        host = host or self.host
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connect(s, host, self.port, self.timeout)

    def args(self, **values):
        """A namespace for the probelib commands (probe.py's scale ones, with its
        defaults for what the checker does not ask for)."""
        ns = Namespace(port=self.port, timeout=self.timeout, pid=self.pgid or 0)
        ns.__dict__.update(values)
        return ns


def why_not_run(c, ctx):
    """Why case c cannot run against this target, or None."""
    if "pid" in c.needs and ctx.pgid is None:
        return "needs the server's process (to measure or signal it): use SERVER="
    if "restart" in c.needs and ctx.pgid is None:
        return "starts the server with an option of its own: use SERVER="
    if "loopback" in c.needs and ctx.host not in LOOPBACK:
        return "fault traffic goes to 127.0.0.1 and ::1 only"
    if "127.0.0.1" in c.needs and ctx.host != "127.0.0.1":
        return "this load is driven at 127.0.0.1 only"
    return None


def run_case(c, ctx):
    """Runs one case; returns its result (a dict: the JSON of the case)."""
    r = dict(id=c.id, title=c.title, profile=c.profile, status="pass", seconds=0.0)
    reason = why_not_run(c, ctx)
    if reason:
        r.update(status="not run", reason=reason)
        return r
    t0 = time.monotonic()
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said):
            note = c.fn(ctx)
        if note:
            r["note"] = note
    except Broken as e:
        r.update(status="fail", sent=e.sent or c.sent, expected=e.expected or c.expected,
                 got=e.got, hint=e.hint or c.hint)
    except NotOffered as e:
        r.update(status="not offered", reason=str(e))
        if e.declared:
            r["declared"] = True
    except Skip as e:
        r.update(status="not run", reason="this machine cannot: %s" % e)
    except (ProbeError, Fail, OSError) as e:
        r.update(status="fail", sent=c.sent, expected=c.expected,
                 got=str(e) or type(e).__name__, hint=c.hint)
    r["seconds"] = round(time.monotonic() - t0, 2)
    return r


# ---------------------------------------------------------------- talking

def converse(sock, data, want, timeout, chunks=None):
    """Sends data (in the given piece sizes, else at once) while reading;
    returns what came back once it is len(want) bytes, or raises Broken as
    soon as it differs from want or nothing moves for `timeout` s."""
    sock.setblocking(False)
    sizes = iter(chunks or [len(data)])
    pos, got = 0, bytearray()
    last = time.monotonic()
    try:
        while len(got) < len(want):
            wr = [sock] if pos < len(data) else []
            r, w, _ = select.select([sock], wr, [], 0.05)
            if w:
                n = next(sizes, 65536)
                pos += sock.send(data[pos:pos + n])
                last = time.monotonic()
            if r:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise Broken("EOF after %d of %d bytes; the last ones: %s"
                                 % (len(got), len(want), show(got[-60:])))
                got += chunk
                last = time.monotonic()
                if not want.startswith(bytes(got[:len(want)])) or len(got) > len(want):
                    mismatch(got, want)
            if time.monotonic() - last > timeout:
                raise Broken("nothing more for %.0f s after %d of %d bytes (sent %d of %d)"
                             % (timeout, len(got), len(want), pos, len(data)))
    except ConnectionResetError:
        raise Broken("the connection was reset after %d of %d bytes" % (len(got), len(want)))
    finally:
        sock.setblocking(True)
    return bytes(got)


def mismatch(got, want):
    at = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
    raise Broken("from byte %d: %s (expected there: %s)"
                 % (at, show(bytes(got[at:at + 48])), show(want[at:at + 48])))


def recv_for(sock, seconds):
    """Whatever arrives within `seconds` (b"" if nothing), None on EOF."""
    got = bytearray()
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return bytes(got)
        chunk = sock.recv(65536)
        if not chunk:
            return None if not got else bytes(got)
        got += chunk
