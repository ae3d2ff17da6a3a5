#!/usr/bin/env python3
"""scaleprobe: the many-connection and heavy-traffic driver behind tests/scale.bats.

Python 3 standard library only; it talks to 127.0.0.1 only. Every socket is
non-blocking and driven by one epoll loop, and every wait is bounded: a stage
fails as soon as nothing moves for --timeout seconds (default
$ECHOPROBE_TIMEOUT or 5), and the whole run is killed by an alarm after
--deadline seconds (default 60). So a broken server fails a test, it never
hangs it. The probe raises its own soft RLIMIT_NOFILE to the hard limit.

Exit status: 0 success, 1 a check failed (the reason is on stderr), 2 usage,
3 the overall deadline passed, 77 the machine cannot run the case (e.g. the
descriptor hard limit is too low); the reason is printed as "SKIP: ...".

Subcommands (all take --port; --pid PID names the server, whose whole process
group, fork children included, is measured)

  swarm N [--messages K] [--window W] [--max-rss-kb KB]
      Open N connections and keep all of them open. Every connection then
      sends K distinct messages, each in two halves (--whole: in one piece): the first half goes out
      on every connection, then the second half on every connection, then
      every echo of that message must come back byte for byte before the next
      message starts (so N partial messages are pending at the server at
      once, and all N are served while all N are open). With --max-rss-kb the
      server's VmRSS, read while all N are open and echoed, must stay below
      it. With --partial P each message is P+20 bytes and its first part is
      P bytes; once the server has read every first part (no server-side
      socket on the port has unread input, from /proc/net/tcp*) the server's
      VmRSS is read with N unfinished lines held ("partial_rss_kb"), and must
      stay below --max-rss-kb too; with --pid, also before any byte is sent,
      once the server holds all N ("idle_rss_kb"). Then all close. Prints "swarm clients=N
      messages=M bytes=B ...".

  pipeline N [--rounds R] [--depth D] [--max-size S]
      Open N connections and keep all of them open. In each of R rounds
      every connection sends D messages back to back without reading (up
      to 620 bytes each but one of S+20, every byte value but LF,
      in a pattern of its own), then all N read; every byte must come back
      on its own connection, in order (no byte crosses between
      connections). The server must allow messages of S+20 bytes
      (--max-line). Prints "pipeline clients=N messages=M bytes=B ...".

  ordered N [--close C]
      Open N connections one after another (each handshake completes before
      the next starts, so the server accepts them in this order and hands
      them ascending descriptors), send a message on each, and sort the
      connections into served (their echo came back) and refused (exactly
      "ERR server busy\\n", then EOF). The served ones must be a prefix of
      the order. Every served connection then echoes a second message (the
      refusals disturbed nobody), C served connections close, and a new
      client is tried until it is served (bounded). Prints
      "ordered served=S refused=R connections=C' refusals=R'" where C' and R'
      are what the server's summary must count.

  exhaust N --pid PID [--serial] [--cpu-window S] [--max-cpu F]
      N clients connect at once and each sends a message. Each is either
      served (its echo comes back) or refused ("ERR server busy\\n" then EOF);
      anything else fails. Once every client has its answer (with --serial:
      once the first is served, the rest waiting in the backlog) the server's
      CPU time (utime+stime of its process group) is measured over a window of
      S seconds with all N still open; it must be below F of the window. Then
      every served client echoes once more; with --serial each client closes
      as soon as it is served, so all N are served one after another. Prints
      "exhaust served=S refused=R cpu=F".

  waves N --pid PID [--rounds R] [--partial L] [--max-growth-kb KB]
      R rounds of: N connections each send an unfinished message of L bytes
      (default 4095) and hold it; the server's RSS is read; then each
      finishes it, gets its echo, half-closes and waits for the server's EOF;
      the RSS with no client open is read. Prints "round K ... holding_kb=
      idle_kb=" per round and "waves ... start_kb= worst_growth_kb=". With
      --max-growth-kb the idle RSS after any round must stay within KB of its
      value before the first round.

  push BYTES --pid PID [--max-growth-kb KB] [--bystander K] [--max-latency S]
      One client sends BYTES of numbered lines without reading until the
      socket stays unwritable for --stall seconds (the server stopped reading:
      backpressure); the server must not have taken it all. Meanwhile the
      server's RSS (its process group's) is sampled. With --bystander, K
      ping-pongs on a second connection must each complete within S seconds
      while the first client is stalled. Then the first client reads
      everything back while sending the rest, half-closes, and every byte
      must come back in order, then EOF. With --max-growth-kb the RSS may not
      grow by that much over its value before the push.

  slowloris N --pid PID --idle T --client BIN [--gap G] [--max-cpu F] [--max-latency S]
            [--ping-rate R]
      Slowloris against a server started with --idle-timeout T: N
      connections are each served one message ("hi"), then send one byte
      (never an LF) at once and another every G seconds (default 3, longer than T) until
      the server closes them. Each must get nothing but EOF, within T + 1
      seconds of its last byte (and not before T - 0.25); the time of an EOF
      is bounded by when the previous poll returned, so the probe's own
      lateness on a busy machine is not blamed on the server ("seen" is when
      the probe noticed). Meanwhile a well-behaved client (BIN --load, one
      ping-pong connection paced at R messages/s, default 50, a process of its
      own) runs from before the first
      trickler until all are closed: it must never fail, its median latency
      must stay under S seconds (default 0.25) and no echo may take 5 s. The server's own CPU time
      (utime+stime of its process group, from /proc: not wall time) from the
      moment all N are connected until all are closed must stay under F of
      that window (default 0.5). Prints "slowloris clients=N ... messages=P
      bytes=B cpu=F", P and B being what the server's summary must count.

  ping [--until-served S]
      Connect, send a message, expect its echo. With --until-served, a
      "ERR server busy" answer is retried until S seconds have passed.
      Prints "ping refusals=R" (the busy answers it received).
"""

