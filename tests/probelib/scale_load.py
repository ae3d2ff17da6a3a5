"""scale_load: the probe's swarm, pipeline and waves: many connections held
open at once, every byte of every echo checked, and the server's memory read
while they hold messages (see probelib/main.py for each command)."""
import time
from _socket import SHUT_WR

from probelib import procfs
from probelib.scale_driver import (Driver, Fail, check_echo, message,
                                   want_descriptors)


# ---------------------------------------------------------------- the server's side

def unread_server_input(port, client_ports):
    """(sockets, bytes): the server's side of our connections (established,
    local port `port`, remote port one of client_ports) and the input they
    hold unread."""
    count = unread = 0
    for _, remote, state, rx_queue, _ in procfs.tcp_sockets(port):
        if state == "01" and remote in client_ports:
            count += 1
            unread += rx_queue
    return count, unread


def wait_server_read(d, conns):
    """Until the server has read everything our connections sent: fails
    once the server's unread input stops shrinking for d.timeout seconds."""
    client_ports = {c.sock.getsockname()[1] for c in conns}
    n = len(conns)
    last, last_change = None, time.monotonic()
    while True:
        now = unread_server_input(d.port, client_ports)
        if now == (n, 0):
            return
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > d.timeout:
            raise Fail("the server stopped reading: %d of %d sockets seen, %d bytes unread"
                       % (now[0], n, now[1]))
        d.poll_once(0.05)


def server_fds(pid):
    try:
        return procfs.fd_count(pid)
    except OSError as e:
        raise Fail("cannot count the server's descriptors: %s" % e)


def wait_accepted(d, pid, n):
    """Until server process pid holds n descriptors or more (it has accepted
    our connections); fails once the count stops growing for d.timeout s."""
    last, last_change = -1, time.monotonic()
    while True:
        now = server_fds(pid)
        if now >= n:
            return
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > d.timeout:
            raise Fail("the server holds %d descriptors, not the %d connections" % (now, n))
        d.poll_once(0.05)


def check_open(conns):
    if any(c.eof for c in conns):
        raise Fail("the server closed %d connections" % sum(c.eof for c in conns))


# ---------------------------------------------------------------- swarm

PRINTABLE = bytes(range(33, 127))  # "!" to "~": 94 bytes, none of them LF


