#!/usr/bin/env python3
"""soak: a long run of mixed traffic against one server model, with nothing lost.

usage: tests/soak.py MODEL [--messages N] [--bin DIR] [--json FILE]

Starts bin/echo-MODEL on 127.0.0.1 (port 0) and drives it until N echoed
messages have been verified (default 10,000,000), in rounds. Each round runs,
at the same time (one after another for a serial model, which serves one
client at a time):

  * bin/echo-client --load processes (C, every echoed byte checked), with
    message sizes from 1 byte to max-line (4096, LF included) and depths from
    1 (ping-pong) to 64 (pipelined); their connections last one round, so
    connections come and go;
  * a churner (here, in Python): short connections that send messages of
    random sizes (1 byte to max-line) in random pieces and check every echo,
    then either half-close and expect EOF, or send half a message and reset
    (RST) mid-stream.

A datagram model (bin/echo-udp) has no connections and no framing: its
rounds run echo-client --load --udp processes (sizes 1 byte to max-line, 1 to
16 sockets each, one datagram in flight per socket) and no churner. UDP may
drop a datagram, so the check there is that the server echoed no fewer than
the clients verified and no more than they verified plus what they counted
lost; the losses are reported (on loopback, at this load, none are expected).

Throughout, the server's RSS (its whole process group) is sampled every
second. At the end: the server's descriptors (/proc/PID/fd) must be back to
the count it had before the first client, its process group must be back to
the processes it had then (itself, and a process pool's workers: none
replaced, none left over), SIGTERM must stop it with exit 0, and its summary
line must count exactly the connections, messages and bytes the clients
verified. Prints the figures (and the RSS slope after warm-up, a
least-squares fit over the samples after the first quarter of the run) and
exits 1 if anything does not hold.
Talks to 127.0.0.1 only; every wait is bounded.
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

from probelib.procfs import fd_count, group_pids, group_rss_kb

MAX_LINE = 4096
# (size, depth, connections) of the load clients, used in turn, three a round
MIX = [(1, 64, 4), (4096, 1, 4), (64, 16, 8), (1500, 4, 4), (7, 1, 16), (300, 32, 4),
       (4096, 8, 2), (2, 8, 8), (900, 1, 8)]
# (size, sockets) of the datagram load clients, used the same way
UDP_MIX = [(1, 4), (4096, 2), (64, 8), (1500, 4), (7, 16), (300, 4), (2, 8), (900, 8), (4096, 1)]
ROUND_SECONDS = 3.0
TIMEOUT = 30.0  # any single wait on the server


class SoakError(Exception):
    pass


def slope_kb_per_min(samples):
    """Least-squares slope of (seconds, KiB) samples, in KiB per minute."""
    n = len(samples)
    if n < 3:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 60.0 * sum((t - mt) * (r - mr) for t, r in samples) / var if var else 0.0


class Sampler(threading.Thread):
    def __init__(self, pgid):
        super().__init__(daemon=True)
        self.pgid = pgid
        self.samples = []
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self):
        while not self.stop.is_set():
            self.samples.append((time.monotonic() - self.t0, group_rss_kb(self.pgid)))
            self.stop.wait(1.0)  # the sampling period, not a synchronisation


class Churner:
    """Short connections with random messages; counts what it verified."""

    def __init__(self, port, seed):
        self.port = port
        self.rng = random.Random(seed)
        self.connections = self.messages = self.bytes = self.resets = 0

    def recv_exact(self, s, n):
        got = bytearray()
        while len(got) < n:
            chunk = s.recv(n - len(got))
            if not chunk:
                raise SoakError("churner: EOF after %d of %d echoed bytes" % (len(got), n))
            got += chunk
        return bytes(got)

    def one(self):
        rng = self.rng
        s = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.connections += 1
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(rng.randint(1, 12)):
                size = rng.choice((1, 2, rng.randint(1, 100), rng.randint(1, MAX_LINE), MAX_LINE))
                msg = bytes(rng.randrange(256) for _ in range(min(size - 1, 64))).replace(b"\n", b"-")
                msg = (msg * (size // max(1, len(msg)) + 1))[: size - 1] + b"\n"
                pos = 0
                while pos < len(msg):  # random pieces
                    step = rng.randint(1, len(msg))
                    s.sendall(msg[pos: pos + step])
                    pos += step
                if self.recv_exact(s, len(msg)) != msg:
                    raise SoakError("churner: an echo differs from its message (%d bytes)" % len(msg))
                self.messages += 1
                self.bytes += len(msg)
            if rng.random() < 0.5:
                # reset mid-stream: half a message out, then RST; nothing of it
                # may be echoed, and the server must not mind
                s.sendall(b"half a mess")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.resets += 1
            else:
                s.shutdown(socket.SHUT_WR)
                if s.recv(1) != b"":
                    raise SoakError("churner: bytes after the last echo, expected EOF")
        finally:
            s.close()

    def run_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.one()


def load_client(bindir, port, size, depth, conns, seconds):
    """depth None: a datagram load (--udp, one datagram in flight per socket)."""
    shape = ["--udp"] if depth is None else ["--depth", str(depth)]
    return subprocess.Popen(
        [os.path.join(bindir, "echo-client"), "--load", "--host", "127.0.0.1", "--port", str(port),
         "--connections", str(conns), "--size", str(size)] + shape +
        ["--duration", str(seconds), "--warmup", "0", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def finish_client(p, what):
    try:
        out, err = p.communicate(timeout=ROUND_SECONDS + 60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise SoakError("%s: echo-client --load still running a minute after its round" % what)
    try:
        report = json.loads(out)
    except ValueError:
        raise SoakError("%s: no JSON report (status %d): %s" % (what, p.returncode, err.decode(errors="replace")))
    if p.returncode != 0 or report.get("errors"):
        raise SoakError("%s: status %d, errors %s: %s" % (what, p.returncode, report.get("errors"),
                                                           report.get("error_detail")))
    return report


def start_server(bindir, model, kind):
    limit = [] if kind == "datagram" else ["--max-clients", "1000"]  # no connections to limit
    p = subprocess.Popen([os.path.join(bindir, "echo-" + model), "--host", "127.0.0.1", "--port", "0"]
                         + limit,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    line = p.stdout.readline().decode()
    if not line.startswith("listening on "):
        p.kill()
        raise SoakError("echo-%s did not start: %r %s" % (model, line, p.stderr.read().decode()))
    return p, int(line.rsplit(":", 1)[1])


def wait_for(cond, what, limit=TIMEOUT):
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            raise SoakError("gave up after %.0f s waiting for %s" % (limit, what))
        time.sleep(0.05)


def add_report(verified, report, size, conns):
    verified["messages"] += report["verified"]
    verified["bytes"] += report["verified"] * size
    verified["connections"] += conns
    verified["lost"] += report.get("lost", 0)
    verified["lost_bytes"] += report.get("lost", 0) * size


def one_round(bindir, port, kind, rounds, churner, verified):
    """Three load clients of the MIX, with the churner alongside (one client
    at a time, with a single connection each, for a serial model)."""
    if kind == "datagram":  # no connections: datagram loads only
        mix = [UDP_MIX[(3 * rounds + k) % len(UDP_MIX)] for k in range(3)]
        procs = [(load_client(bindir, port, size, None, sockets, ROUND_SECONDS), size)
                 for size, sockets in mix]
        for p, size in procs:
            add_report(verified, finish_client(p, "round %d" % rounds), size, 0)
        return
    mix = [MIX[(3 * rounds + k) % len(MIX)] for k in range(3)]
    if kind == "serial":
        for size, depth, _ in mix:  # one client at a time
            r = finish_client(load_client(bindir, port, size, depth, 1, ROUND_SECONDS / 3),
                              "round %d" % rounds)
            add_report(verified, r, size, 1)
        churner.run_for(0.5)
        return
    procs = [(load_client(bindir, port, size, depth, conns, ROUND_SECONDS), size, conns)
             for size, depth, conns in mix]
    churner.run_for(ROUND_SECONDS)
    for p, size, conns in procs:
        add_report(verified, finish_client(p, "round %d" % rounds), size, conns)


def stop_server(server):
    """SIGTERM; returns the server's summary line as a dict."""
    os.kill(server.pid, signal.SIGTERM)
    _, err = server.communicate(timeout=TIMEOUT)
    if server.returncode != 0:
        raise SoakError("SIGTERM: exit status %d: %s" % (server.returncode, err.decode()))
    summary = [line for line in err.decode().splitlines() if line.startswith("summary: ")]
    if not summary:
        raise SoakError("no summary line: %s" % err.decode())
    return dict(kv.split("=", 1) for kv in summary[-1].split()[1:])