import argparse
import collections
import json
import errno
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
BUSY = b"ERR server busy\n"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def group_pids(pgid):
    """The live processes of process group pgid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        # fields[0] state, [1] ppid, [2] pgrp
        if int(fields[2]) == pgid and fields[0] != b"Z":
            pids.append(int(name))
    return pids


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    # fields[11] utime, [12] stime (stat fields 14 and 15); for a thread group
    # leader they cover every thread
    return int(fields[11]) + int(fields[12])


def group_cpu(pgid):
    """{pid: utime+stime ticks} over the process group."""
    out = {}
    for pid in group_pids(pgid):
        t = cpu_ticks(pid)
        if t is not None:
            out[pid] = t
    return out


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def group_rss_kb(pgid):
    """VmRSS of process group pgid; of process pgid alone if it leads no
    group (a server started by make bench)."""
    return sum(rss_kb(pid) for pid in group_pids(pgid) or [pgid])


def measure_cpu(pgid, window):
    """Fraction of one CPU the group used over `window` seconds."""
    before = group_cpu(pgid)
    t0 = time.monotonic()
    time.sleep(window)  # a measurement window, not a synchronisation
    after = group_cpu(pgid)
    elapsed = time.monotonic() - t0
    used = sum(t - before.get(pid, 0) for pid, t in after.items())
    return used / CLK_TCK / elapsed


# ---------------------------------------------------------------- descriptors


def group_sockets(pgid):
    """How many sockets the processes of group pgid hold open."""
    count = 0
    for pid in group_pids(pgid) or [pgid]:
        try:
            names = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for name in names:
            try:
                count += os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:")
            except OSError:
                pass
    return count


def wait_for_sockets(pgid, n, timeout, client):
    """Waits until group pgid holds n sockets (a client was accepted)."""
    deadline = time.monotonic() + timeout
    while group_sockets(pgid) < n:
        if client.poll() is not None:
            raise Fail("the well-behaved client exited (status %d) before it was accepted: %s"
                       % (client.returncode, client.stderr.read().decode()))
        if time.monotonic() > deadline:
            raise Fail("the well-behaved client was not accepted within %.1f s" % timeout)
        time.sleep(0.01)  # polling step of a bounded wait


def want_descriptors(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < n:
        raise Skip("the descriptor hard limit is %d; this case needs %d" % (hard, n))
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# ---------------------------------------------------------------- connections


class Conn:
    __slots__ = ("i", "sock", "fd", "connected", "out", "sent_all", "got", "eof", "closed")

    def __init__(self, i):
        self.i = i
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
            raise Fail("connection %d: connect: %s" % (i, os.strerror(rc)))
        self.by_fd[c.fd] = c
        self.ep.register(c.fd, select.EPOLLOUT)
        return c

    def connect_many(self, n, window):
        """Opens n connections, at most `window` handshakes at a time."""
        conns = []
        pending = 0
        last = time.monotonic()
        while len(conns) < n or pending:
            while len(conns) < n and pending < window:
                conns.append(self.start_connect(len(conns)))
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
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise Fail("connection %d: connect: %s" % (c.i, os.strerror(err)))
                c.connected = True
                connected += 1
                self.moved += 1
                self._update(c)
                continue
            if ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                try:
                    data = c.sock.recv(65536)
                except BlockingIOError:
                    data = None
                except OSError as e:
                    raise Fail("connection %d: recv after %d bytes %r: %s"
                               % (c.i, len(c.got), bytes(c.got[-40:]), e))
                if data is not None:
                    self.moved += 1
                    if data:
                        c.got += data
                    else:
                        # nothing more can come; unregister, or EPOLLHUP
                        # would be reported for ever
                        c.eof = True
                        self.ep.unregister(c.fd)
                    if self.on_data:
                        self.on_data(c, data)
            if c.out and ev & select.EPOLLOUT and not c.eof and not c.closed:
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
        return connected

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


# ---------------------------------------------------------------- swarm


def unread_server_input(port, client_ports):
    """(sockets, bytes): the server's side of our connections (established,
    local port `port`, remote port one of client_ports) and the input they
    hold unread."""
    count = unread = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    # local_address is ADDR:PORT in hex; st 01 is ESTABLISHED;
                    # tx_queue:rx_queue in hex
                    if (fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port
                            and int(fields[2].rsplit(":", 1)[1], 16) in client_ports):
                        count += 1
                        unread += int(fields[4].split(":")[1], 16)
        except OSError:
            pass
    return count, unread


def wait_server_read(d, client_ports, n):
    """Until the server has read everything our n connections sent: fails
    once the server's unread input stops shrinking for d.timeout seconds."""
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