def partial_message(i, j, n):
    """A distinct message of n + 20 bytes whose first n bytes make no line:
    its body runs through PRINTABLE from a place that depends on i and j."""
    head = ("c%05d-m%d:" % (i, j)).encode()
    start, size = (i * 7 + j * 13) % 94, n + 19 - len(head)
    body = (PRINTABLE * ((start + size) // 94 + 1))[start:start + size]
    return head + body + b"\n"


def cmd_swarm(a):
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.on_data = check_echo
    base_fds = server_fds(a.pid) if a.partial and a.pid else 0
    t0 = time.monotonic()
    conns = connect_in_waves(d, a) if a.wave else d.connect_many(a.clients, a.window)
    t_conn = time.monotonic() - t0
    idle_rss = None
    if a.partial and a.pid:
        wait_server_read(d, conns)
        wait_accepted(d, a.pid, base_fds + len(conns))
        idle_rss = procfs.group_rss_kb(a.pid)
    total, partial_rss = swarm_messages(d, conns, a)
    rss = procfs.group_rss_kb(a.pid) if a.pid else 0
    check_open(conns)
    for c in conns:
        d.close(c)
    elapsed = time.monotonic() - t0
    print("swarm clients=%d messages=%d bytes=%d connect_s=%.2f total_s=%.2f rss_kb=%d%s"
          % (len(conns), len(conns) * a.messages, total, t_conn, elapsed, rss,
             "" if partial_rss is None else " idle_rss_kb=%d partial_rss_kb=%d"
             % (idle_rss or 0, partial_rss)))
    if a.max_rss_kb and rss >= a.max_rss_kb:
        raise Fail("server VmRSS with %d connections open is %d KiB, not under %d KiB"
                   % (len(conns), rss, a.max_rss_kb))
    if a.max_rss_kb and partial_rss is not None and partial_rss >= a.max_rss_kb:
        raise Fail("server VmRSS with %d connections each holding a %d-byte unfinished line"
                   " is %d KiB, not under %d KiB"
                   % (len(conns), a.partial, partial_rss, a.max_rss_kb))


def connect_in_waves(d, a):
    """--wave W: the connections open W at a time, and each wave is served
    (one whole line echoed on each) before the next opens. A handshake
    completes in the kernel whether or not the server accepts; a server that
    accepts more slowly than a burst of connects (a fork per client) would
    see its listen backlog overflow and the surplus dropped, which says how
    fast it accepts, not how many clients it holds. The waves hold it to the
    second."""
    conns = []
    while len(conns) < a.clients:
        wave = d.connect_many(min(a.wave, a.clients - len(conns)), a.window, first=len(conns))
        for c in wave:
            d.send(c, b"c%05d here\n" % c.i)
        d.echoed_all(wave)
        conns += wave
    return conns


def swarm_messages(d, conns, a):
    """--messages rounds: the first part of a message on every connection,
    then the rest on every one, then every echo. Returns (bytes sent, the
    server's RSS while each held an unfinished line, if --partial)."""
    total = 0
    partial_rss = None
    for j in range(a.messages):
        if a.partial:
            msgs = [partial_message(c.i, j, a.partial) for c in conns]
        else:
            msgs = [message(c.i, j) for c in conns]
        cut = (lambda m: 0) if a.whole else (lambda m: a.partial or len(m) // 2)
        if not a.whole:
            for c, m in zip(conns, msgs):
                d.send(c, m[:cut(m)])
            # the halves are on their way before any second half is sent
            d.run_until(lambda: all(not c.out for c in conns), "first halves not sent")
        if a.partial and j == 0:
            # The server has read every first part: each connection now holds
            # an unfinished line, and that is the memory measured.
            wait_server_read(d, conns)
            partial_rss = procfs.group_rss_kb(a.pid) if a.pid else 0
        for c, m in zip(conns, msgs):
            d.send(c, m[cut(m):])
            total += len(m)
        d.echoed_all(conns)
    return total, partial_rss


# ---------------------------------------------------------------- pipeline

def pattern_message(i, r, j, size):
    """Message j of round r on connection i: a header naming all three, then
    `size` bytes running through every byte value but LF in an order that
    depends on i, so bytes strayed from another connection cannot match."""
    head = b"c%05d-r%d-m%d:" % (i, r, j)
    step = 1 + (i * 2) % 253
    cycle = bytes(v + (v >= 10) for v in ((i + k * step) % 255 for k in range(255)))
    start = (r * 7 + j) % 255
    fill = (cycle * (2 + (start + size) // 255))[start:start + size]
    return head + fill + b"\n"


def cmd_pipeline(a):
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.on_data = check_echo
    t0 = time.monotonic()
    conns = d.connect_many(a.clients, a.window)
    total = 0
    for r in range(a.rounds):
        # every connection sends all its messages of the round before
        # anything is read: depth messages in flight on each, all at once
        for c in conns:
            sizes = [(c.i * 131 + r * 71 + j * 37) % 600 for j in range(a.depth)]
            sizes[(c.i + r) % a.depth] = a.max_size  # one long one per round
            data = b"".join(pattern_message(c.i, r, j, n) for j, n in enumerate(sizes))
            d.send(c, data)
            total += len(data)
        d.echoed_all(conns)
    check_open(conns)
    # check_echo compared every byte as it came; compare once more, whole
    for c in conns:
        if c.got != c.sent_all:
            raise Fail("connection %d: its echo is not what it sent" % c.i)
        d.close(c)
    print("pipeline clients=%d messages=%d bytes=%d total_s=%.2f"
          % (len(conns), len(conns) * a.rounds * a.depth, total, time.monotonic() - t0))


# ---------------------------------------------------------------- waves

def cmd_waves(a):
    """R rounds: N connections each hold a PARTIAL-byte unfinished message,
    then finish it, get it back, half-close and see the server's EOF; the
    server's RSS is read while all N hold their partial line and once all
    are gone. The idle RSS after every round must stay within
    --max-growth-kb of its value before the first round."""
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.on_data = check_echo
    t0 = time.monotonic()
    start = procfs.rss_kb(a.pid) or 0
    worst = 0
    for r in range(1, a.rounds + 1):
        held, idle = wave(d, a)
        worst = max(worst, idle - start)
        print("round %d clients=%d holding_kb=%d idle_kb=%d" % (r, a.clients, held, idle), flush=True)
    print("waves rounds=%d clients=%d partial=%d start_kb=%d worst_growth_kb=%d total_s=%.2f"
          % (a.rounds, a.clients, a.partial, start, worst, time.monotonic() - t0))
    if a.max_growth_kb and worst >= a.max_growth_kb:
        raise Fail("server RSS with no client open grew by %d KiB over its start (%d KiB); "
                   "limit %d KiB" % (worst, start, a.max_growth_kb))


def wave(d, a):
    """One round of waves; returns the server's RSS (KiB) while every
    connection held its partial line, and after all were gone."""
    conns = d.connect_many(a.clients, a.window)
    for c in conns:
        d.send(c, b"%07d" % c.i + b"p" * (a.partial - 7))
    d.run_until(lambda: all(not c.out for c in conns), "partial lines not sent")
    # every partial line is at the server once it has taken them all:
    # wait until its RSS stops growing, bounded, to read it while held
    held = procfs.rss_kb(a.pid) or 0
    for _ in range(100):
        time.sleep(0.02)  # a sampling interval, not a synchronisation
        now = procfs.rss_kb(a.pid) or 0
        if now <= held:
            break
        held = now
    for c in conns:
        d.send(c, b"\n")
    d.echoed_all(conns)
    for c in conns:
        c.sock.shutdown(SHUT_WR)
    # the server closes each connection after its EOF: all closed, all freed
    d.run_until(lambda: all(c.eof for c in conns),
                lambda: "%d connections not closed by the server" % sum(not c.eof for c in conns))
    for c in conns:
        d.close(c)
    return held, procfs.rss_kb(a.pid) or 0
