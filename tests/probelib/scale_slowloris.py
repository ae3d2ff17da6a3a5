"""scale_slowloris: the probe's slowloris: N connections that each trickle a
byte now and then and never finish a line, against a server with an idle
timeout, while a well-behaved client must stay served (see
probelib/main.py)."""
import time

from probelib import procfs
from probelib.scale_driver import HOST, Driver, Fail, want_descriptors

# Each connection is served once ("hi") before it trickles: the idle clock
# of a server that forks per connection starts only when its child runs,
# which on a busy machine can be seconds after the handshake.
GREETING = b"hi\n"


class Tricklers:
    """The trickling connections and when each was last heard from."""

    def __init__(self, d, gap):
        import collections
        self.d = d
        self.gap = gap
        self.last_sent = {}  # conn -> when its last byte went out
        self.closed_after = {}  # conn -> (earliest, latest) seconds from its last byte to its EOF
        self.trickled = 0
        self.due = collections.deque()  # (when the next byte is due, conn), in order
        d.on_data = self.on_data

    def on_data(self, c, data):
        if data:
            if bytes(c.got) != GREETING[:len(c.got)]:
                raise Fail("trickling connection %d got %r; only its greeting's echo and EOF may come"
                           % (c.i, bytes(c.got[:60])))
        elif c not in self.last_sent:
            raise Fail("connection %d closed before its greeting came back (got %r)"
                       % (c.i, bytes(c.got)))
        else:
            self.closed_after[c] = (self.d.ready_since - self.last_sent[c],
                                    time.monotonic() - self.last_sent[c])

    def trickle(self, c, now):
        self.d.send(c, b"x")
        self.trickled += 1
        self.last_sent[c] = now
        self.due.append((now + self.gap, c))

    def connect_all(self, n, window):
        """Opens n connections (window handshakes at a time), has each served
        its greeting, then sends its first trickled byte."""
        d = self.d
        conns, pending, last_move = [], set(), time.monotonic()
        while len(conns) < n or pending:
            while len(conns) < n and len(pending) < window:
                conns.append(d.start_connect(len(conns)))
                pending.add(conns[-1])
            moved = d.moved
            d.poll_once(0.01)
            if d.moved != moved:
                last_move = time.monotonic()
            now = time.monotonic()
            for c in [c for c in pending if c.connected and not c.sent_all]:
                d.send(c, GREETING)
            for c in [c for c in pending if c.got == GREETING]:
                pending.discard(c)
                self.trickle(c, now)
            if now - last_move > d.timeout:
                raise Fail("%d connections not established and served once after %.1f s without progress"
                           % (len(pending), d.timeout))
        return conns

    def hold_until_closed(self, conns):
        """Trickles a byte on each every gap seconds until the server has
        closed them all."""
        d = self.d
        last_move, mark = time.monotonic(), d.moved
        while len(self.closed_after) < len(conns):
            d.poll_once(0.01)
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                _, c = self.due.popleft()
                if c not in self.closed_after and not c.eof:
                    self.trickle(c, now)
            if d.moved != mark:
                mark, last_move = d.moved, now
            elif now - last_move > d.timeout:
                raise Fail("%d of %d trickling connections still open, nothing moved for %.1f s"
                           % (len(conns) - len(self.closed_after), len(conns), d.timeout))