def count_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError as e:
        raise Fail("cannot count the server's descriptors: %s" % e)


def wait_accepted(d, pid, n):
    """Until server process pid holds n descriptors or more (it has accepted
    our connections); fails once the count stops growing for d.timeout s."""
    last, last_change = -1, time.monotonic()
    while True:
        now = count_fds(pid)
        if now >= n:
            return
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > d.timeout:
            raise Fail("the server holds %d descriptors, not the %d connections" % (now, n))
        d.poll_once(0.05)


def partial_message(i, j, n):
    """A distinct message of n + 20 bytes whose first n bytes make no line."""
    head = ("c%05d-m%d:" % (i, j)).encode()
    body = bytes((i * 7 + j * 13 + k) % 94 + 33 for k in range(n + 19 - len(head)))
    return head + body + b"\n"


def cmd_swarm(a):
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.on_data = check_echo
    base_fds = count_fds(a.pid) if a.partial and a.pid else 0
    t0 = time.monotonic()
    conns = d.connect_many(a.clients, a.window)
    t_conn = time.monotonic() - t0
    total = 0
    partial_rss = idle_rss = None
    if a.partial and a.pid:
        wait_server_read(d, {c.sock.getsockname()[1] for c in conns}, len(conns))
        wait_accepted(d, a.pid, base_fds + len(conns))
        idle_rss = group_rss_kb(a.pid)
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
            wait_server_read(d, {c.sock.getsockname()[1] for c in conns}, len(conns))
            partial_rss = group_rss_kb(a.pid) if a.pid else 0
        for c, m in zip(conns, msgs):
            d.send(c, m[cut(m):])
            total += len(m)
        d.run_until(lambda: all(len(c.got) == len(c.sent_all) for c in conns), missing(conns))
    rss = group_rss_kb(a.pid) if a.pid else 0
    if any(c.eof for c in conns):
        raise Fail("the server closed %d connections" % sum(c.eof for c in conns))
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
        d.run_until(lambda: all(len(c.got) == len(c.sent_all) for c in conns), missing(conns))
    if any(c.eof for c in conns):
        raise Fail("the server closed %d connections" % sum(c.eof for c in conns))
    # check_echo compared every byte as it came; compare once more, whole
    for c in conns:
        if c.got != c.sent_all:
            raise Fail("connection %d: its echo is not what it sent" % c.i)
        d.close(c)
    print("pipeline clients=%d messages=%d bytes=%d total_s=%.2f"
          % (len(conns), len(conns) * a.rounds * a.depth, total, time.monotonic() - t0))