def soak(model, kind, target, bindir):
    server, port = start_server(bindir, model, kind)
    pid = server.pid
    try:
        fds0 = fd_count(pid)
        procs0 = sorted(group_pids(pid))  # itself, and a process pool's workers
        sampler = Sampler(pid)
        sampler.start()
        churner = Churner(port, seed=hash(model) & 0xffff)
        verified = {"messages": 0, "bytes": 0, "connections": 0, "lost": 0, "lost_bytes": 0}
        t0 = time.monotonic()
        rounds = 0
        while verified["messages"] + churner.messages < target:
            one_round(bindir, port, kind, rounds, churner, verified)
            rounds += 1
            done = verified["messages"] + churner.messages
            print("  %s: round %d: %d messages verified (%.0f/s)" % (model, rounds, done,
                  done / (time.monotonic() - t0)), file=sys.stderr, flush=True)
        elapsed = time.monotonic() - t0
        # every client has gone: the server holds what it held before
        wait_for(lambda: sorted(group_pids(pid)) == procs0,
                 "the server's processes back to the %d it had before the first client" % len(procs0))
        wait_for(lambda: fd_count(pid) == fds0, "descriptors back to %d (now %d)" % (fds0, fd_count(pid)))
        fds1 = fd_count(pid)
        sampler.stop.set()
        sampler.join()
        fields = stop_server(server)
    finally:
        if server.poll() is None:
            os.killpg(pid, signal.SIGKILL)
            server.wait()
    result = figures(model, verified, churner, rounds, elapsed, sampler.samples, fds0, fds1, fields)
    return result, problems_in(result, kind)