def start_pinger(a):
    """The well-behaved client: echo-client's ping-pong, a process of its own
    (in C, every echo checked, latency measured by itself), from before the
    first trickler until after the last is closed; SIGINT ends its run. It
    is paced (--ping-rate): as fast as it can go, it would keep the server
    busy by itself, and the CPU bound is about what the idle ones cost. A
    paced client measures from when each ping was due, and at depth 1 it
    can never catch up once a round trip takes longer than the pace: 50/s
    leaves 20 ms for one, which a machine at load 28 still meets."""
    import subprocess
    return subprocess.Popen(
        [a.client, "--load", "--host", HOST, "--port", str(a.port), "--connections", "1",
         "--depth", "1", "--size", "64", "--rate", str(a.ping_rate), "--duration", "3600",
         "--warmup", "0", "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_sockets(pgid, n, timeout, client):
    """Waits until group pgid holds n sockets (a client was accepted)."""
    deadline = time.monotonic() + timeout
    while procfs.group_sockets(pgid) < n:
        if client.poll() is not None:
            raise Fail("the well-behaved client exited (status %d) before it was accepted: %s"
                       % (client.returncode, client.stderr.read().decode()))
        if time.monotonic() > deadline:
            raise Fail("the well-behaved client was not accepted within %.1f s" % timeout)
        time.sleep(0.01)  # polling step of a bounded wait


def cmd_slowloris(a):
    import json
    import signal
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.maxevents = a.clients + 16  # every ready event in one round: ready_since holds
    t = Tricklers(d, a.gap)
    sockets_before = procfs.group_sockets(a.pid)
    client = start_pinger(a)
    try:
        # Its connection must be taken before the tricklers queue up behind
        # it: a fork server would otherwise fork for all of them first, and
        # every ping due meanwhile would count as late.
        wait_for_sockets(a.pid, sockets_before + 1, a.timeout, client)
        conns = t.connect_all(a.clients, a.window)
        held_from = time.monotonic()
        cpu_before = procfs.group_cpu_seconds(a.pid)
        t.hold_until_closed(conns)
        window = time.monotonic() - held_from
        cpu_after = procfs.group_cpu_seconds(a.pid)
        for c in conns:
            d.close(c)
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=a.timeout + 30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    cpu = procfs.cpu_seconds_since(cpu_before, cpu_after) / window
    try:
        report = json.loads(out)
    except ValueError:
        raise Fail("the well-behaved client (status %d) reported no JSON: %s"
                   % (client.returncode, err.decode()))
    # The close came between the two bounds; it was late only if even the
    # earliest it can have come is late, and early only if even the latest is.
    earliest = sorted(lo for lo, hi in t.closed_after.values())
    latest = sorted(hi for lo, hi in t.closed_after.values())
    lat = report["latency_us"]
    print("slowloris clients=%d closed=%d trickled=%d eof_after_min=%.2f eof_after_max=%.2f "
          "(seen %.2f) held_s=%.2f cpu=%.3f pings=%d ping_p50_ms=%.2f ping_p99_ms=%.2f ping_max_ms=%.2f "
          "messages=%d bytes=%d"
          % (len(conns), len(latest), t.trickled, latest[0], earliest[-1], latest[-1], window, cpu,
             report["verified"], lat["p50"] / 1000, lat["p99"] / 1000, lat["max"] / 1000,
             report["verified"] + len(conns), report["verified"] * 64 + len(GREETING) * len(conns)))
    if client.returncode != 0 or report["errors"]:
        raise Fail("the well-behaved client was not served throughout: status %d, %s"
                   % (client.returncode, report["error_detail"]))
    check_bounds(a, earliest, latest, cpu, lat)


def check_bounds(a, earliest, latest, cpu, lat):
    """Each close within the idle timeout's bounds; the server's CPU and the
    well-behaved client's latency within theirs."""
    limit_hi, limit_lo = a.idle + 1.0, a.idle - 0.25
    late = [x for x in earliest if x > limit_hi]
    early = [x for x in latest if x < limit_lo]
    if late:
        raise Fail("%d connections closed later than %.2f s after their last byte (latest %.2f s)"
                   % (len(late), limit_hi, late[-1]))
    if early:
        raise Fail("%d connections closed sooner than %.2f s after their last byte (soonest %.2f s)"
                   % (len(early), limit_lo, early[0]))
    if cpu > a.max_cpu:
        raise Fail("the server used %.0f%% of a CPU while holding the trickling connections (limit %.0f%%)"
                   % (100 * cpu, 100 * a.max_cpu))
    # Normal latency: the median. Paced, the client measures each message from
    # when it was due, so a single stall of the whole machine (a busy CI host)
    # shows in every message queued behind it and moves p99 but not p50;
    # "served throughout" is that no message waited more than 5 s.
    if lat["p50"] / 1e6 > a.max_latency:
        raise Fail("the well-behaved client's median latency was %.3f s (limit %.2f s)"
                   % (lat["p50"] / 1e6, a.max_latency))
    if lat["max"] / 1e6 > 5:
        raise Fail("the well-behaved client waited %.1f s for one echo (limit 5 s)" % (lat["max"] / 1e6))