# ---------------------------------------------------------------- served or refused


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


def try_until_served(d, limit, start_i, salt="-new"):
    """A new client, retried while the server answers busy; returns the
    number of refusals seen."""
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
    d.run_until(lambda: all(outcome(c) for c in conns),
                lambda: "%d of %d connections have neither their echo nor a refusal"
                % (sum(outcome(c) is None for c in conns), len(conns)))
    served = [c for c in conns if outcome(c) == "served"]
    refused = [c for c in conns if outcome(c) == "refused"]
    if served and refused and max(c.i for c in served) > min(c.i for c in refused):
        raise Fail("connection %d was refused but the later connection %d was served"
                   % (min(c.i for c in refused), max(c.i for c in served)))
    for c in refused:
        d.close(c)
    # the refusals disturbed none of the served
    for c in served:
        d.send(c, message(c.i, 1))
    d.run_until(lambda: all(len(c.got) == len(c.sent_all) for c in served), missing(served))
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
        d.run_until(lambda: all(outcome(c) for c in conns),
                    lambda: "%d of %d connections have neither their echo nor a refusal"
                    % (sum(outcome(c) is None for c in conns), len(conns)))
    cpu = measure_cpu(a.pid, a.cpu_window) if a.cpu_window > 0 else 0.0
    answered = [c for c in conns if outcome(c)]
    if a.serial and len(answered) != 1:
        raise Fail("a serial server answered %d clients at once" % len(answered))
    served = [c for c in conns if outcome(c) == "served"]
    refused = [c for c in conns if outcome(c) == "refused"]
    for c in refused:
        d.close(c)
    if a.serial:
        # each client leaves as soon as it is served; the next is then taken
        def step(c, data):
            classify(c, data)
            if outcome(c) == "served":
                served_later.append(c)
                d.close(c)
        served_later = []
        for c in served:
            d.close(c)
        d.on_data = step
        d.run_until(lambda: all(c.closed for c in conns),
                    lambda: "%d of %d queued clients not served yet"
                    % (sum(not c.closed for c in conns), len(conns)))
        served = served + served_later
        refused = [c for c in conns if outcome(c) == "refused"]
    else:
        for c in served:
            d.send(c, message(c.i, 1))
        d.run_until(lambda: all(len(c.got) == len(c.sent_all) for c in served), missing(served))
    for c in conns:
        d.close(c)
    print("exhaust served=%d refused=%d messages=%d bytes=%d cpu=%.3f"
          % (len(served), len(refused), sum(len(c.sent_all) > 0 for c in served) * (1 if a.serial else 2),
             sum(len(c.sent_all) for c in served), cpu))
    if a.cpu_window > 0 and cpu >= a.max_cpu:
        raise Fail("the server used %.0f%% of a CPU over %.1f s with %d clients open (limit %.0f%%)"
                   % (cpu * 100, a.cpu_window, len(conns), a.max_cpu * 100))


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


# ---------------------------------------------------------------- slowloris