def figures(model, verified, churner, rounds, elapsed, samples, fds0, fds1, fields):
    """What the run verified, the server's RSS and descriptors, and what
    its summary line counted."""
    warm = [s for s in samples if s[0] >= samples[-1][0] / 4] if samples else []
    return {
        "model": model, "messages": verified["messages"] + churner.messages,
        "bytes": verified["bytes"] + churner.bytes,
        "connections": verified["connections"] + churner.connections, "resets": churner.resets,
        "lost": verified["lost"], "lost_bytes": verified["lost_bytes"],
        "churn_connections": churner.connections, "rounds": rounds, "seconds": round(elapsed, 1),
        "messages_per_sec": round((verified["messages"] + churner.messages) / elapsed),
        "rss_kb_first": samples[0][1] if samples else 0, "rss_kb_peak": max(r for _, r in samples),
        "rss_kb_last": samples[-1][1], "rss_samples": len(samples),
        "rss_slope_kb_per_min": round(slope_kb_per_min(warm), 1),
        "fds_before": fds0, "fds_after": fds1,
        "server_messages": int(fields["messages"]), "server_bytes": int(fields["bytes"]),
        "server_connections": int(fields["connections"]), "server_refused": int(fields["refused"]),
    }


def problems_in(result, kind):
    problems = []
    if kind == "datagram":  # what was lost may or may not have reached the server
        for key, lost in (("messages", result["lost"]), ("bytes", result["lost_bytes"])):
            if not result[key] <= result["server_" + key] <= result[key] + lost:
                problems.append("server counted %s=%d, the clients verified %d and lost %d"
                                % (key, result["server_" + key], result[key], lost))
        return problems
    for key in ("messages", "bytes", "connections"):
        if result["server_" + key] != result[key]:
            problems.append("server counted %s=%d, the clients verified %d"
                            % (key, result["server_" + key], result[key]))
    if result["server_refused"]:
        problems.append("the server refused %d connections" % result["server_refused"])
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bin"))
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    models = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "models.list")
    kinds = {}
    with open(models) as f:
        for line in f:
            w = line.split("#", 1)[0].split()
            if len(w) >= 2:
                kinds[w[0]] = w[1]
    if a.model not in kinds:
        ap.error("%s is not in models/models.list" % a.model)
    try:
        result, problems = soak(a.model, kinds[a.model], a.messages, a.bin)
    except (SoakError, OSError) as e:
        print("soak %s: FAIL: %s" % (a.model, e), file=sys.stderr)
        return 1
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if kinds[a.model] == "datagram":
        traffic = "%d datagrams lost" % result["lost"]
    else:
        traffic = "%d connections (%d reset mid-stream)" % (result["connections"], result["resets"])
    print("soak %s: %s messages, %s bytes, %s in %.0f s (%d msg/s); "
          "server counts %s; RSS %d -> peak %d -> %d KiB, slope after warm-up %+.1f KiB/min "
          "(%d samples); descriptors %d before, %d after"
          % (a.model, f"{result['messages']:,}", f"{result['bytes']:,}", traffic,
             result["seconds"], result["messages_per_sec"],
             "DIFFER" if problems else "equal" if result["server_messages"] == result["messages"]
             else "within what was lost", result["rss_kb_first"], result["rss_kb_peak"],
             result["rss_kb_last"], result["rss_slope_kb_per_min"], result["rss_samples"],
             result["fds_before"], result["fds_after"]))
    for p in problems:
        print("soak %s: FAIL: %s" % (a.model, p), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
