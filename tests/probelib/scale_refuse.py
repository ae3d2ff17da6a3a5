"""scale_refuse: the probe's ordered, exhaust and ping: clients that are
either served or refused with the busy line, and what that costs the server
(see probelib/main.py for each command)."""
import time

from probelib import procfs
from probelib.scale_driver import (Driver, Fail, classify, message, outcome,
                                   try_until_served, undecided, want_descriptors)


def measure_cpu(pgid, window):
    """Fraction of one CPU process group pgid used over `window` seconds
    (its own CPU time, from /proc: other load on the machine does not count)."""
    before = procfs.group_cpu_seconds(pgid)
    t0 = time.monotonic()
    time.sleep(window)  # a measurement window, not a synchronisation
    after = procfs.group_cpu_seconds(pgid)
    return procfs.cpu_seconds_since(before, after) / (time.monotonic() - t0)


def sort_out(conns):
    """(served, refused) among conns."""
    return ([c for c in conns if outcome(c) == "served"],
            [c for c in conns if outcome(c) == "refused"])


def cmd_ordered(a):
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.on_data = classify
    conns = []
    for i in range(a.clients):
        c = d.start_connect(i)
        d.run_until(lambda: c.connected, "connection %d not established" % i)
        conns.append(c)
    for c in conns:
        d.send(c, message(c.i, 0))
    d.run_until(lambda: all(outcome(c) for c in conns), undecided(conns))
    served, refused = sort_out(conns)
    if served and refused and max(c.i for c in served) > min(c.i for c in refused):
        raise Fail("connection %d was refused but the later connection %d was served"
                   % (min(c.i for c in refused), max(c.i for c in served)))
    for c in refused:
        d.close(c)
    # the refusals disturbed none of the served
    for c in served:
        d.send(c, message(c.i, 1))
    d.echoed_all(served)
    for c in served[:a.close]:
        d.close(c)
    retried, new_bytes = try_until_served(d, a.timeout, a.clients)
    for c in served:
        d.close(c)
    print("ordered served=%d refused=%d connections=%d refusals=%d messages=%d bytes=%d "
          "first_refused=%s"
          % (len(served), len(refused), len(served) + 1, len(refused) + retried,
             2 * len(served) + 1, sum(len(c.sent_all) for c in served) + new_bytes,
             refused[0].i if refused else "none"))


def cmd_exhaust(a):
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.on_data = classify
    conns = d.connect_many(a.clients, a.clients)
    for c in conns:
        d.send(c, message(c.i, 0))
    if a.serial:
        # one client is served, the rest wait in the listen backlog
        d.run_until(lambda: any(outcome(c) for c in conns), "no client served at all")
    else:
        d.run_until(lambda: all(outcome(c) for c in conns), undecided(conns))
    cpu = measure_cpu(a.pid, a.cpu_window) if a.cpu_window > 0 else 0.0
    answered = [c for c in conns if outcome(c)]
    if a.serial and len(answered) != 1:
        raise Fail("a serial server answered %d clients at once" % len(answered))
    served, refused = sort_out(conns)
    for c in refused:
        d.close(c)
    if a.serial:
        served = serve_in_turn(d, conns, served)
        refused = [c for c in conns if outcome(c) == "refused"]
    else:
        for c in served:
            d.send(c, message(c.i, 1))
        d.echoed_all(served)
    for c in conns:
        d.close(c)
    print("exhaust served=%d refused=%d messages=%d bytes=%d cpu=%.3f"
          % (len(served), len(refused), sum(len(c.sent_all) > 0 for c in served) * (1 if a.serial else 2),
             sum(len(c.sent_all) for c in served), cpu))
    if a.cpu_window > 0 and cpu >= a.max_cpu:
        raise Fail("the server used %.0f%% of a CPU over %.1f s with %d clients open (limit %.0f%%)"
                   % (cpu * 100, a.cpu_window, len(conns), a.max_cpu * 100))


def serve_in_turn(d, conns, served):
    """A serial server: each client leaves as soon as it is served and the
    next is then taken from the backlog. Returns every client served."""
    served_later = []

    def step(c, data):
        classify(c, data)
        if outcome(c) == "served":
            served_later.append(c)
            d.close(c)

    for c in served:
        d.close(c)
    d.on_data = step
    d.run_until(lambda: all(c.closed for c in conns),
                lambda: "%d of %d queued clients not served yet"
                % (sum(not c.closed for c in conns), len(conns)))
    return served + served_later


def cmd_ping(a):
    d = Driver(a.port, a.timeout)
    d.on_data = classify
    if a.until_served:
        refusals, _ = try_until_served(d, a.until_served, 0, "-ping")
    else:
        c = d.start_connect(0)
        d.run_until(lambda: c.connected, "not connected")
        d.send(c, message(0, 0, "-ping"))
        d.run_until(lambda: outcome(c) is not None, "no answer")
        if outcome(c) != "served":
            raise Fail("the server answered %r instead of the echo" % bytes(c.got))
        refusals = 0
    print("ping refusals=%d messages=1 bytes=%d" % (refusals, len(message(0, 0, "-ping"))))