def cmd_slowloris(a):
    want_descriptors(a.clients + 64)
    d = Driver(a.port, a.timeout)
    d.maxevents = a.clients + 16  # every ready event in one round: ready_since holds
    limit_hi, limit_lo = a.idle + 1.0, a.idle - 0.25
    last_sent = {}  # conn -> when its last byte went out
    closed_after = {}  # conn -> (earliest, latest) seconds from its last byte to its EOF
    trickled = [0]
    due = collections.deque()  # (when the next byte is due, conn), in order

    # Each connection is served once ("hi") before it trickles: the idle clock
    # of a server that forks per connection starts only when its child runs,
    # which on a busy machine can be seconds after the handshake.
    greeting = b"hi\n"

    def on_data(c, data):
        if data:
            if bytes(c.got) != greeting[:len(c.got)]:
                raise Fail("trickling connection %d got %r; only its greeting's echo and EOF may come"
                           % (c.i, bytes(c.got[:60])))
        elif c not in last_sent:
            raise Fail("connection %d closed before its greeting came back (got %r)" % (c.i, bytes(c.got)))
        else:
            closed_after[c] = (d.ready_since - last_sent[c], time.monotonic() - last_sent[c])

    d.on_data = on_data

    def trickle(c, now):
        d.send(c, b"x")
        trickled[0] += 1
        last_sent[c] = now
        due.append((now + a.gap, c))

    # The well-behaved client: echo-client's ping-pong, a process of its own
    # (in C, every echo checked, latency measured by itself), from before the
    # first trickler until after the last is closed; SIGINT ends its run. It
    # is paced (--ping-rate): as fast as it can go, it would keep the server
    # busy by itself, and the CPU bound is about what the idle ones cost. A
    # paced client measures from when each ping was due, and at depth 1 it
    # can never catch up once a round trip takes longer than the pace: 50/s
    # leaves 20 ms for one, which a machine at load 28 still meets.
    sockets_before = group_sockets(a.pid)
    client = subprocess.Popen(
        [a.client, "--load", "--host", HOST, "--port", str(a.port), "--connections", "1",
         "--depth", "1", "--size", "64", "--rate", str(a.ping_rate), "--duration", "3600", "--warmup", "0",
         "--json"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Its connection must be taken before the tricklers queue up behind
        # it: a fork server would otherwise fork for all of them first, and
        # every ping due meanwhile would count as late.
        wait_for_sockets(a.pid, sockets_before + 1, a.timeout, client)
        conns, pending, last_move = [], set(), time.monotonic()
        while len(conns) < a.clients or pending:
            while len(conns) < a.clients and len(pending) < a.window:
                conns.append(d.start_connect(len(conns)))
                pending.add(conns[-1])
            moved = d.moved
            d.poll_once(0.01)
            if d.moved != moved:
                last_move = time.monotonic()
            now = time.monotonic()
            for c in [c for c in pending if c.connected and not c.sent_all]:
                d.send(c, greeting)
            for c in [c for c in pending if c.got == greeting]:
                pending.discard(c)
                trickle(c, now)
            if now - last_move > a.timeout:
                raise Fail("%d connections not established and served once after %.1f s without progress"
                           % (len(pending), a.timeout))
        held_from = time.monotonic()
        cpu_before = group_cpu(a.pid)
        last_move, mark = time.monotonic(), d.moved
        while len(closed_after) < len(conns):
            d.poll_once(0.01)
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, c = due.popleft()
                if c not in closed_after and not c.eof:
                    trickle(c, now)
            if d.moved != mark:
                mark, last_move = d.moved, now
            elif now - last_move > a.timeout:
                raise Fail("%d of %d trickling connections still open, nothing moved for %.1f s"
                           % (len(conns) - len(closed_after), len(conns), a.timeout))
        window = time.monotonic() - held_from
        cpu_after = group_cpu(a.pid)
        for c in conns:
            d.close(c)
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=a.timeout + 30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    cpu = sum(t - cpu_before.get(pid, 0) for pid, t in cpu_after.items()) / CLK_TCK / window
    try:
        report = json.loads(out)
    except ValueError:
        raise Fail("the well-behaved client (status %d) reported no JSON: %s" % (client.returncode, err.decode()))
    lat = report["latency_us"]
    # The close came between the two bounds; it was late only if even the
    # earliest it can have come is late, and early only if even the latest is.
    earliest = sorted(lo for lo, hi in closed_after.values())
    latest = sorted(hi for lo, hi in closed_after.values())
    print("slowloris clients=%d closed=%d trickled=%d eof_after_min=%.2f eof_after_max=%.2f "
          "(seen %.2f) held_s=%.2f cpu=%.3f pings=%d ping_p50_ms=%.2f ping_p99_ms=%.2f ping_max_ms=%.2f "
          "messages=%d bytes=%d"
          % (len(conns), len(latest), trickled[0], latest[0], earliest[-1], latest[-1], window, cpu,
             report["verified"], lat["p50"] / 1000, lat["p99"] / 1000, lat["max"] / 1000,
             report["verified"] + len(conns), report["verified"] * 64 + len(greeting) * len(conns)))
    if client.returncode != 0 or report["errors"]:
        raise Fail("the well-behaved client was not served throughout: status %d, %s"
                   % (client.returncode, report["error_detail"]))
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


# ---------------------------------------------------------------- push


def push_data(total):
    """`total` bytes of numbered lines of varying length (the last one is
    cut short to fit, still ending in LF)."""
    parts = []
    size = 0
    n = 0
    alphabet = bytes(range(33, 127))
    ring = alphabet * (4000 // len(alphabet) + 2)
    while size < total:
        length = 200 + (n * 7919) % 3800
        k = n % len(alphabet)
        line = b"%09d %s\n" % (n, ring[k:k + length])
        if size + len(line) > total:
            line = line[:total - size - 1] + b"\n"
        parts.append(line)
        size += len(line)
        n += 1
    return b"".join(parts)


def cmd_push(a):
    data = push_data(a.bytes)
    view = memoryview(data)
    total = len(data)
    pgid = a.pid
    rss0 = group_rss_kb(pgid)
    rss_max = rss0
    last_sample = 0.0
    members, listed_at = [], -1.0

    def sample():
        """The group's RSS every 10 ms. Its members are listed twice a
        second: that reads every process of the machine, and a busy machine
        has hundreds (it cost more CPU than the push itself)."""
        nonlocal rss_max, last_sample, members, listed_at
        now = time.monotonic()
        if now - last_sample >= 0.01:
            last_sample = now
            if now - listed_at >= 0.5:
                members, listed_at = group_pids(pgid) or [pgid], now
            rss_max = max(rss_max, sum(rss_kb(pid) for pid in members))

    t0 = time.monotonic()
    s = socket.create_connection((HOST, a.port), timeout=a.timeout)
    s.setblocking(False)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLOUT)
    sent = 0
    # 1. send without reading until the socket stays unwritable
    while sent < total:
        sample()
        try:
            sent += s.send(view[sent:sent + 262144])
            continue
        except BlockingIOError:
            pass
        if not ep.poll(a.stall):
            break  # unwritable for a.stall seconds: the server stopped reading
    stalled_at = sent
    sample()
    if stalled_at >= total:
        raise Fail("the server took all %d bytes while the client read nothing: no backpressure"
                   % total)
    # 2. another client is served meanwhile
    worst = 0.0
    by_bytes = 0
    if a.bystander:
        b = socket.create_connection((HOST, a.port), timeout=a.max_latency)
        b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for k in range(a.bystander):
            msg = message(1, k, "-bystander")
            t = time.monotonic()
            b.sendall(msg)
            got = b""
            try:
                while len(got) < len(msg):
                    chunk = b.recv(len(msg) - len(got))
                    if not chunk:
                        raise Fail("bystander: EOF after %r" % got)
                    got += chunk
            except socket.timeout:
                raise Fail("bystander: echo %d not back within %.1f s while another client "
                           "floods (got %r)" % (k, a.max_latency, got))
            if got != msg:
                raise Fail("bystander: sent %r, got %r" % (msg, got))
            worst = max(worst, time.monotonic() - t)
            by_bytes += len(msg)
            sample()
        b.close()
    # 3. read everything back while sending the rest, then half-close
    ep.modify(s.fileno(), select.EPOLLIN | select.EPOLLOUT)
    rcvd = 0
    shut = False
    last = time.monotonic()
    while True:
        sample()
        moved = False
        if sent < total:
            try:
                n = s.send(view[sent:sent + 262144])
                sent += n
                moved = n > 0
            except BlockingIOError:
                pass
        elif not shut:
            s.shutdown(socket.SHUT_WR)
            shut = True
            ep.modify(s.fileno(), select.EPOLLIN)
        try:
            chunk = s.recv(1 << 20)
        except BlockingIOError:
            chunk = None
        except OSError as e:
            raise Fail("recv after %d of %d bytes: %s" % (rcvd, total, e))
        if chunk == b"":
            break
        if chunk:
            n = len(chunk)
            if rcvd + n > total or view[rcvd:rcvd + n] != chunk:
                at = next((k for k in range(min(n, total - rcvd)) if data[rcvd + k] != chunk[k]),
                          min(n, total - rcvd))
                raise Fail("echo differs at byte %d: sent %r, got %r"
                           % (rcvd + at, bytes(view[rcvd + at:rcvd + at + 40]), chunk[at:at + 40]))
            rcvd += n
            moved = True
        if moved:
            last = time.monotonic()
        elif time.monotonic() - last > a.timeout:
            raise Fail("nothing moved for %.1f s: %d of %d bytes sent, %d back"
                       % (a.timeout, sent, total, rcvd))
        else:
            ep.poll(0.05)
        if a.limit and time.monotonic() - t0 > a.limit:
            raise Fail("push not done after %.1f s: %d of %d bytes sent, %d back"
                       % (a.limit, sent, total, rcvd))
    s.close()
    if rcvd != total:
        raise Fail("EOF after %d of %d echoed bytes" % (rcvd, total))
    growth = rss_max - rss0
    print("push messages=%d bytes=%d stalled_at=%d rss_before_kb=%d rss_max_kb=%d growth_kb=%d "
          "bystander_worst_ms=%.1f total_s=%.2f"
          % (data.count(b"\n") + a.bystander, total + by_bytes, stalled_at, rss0, rss_max, growth,
             worst * 1000, time.monotonic() - t0))
    if a.max_growth_kb and growth >= a.max_growth_kb:
        raise Fail("server RSS grew by %d KiB (from %d to %d) during the push; limit %d KiB"
                   % (growth, rss0, rss_max, a.max_growth_kb))


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
    start = rss_kb(a.pid)
    worst = 0
    for r in range(1, a.rounds + 1):
        conns = d.connect_many(a.clients, a.window)
        for c in conns:
            d.send(c, b"%07d" % c.i + b"p" * (a.partial - 7))
        d.run_until(lambda: all(not c.out for c in conns), "partial lines not sent")
        # every partial line is at the server once it has taken them all:
        # wait until its RSS stops growing, bounded, to read it while held
        held = rss_kb(a.pid)
        for _ in range(100):
            time.sleep(0.02)  # a sampling interval, not a synchronisation
            now = rss_kb(a.pid)
            if now <= held:
                break
            held = now
        for c in conns:
            d.send(c, b"\n")
        d.run_until(lambda: all(len(c.got) == len(c.sent_all) for c in conns), missing(conns))
        for c in conns:
            c.sock.shutdown(socket.SHUT_WR)
        # the server closes each connection after its EOF: all closed, all freed
        d.run_until(lambda: all(c.eof for c in conns),
                    lambda: "%d connections not closed by the server" % sum(not c.eof for c in conns))
        for c in conns:
            d.close(c)
        idle = rss_kb(a.pid)
        worst = max(worst, idle - start)
        print("round %d clients=%d holding_kb=%d idle_kb=%d" % (r, len(conns), held, idle), flush=True)
    print("waves rounds=%d clients=%d partial=%d start_kb=%d worst_growth_kb=%d total_s=%.2f"
          % (a.rounds, a.clients, a.partial, start, worst, time.monotonic() - t0))
    if a.max_growth_kb and worst >= a.max_growth_kb:
        raise Fail("server RSS with no client open grew by %d KiB over its start (%d KiB); "
                   "limit %d KiB" % (worst, start, a.max_growth_kb))


# ---------------------------------------------------------------- main


def main():
    default_timeout = float(os.environ.get("ECHOPROBE_TIMEOUT", "5"))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--timeout", type=float, default=default_timeout)
    p.add_argument("--deadline", type=float, default=60)
    sub = p.add_subparsers(dest="cmd", required=True)

    q = sub.add_parser("swarm")
    q.add_argument("clients", type=int)
    q.add_argument("--messages", type=int, default=3)
    q.add_argument("--window", type=int, default=256)
    q.add_argument("--whole", action="store_true", help="send each message in one piece")
    q.add_argument("--partial", type=int, default=0,
                   help="first part of each message: this many bytes, measured while held")
    q.add_argument("--pid", type=int, default=0)
    q.add_argument("--max-rss-kb", type=int, default=0)

    q = sub.add_parser("pipeline")
    q.add_argument("clients", type=int)
    q.add_argument("--rounds", type=int, default=2)
    q.add_argument("--depth", type=int, default=4)
    q.add_argument("--max-size", type=int, default=6000)
    q.add_argument("--window", type=int, default=256)

    q = sub.add_parser("ordered")
    q.add_argument("clients", type=int)
    q.add_argument("--close", type=int, default=10)

    q = sub.add_parser("exhaust")
    q.add_argument("clients", type=int)
    q.add_argument("--pid", type=int, required=True)
    q.add_argument("--serial", action="store_true")
    q.add_argument("--cpu-window", type=float, default=1.0)
    q.add_argument("--max-cpu", type=float, default=0.2)

    q = sub.add_parser("push")
    q.add_argument("bytes", type=int)
    q.add_argument("--pid", type=int, required=True)
    q.add_argument("--stall", type=float, default=0.3)
    q.add_argument("--max-growth-kb", type=int, default=0)
    q.add_argument("--bystander", type=int, default=0)
    q.add_argument("--max-latency", type=float, default=1.0)
    q.add_argument("--limit", type=float, default=0.0,
                   help="seconds the whole push may take (0: no limit; a stall is caught by --timeout)")

    q = sub.add_parser("slowloris")
    q.add_argument("clients", type=int)
    q.add_argument("--pid", type=int, required=True)
    q.add_argument("--idle", type=float, required=True)
    q.add_argument("--gap", type=float, default=3.0)
    q.add_argument("--window", type=int, default=512)
    q.add_argument("--max-cpu", type=float, default=0.5)
    q.add_argument("--max-latency", type=float, default=0.25)
    q.add_argument("--ping-rate", type=int, default=50, help="the well-behaved client's messages per second")
    q.add_argument("--client", required=True, help="bin/echo-client, the well-behaved client")

    q = sub.add_parser("waves")
    q.add_argument("clients", type=int)
    q.add_argument("--rounds", type=int, default=3)
    q.add_argument("--partial", type=int, default=4095)
    q.add_argument("--window", type=int, default=256)
    q.add_argument("--pid", type=int, required=True)
    q.add_argument("--max-growth-kb", type=int, default=0)

    q = sub.add_parser("ping")
    q.add_argument("--until-served", type=float, default=0)

    a = p.parse_args()
    if a.port <= 0:
        p.error("--port is required")

    def on_alarm(signo, frame):
        log("scaleprobe %s: FAIL: not done after the %.0f s deadline" % (a.cmd, a.deadline))
        os._exit(3)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(a.deadline)))
    try:
        {"swarm": cmd_swarm, "pipeline": cmd_pipeline, "ordered": cmd_ordered,
         "exhaust": cmd_exhaust, "push": cmd_push, "ping": cmd_ping,
         "slowloris": cmd_slowloris, "waves": cmd_waves}[a.cmd](a)
    except Skip as e:
        print("SKIP: %s" % e)
        return 77
    except Fail as e:
        log("scaleprobe %s: FAIL: %s" % (a.cmd, e))
        return 1
    except OSError as e:
        log("scaleprobe %s: FAIL: %s" % (a.cmd, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
