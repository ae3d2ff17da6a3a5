#!/usr/bin/env python3
"""models_table.py: the figures of every model that make bench does not
measure, added to the run's record (what `make models-table` runs).

For each model of models/models.list, on a fresh server on 127.0.0.1:
  system calls per message     strace -f -c attached to the server (and its
                               children) while one connection echoes MESSAGES
                               messages at ping-pong; calls / messages
  system calls per connection  the server started under strace -f -c, so that
                               every process and thread of it is counted from
                               its first call (a pool's workers included);
                               CONNECTIONS clients each connect, echo one
                               message and close, then the server is stopped;
                               (that count - the count of the same server
                               started and stopped with no client) /
                               CONNECTIONS, minus one message's worth
  pools' spread                bench/spread.py's variants: how evenly each pool
                               (prefork per accept lock, prethreaded) shares
                               SPREAD connect-echo-close cycles among its 16
                               workers, and the CPU each connection costs
  SO_REUSEPORT's hash          N listeners of one group, M clients connected,
                               each listener's queue counted (reuseport_hash.py)
  memory per idle connection   proportional set size of the server and its
                               children (smaps_rollup) before and after IDLE
                               connections are opened and echoed once; the
                               difference / IDLE (user space only: the kernel's
                               socket buffers and, for fork and threads, its
                               per-task structures come on top)

The figures go into RESULTS (default bench/results/results.json, the latest
make bench's record) under the key "models_table"; `make record` promotes them
with the run into docs/results/record.json, and docs/MODELS.md renders them
(`make docs`). CPU per message and per connection are the bench's own cells.

Only the standard library and strace. Usage:
    python3 docs/tour/models_table.py [--quick] [--results RESULTS]
"""
import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "bin")
DEADLINE = 30.0  # seconds any single wait may take

sys.path.insert(0, os.path.join(ROOT, "tests"))
from probelib import procfs  # noqa: E402  (after the path it lives on)
sys.path.insert(0, os.path.join(ROOT, "bench"))
from cells import read_models  # noqa: E402
import spread  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reuseport_hash  # noqa: E402  (beside this file)


def models():
    return [(m["name"], m["serves"]) for m in read_models()]


def wait_for(what, check, limit=DEADLINE):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise RuntimeError("gave up waiting for " + what)


# A pool serves --workers clients at once: idle_memory holds up to 200
# connections open together, so there a pool gets more workers than that
# (elsewhere its default: strace attached to 257 processes miscounts).
POOLS = {m["name"] for m in read_models() if m["serves"] == "pool"}


class Server:
    """A fresh server on a free port; traced=True: started under
    strace -f -c, so that every process and thread it ever has is counted."""

    def __init__(self, model, holds=0, traced=False):
        self.out = tempfile.TemporaryFile("w+")
        self.err = tempfile.TemporaryFile("w+")
        self.counts_file = None
        workers = ["--workers", str(holds + 56)] if model in POOLS and holds > 16 else []
        argv = [os.path.join(BIN, "echo-" + model), "--host", "127.0.0.1", "--port", "0"] + workers
        if traced:
            self.counts_file = tempfile.NamedTemporaryFile("r", suffix=".strace", delete=False)
            argv = ["strace", "-f", "-c", "-o", self.counts_file.name] + argv
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

        def port():
            self.out.seek(0)
            m = re.search(r"^listening on .*:(\d+)$", self.out.read(), re.M)
            if self.proc.poll() is not None:
                raise RuntimeError("echo-%s exited: %s" % (model, self.stderr()))
            return m and int(m.group(1))
        self.port = wait_for("echo-%s to listen" % model, port)
        # the server itself: strace's child when traced
        self.pid = (wait_for("the traced server", lambda: procfs.children(self.proc.pid))[0]
                    if traced else self.proc.pid)

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def pids(self):
        """The server, its threads' process and its children."""
        return [self.pid] + procfs.children(self.pid)

    def pss_kb(self):
        return sum(procfs.pss_kb(pid) or 0 for pid in self.pids())

    def stop(self):
        """SIGTERM to the server; when traced, its whole life's counts."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.counts_file is None:
            return None
        counts = strace_counts(self.counts_file.name)
        self.counts_file = None
        return counts


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def echo(s, line=b"x\n"):
    s.sendall(line)
    got = b""
    while not got.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("server closed before the echo")
        got += chunk
    if got != line:
        raise RuntimeError("wrong echo %r" % got)


def strace_counts(path):
    """{system call: calls} of an strace -c summary file, which it deletes."""
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                try:
                    counts[parts[-1]] = int(parts[3])
                except ValueError:
                    pass
    os.unlink(path)
    return counts


class Strace:
    """strace -f -c attached to running pids; counts per system call."""

    def __init__(self, pids):
        self.out = tempfile.NamedTemporaryFile("r", suffix=".strace", delete=False)
        args = ["strace", "-f", "-c", "-o", self.out.name]
        for pid in pids:
            args += ["-p", str(pid)]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        # strace says "Process N attached" on stderr for each; wait for all
        want, seen = len(pids), 0
        end = time.monotonic() + DEADLINE
        while seen < want and time.monotonic() < end:
            line = self.proc.stderr.readline()
            if not line:
                break
            if "attached" in line:
                seen += 1
        if seen < want:
            self.proc.kill()
            raise RuntimeError("strace could not attach (ptrace allowed here?)")

    def finish(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(DEADLINE)
        return strace_counts(self.out.name)


def per_message(model, n):
    srv = Server(model)
    try:
        s = connect(srv.port)
        echo(s)  # accepted, served: from here on only messages
        if model in ("fork",):
            wait_for("the child", lambda: len(srv.pids()) > 1)
        st = Strace(srv.pids())
        for i in range(n):
            echo(s, b"message %d\n" % i)
        counts = st.finish()
        s.close()
        return counts
    finally:
        srv.stop()


def per_datagram(model, n):
    """strace counts while one UDP socket exchanges n datagrams with the server."""
    srv = Server(model)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(DEADLINE)
        st = Strace(srv.pids())
        for i in range(n):
            msg = b"message %d\n" % i
            s.sendto(msg, ("127.0.0.1", srv.port))
            if s.recv(65536) != msg:
                raise RuntimeError("wrong datagram echo")
        counts = st.finish()
        s.close()
        return counts
    finally:
        srv.stop()


def traced_life(model, n):
    """strace -f -c over a server's whole life (every process and thread it
    starts: a pool's workers too) while n clients connect, echo, close."""
    srv = Server(model, traced=True)
    try:
        for _ in range(n):
            s = connect(srv.port)
            echo(s)
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):  # until the server closes: the whole life of it
                pass
            s.close()
        # the last connection's close and reap are counted: the server has
        # seen n connections close when no client socket of ours is left open
    finally:
        counts = srv.stop()
    return counts


