"""scale_push: the probe's push: one client sends without reading until the
server stops reading it (backpressure), a bystander must be served
meanwhile, then everything comes back in order; the server's memory is
watched throughout (see probelib/main.py)."""
import mmap
import os
import select
import time
from _socket import AF_INET, IPPROTO_TCP, SHUT_WR, SOCK_STREAM, TCP_NODELAY, socket

from probelib import procfs
from probelib.scale_driver import HOST, Fail, message

CHUNK = 262144


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


def cached_push_data(total, cache_dir):
    """push_data(total), kept in cache_dir for the next push of that size and
    mapped from there (read-only, into the page cache's own pages)."""
    path = os.path.join(cache_dir, "push-%d.lines" % total)
    try:
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ,
                             flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
    except FileNotFoundError:
        pass
    data = push_data(total)
    # others may be making it too: each writes its own, the rename is atomic
    tmp = "%s.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return data


def count_lines(data):
    """The LFs in data (bytes or a mapping, which has find but no count)."""
    n = 0
    at = data.find(b"\n")
    while at >= 0:
        n += 1
        at = data.find(b"\n", at + 1)
    return n


class RssWatch:
    """The server's process group's RSS, sampled at most every 10 ms. Its
    members are listed twice a second: that reads every process of the
    machine, and a busy machine has hundreds (it cost more CPU than the
    push itself)."""

    def __init__(self, pgid):
        self.pgid = pgid
        self.start = self.peak = procfs.group_rss_kb(pgid)
        self.last = 0.0
        self.members, self.listed_at = [], -1.0

    def sample(self):
        now = time.monotonic()
        if now - self.last >= 0.01:
            self.last = now
            if now - self.listed_at >= 0.5:
                self.members, self.listed_at = procfs.group_pids(self.pgid) or [self.pgid], now
            self.peak = max(self.peak, sum(procfs.rss_kb(pid) or 0 for pid in self.members))


def connect(port, timeout):
    s = socket(AF_INET, SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((HOST, port))
    return s


def cmd_push(a):
    data = cached_push_data(a.bytes, a.cache) if a.cache else push_data(a.bytes)
    total = len(data)
    rss = RssWatch(a.pid)
    t0 = time.monotonic()
    s = connect(a.port, a.timeout)
    s.setblocking(False)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLOUT)
    stalled_at = send_until_stalled(s, ep, memoryview(data), a.stall, rss)
    if stalled_at >= total:
        raise Fail("the server took all %d bytes while the client read nothing: no backpressure"
                   % total)
    worst, by_bytes = bystander(a, rss) if a.bystander else (0.0, 0)
    ep.modify(s.fileno(), select.EPOLLIN | select.EPOLLOUT)
    rcvd = read_back(s, ep, data, stalled_at, a, rss, t0)
    s.close()
    if rcvd != total:
        raise Fail("EOF after %d of %d echoed bytes" % (rcvd, total))
    growth = rss.peak - rss.start
    print("push messages=%d bytes=%d stalled_at=%d rss_before_kb=%d rss_max_kb=%d growth_kb=%d "
          "bystander_worst_ms=%.1f total_s=%.2f"
          % (count_lines(data) + a.bystander, total + by_bytes, stalled_at, rss.start, rss.peak,
             growth, worst * 1000, time.monotonic() - t0))
    if a.max_growth_kb and growth >= a.max_growth_kb:
        raise Fail("server RSS grew by %d KiB (from %d to %d) during the push; limit %d KiB"
                   % (growth, rss.start, rss.peak, a.max_growth_kb))


def send_until_stalled(s, ep, view, stall, rss):
    """1. Sends without reading until the socket stays unwritable for
    `stall` seconds (the server stopped reading); returns the bytes sent."""
    sent = 0
    while sent < len(view):
        rss.sample()
        try:
            sent += s.send(view[sent:sent + CHUNK])
            continue
        except BlockingIOError:
            pass
        if not ep.poll(stall):
            break  # unwritable for `stall` seconds: the server stopped reading
    rss.sample()
    return sent


def bystander(a, rss):
    """2. Another client is served meanwhile: --bystander ping-pongs, each
    within --max-latency. Returns (the slowest in seconds, bytes echoed)."""
    worst = 0.0
    by_bytes = 0
    b = connect(a.port, a.max_latency)
    b.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
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
        except TimeoutError:
            raise Fail("bystander: echo %d not back within %.1f s while another client "
                       "floods (got %r)" % (k, a.max_latency, got))
        if got != msg:
            raise Fail("bystander: sent %r, got %r" % (msg, got))
        worst = max(worst, time.monotonic() - t)
        by_bytes += len(msg)
        rss.sample()
    b.close()
    return worst, by_bytes


def read_back(s, ep, data, sent, a, rss, t0):
    """3. Reads everything back while sending the rest, then half-closes;
    every byte must come back in order. Returns the bytes received."""
    view, total = memoryview(data), len(data)
    rcvd = 0
    shut = False
    last = time.monotonic()
    while True:
        rss.sample()
        moved = False
        if sent < total:
            try:
                n = s.send(view[sent:sent + CHUNK])
                sent += n
                moved = n > 0
            except BlockingIOError:
                pass
        elif not shut:
            s.shutdown(SHUT_WR)
            shut = True
            ep.modify(s.fileno(), select.EPOLLIN)
        try:
            chunk = s.recv(1 << 20)
        except BlockingIOError:
            chunk = None
        except OSError as e:
            raise Fail("recv after %d of %d bytes: %s" % (rcvd, total, e))
        if chunk == b"":
            return rcvd
        if chunk:
            check_chunk(data, rcvd, chunk)
            rcvd += len(chunk)
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


def check_chunk(data, rcvd, chunk):
    """chunk must be what was sent from offset rcvd on."""
    n, total = len(chunk), len(data)
    if rcvd + n > total or memoryview(data)[rcvd:rcvd + n] != chunk:
        at = next((k for k in range(min(n, total - rcvd)) if data[rcvd + k] != chunk[k]),
                  min(n, total - rcvd))
        raise Fail("echo differs at byte %d: sent %r, got %r"
                   % (rcvd + at, data[rcvd + at:rcvd + at + 40], chunk[at:at + 40]))