def per_connection(model, n):
    """(the life with n connections - the life with none) / n, per call."""
    with_n, without = traced_life(model, n), traced_life(model, 0)
    return {name: c - without.get(name, 0) for name, c in with_n.items()
            if c - without.get(name, 0) > 0}


def idle_memory(model, n):
    srv = Server(model, holds=n)
    socks = []
    try:
        wait_for("the server to settle", lambda: srv.pss_kb() > 0)
        before = srv.pss_kb()
        for _ in range(n):
            s = connect(srv.port)
            echo(s)
            socks.append(s)
        time.sleep(0.2)
        after = srv.pss_kb()
        return (after - before) / n
    finally:
        for s in socks:
            s.close()
        srv.stop()


def summarize(counts, divide, minus=0.0):
    """{"total": calls per unit (minus `minus`), "calls": {name: per unit}},
    the calls of at least 0.05 per unit, largest first."""
    calls = sorted(((c / divide, name) for name, c in counts.items()), reverse=True)
    return dict(total=round(sum(counts.values()) / divide - minus, 2),
                calls={name: round(v, 2) for v, name in calls if v >= 0.05})


def measure(model, kind, sizes):
    """One model's figures: per_message, per_connection ({total, calls}),
    idle_memory_kib; a figure that does not apply is absent and its reason
    is under "n/a"."""
    messages, conns, idle = sizes
    if not os.access(os.path.join(BIN, "echo-" + model), os.X_OK):
        raise RuntimeError("bin/echo-%s is not built (make all)" % model)
    row = {"n/a": {}}
    if kind == "datagram":
        row["per_message"] = summarize(per_datagram(model, messages), messages)
        row["n/a"]["per_connection"] = row["n/a"]["idle_memory_kib"] = "no connections (datagrams)"
        return row
    row["per_message"] = summarize(per_message(model, messages), messages)
    row["per_connection"] = summarize(per_connection(model, conns), conns,
                                      row["per_message"]["total"])
    if kind == "serial":
        row["n/a"]["idle_memory_kib"] = "serves one client at a time"
    else:
        row["idle_memory_kib"] = round(idle_memory(model, idle), 2)
    return row


def merge_into(path, figures):
    """Adds figures to the record at path (creating it if there is none)
    under "models_table", atomically."""
    record = {}
    if os.path.exists(path):
        with open(path) as f:
            record = json.load(f)
    record["models_table"] = figures
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".new", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".new", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer messages and connections")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results", "results.json"),
                    help="the record to add the figures to (default: %(default)s)")
    a = ap.parse_args()
    # messages per model, connections, idle connections held
    sizes = (200, 20, 50) if a.quick else (2000, 100, 200)
    strace_v = subprocess.run(["strace", "-V"], capture_output=True, text=True).stdout.split("\n")[0]
    figures = dict(
        meta=dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  kernel=platform.release(), nproc=os.cpu_count(), strace=strace_v,
                  messages=sizes[0], connections=sizes[1], idle=sizes[2]),
        models={})
    failed = 0
    for model, kind in models():
        try:
            row = measure(model, kind, sizes)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print("models-table: %s: %s" % (model, e), file=sys.stderr)
            failed += 1
            continue
        figures["models"][model] = row
        pc = row.get("per_connection", {}).get("total", "-")
        mem = row.get("idle_memory_kib", "-")
        print("%-12s calls/message %-5s calls/connection %-6s KiB/idle connection %s"
              % (model, row["per_message"]["total"], pc, mem))
    pools = argparse.Namespace(workers=16, clients=10, connections=400 if a.quick else 2000)
    figures["spread"] = dict(workers=pools.workers, clients=pools.clients,
                             connections=pools.connections,
                             variants=[spread.run(m, lock, pools) for m, lock in spread.VARIANTS])
    print("models-table: pools' spread measured (%d connections per variant)" % pools.connections)
    figures["reuseport_hash"] = reuseport_hash.measure(a.quick)
    print("models-table: the SO_REUSEPORT hash measured (%d cases)" % len(reuseport_hash.CASES))
    merge_into(a.results, figures)
    print("models-table: figures added to %s" % os.path.relpath(a.results))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
