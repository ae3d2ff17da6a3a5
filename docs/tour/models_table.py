#!/usr/bin/env python3
"""models_table.py: prints docs/MODELS.md, the one comparison table of every
model, from measurements (what `make models-table` runs).

For each model of models/models.list, on a fresh server on 127.0.0.1:
  system calls per message     strace -f -c attached to the server (and its
                               children) while one connection echoes MESSAGES
                               messages at ping-pong; calls / messages
  system calls per connection  the same while CONNECTIONS clients each connect,
                               echo one message and close; calls / connections,
                               minus one message's worth
  memory per idle connection   proportional set size of the server and its
                               children (smaps_rollup) before and after IDLE
                               connections are opened and echoed once; the
                               difference / IDLE (user space only: the kernel's
                               socket buffers and, for fork and threads, its
                               per-task structures come on top)
  hard limit                   the "**Hard limit:**" line of docs/models/M.md
  CPU per message              from the latest make bench (bench/results/results.csv)
  CPU per connection           from the bench's connection-churn cell, when the
                               results have one

Only the standard library and strace. Usage:
    python3 docs/tour/models_table.py [--quick] > docs/MODELS.md
"""
import argparse
import csv
import datetime
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
    def __init__(self, model, holds=0):
        self.out = tempfile.TemporaryFile("w+")
        self.err = tempfile.TemporaryFile("w+")
        workers = ["--workers", str(holds + 56)] if model in POOLS and holds > 16 else []
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "echo-" + model), "--host", "127.0.0.1", "--port", "0"] + workers,
            stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL, start_new_session=True)

        def port():
            self.out.seek(0)
            m = re.search(r"^listening on .*:(\d+)$", self.out.read(), re.M)
            if self.proc.poll() is not None:
                raise RuntimeError("echo-%s exited: %s" % (model, self.stderr()))
            return m and int(m.group(1))
        self.port = wait_for("echo-%s to listen" % model, port)

    def stderr(self):
        self.err.seek(0)
        return self.err.read()

    def pids(self):
        """The server, its threads' process and its children."""
        return [self.proc.pid] + procfs.children(self.proc.pid)

    def pss_kb(self):
        return sum(procfs.pss_kb(pid) or 0 for pid in self.pids())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


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
        counts = {}
        with open(self.out.name) as f:
            for line in f:
                parts = line.split()
                # % time, seconds, usecs/call, calls, [errors], syscall
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    try:
                        counts[parts[-1]] = int(parts[3])
                    except ValueError:
                        pass
        os.unlink(self.out.name)
        return counts


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


def per_connection(model, n, kind):
    srv = Server(model)
    try:
        st = Strace(srv.pids())
        for _ in range(n):
            s = connect(srv.port)
            echo(s)
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):  # until the server closes: the whole life of it
                pass
            s.close()
        time.sleep(0.2)  # pacing only: lets the last close and reap be counted
        counts = st.finish()
        return counts
    finally:
        srv.stop()


def summary_cpu(srv):
    m = re.search(r"user=([0-9.]+)s sys=([0-9.]+)s", srv.stderr())
    if not m:
        raise RuntimeError("no summary line")
    return float(m.group(1)) + float(m.group(2))


def connection_cpu_us(model, n):
    """Server CPU per connect-echo-close, from its summary line (children
    included), minus that of a server that served nobody."""
    idle = Server(model)
    idle.stop()
    base = summary_cpu(idle)
    srv = Server(model)
    try:
        for _ in range(n):
            s = connect(srv.port)
            echo(s)
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
            s.close()
    finally:
        srv.stop()
    return max(0.0, summary_cpu(srv) - base) * 1e6 / n


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


def summarize(counts, divide, minus=None):
    total = sum(counts.values()) / divide
    if minus:
        total -= minus[0]
    main = sorted(((c / divide, name) for name, c in counts.items()), reverse=True)
    shown = ["%s %.2g" % (name, v) if abs(v - round(v)) > 0.05 else "%s %d" % (name, round(v))
             for v, name in main if v >= 0.5]
    return total, ", ".join(shown)


def bench_figures():
    path = os.path.join(ROOT, "bench", "results", "results.csv")
    if not os.path.exists(path):
        return {}, None
    rows = list(csv.DictReader(open(path)))
    fig = {}
    for r in rows:
        if r.get("status") != "ok":
            continue
        cell = r["cell"]
        if cell in ("c1", "c100", "c1000"):
            fig.setdefault(r["model"], {})[cell] = float(r["cpu_us_per_msg"])
        if "churn" in cell:
            for key in ("cpu_us_per_conn", "cpu_us_per_connection"):
                if r.get(key):
                    fig.setdefault(r["model"], {})["conn"] = float(r[key])
    when = None
    jpath = os.path.join(ROOT, "bench", "results", "results.json")
    if os.path.exists(jpath):
        import json
        meta = json.load(open(jpath)).get("meta", {})
        when = meta.get("date") or meta.get("started")
    return fig, when


def hard_limit(model):
    try:
        text = open(os.path.join(ROOT, "docs", "models", model + ".md")).read()
    except OSError:
        return "(no page)"
    m = re.search(r"\*\*Hard limit:\*\* (.*?)(?:\n\n|\n\*|\n#)", text, re.S)
    return " ".join(m.group(1).split()) if m else "(not stated on its page)"


def cpu_per_message(f):
    return " / ".join("%.2f" % f[c] if c in f else "–" for c in ("c1", "c100", "c1000"))


def measure_row(model, kind, sizes, f):
    """One model's row: name, calls per message and which, per connection and
    which, hard limit, CPU per message, CPU per connection, idle memory (a
    short row when it could not be measured)."""
    messages, conns, idle, churn = sizes
    if not os.access(os.path.join(BIN, "echo-" + model), os.X_OK):
        return (model, "not built", "", "", "", hard_limit(model), "", "")
    if kind == "datagram":
        try:
            pm_total, pm_detail = summarize(per_datagram(model, messages), messages)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            pm_total, pm_detail = float("nan"), "n/a: %s" % e
        none = "n/a: no connections (datagrams)"
        return (model, "%.1f" % pm_total, pm_detail, "–", none, hard_limit(model),
                cpu_per_message(f), none, none)
    try:
        pm_total, pm_detail = summarize(per_message(model, messages), messages)
        pc_total, pc_detail = summarize(per_connection(model, conns, kind), conns, (pm_total,))
        if pc_total < 0:  # seen with strace attached to a pool's 17 processes
            pc_total, pc_detail = float("nan"), "n/a: strace's count came out negative"
        mem = "n/a: serves one at a time" if kind == "serial" else "%.1f KiB" % idle_memory(model, idle)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        return (model, "n/a: %s" % e, "", "", "", hard_limit(model), "", "")
    if "conn" in f:
        cpu_conn = "%.1f" % f["conn"]
    else:
        cpu_conn = "%.0f (measured here)" % connection_cpu_us(model, churn)
    return (model, "%.1f" % pm_total, pm_detail, "%.1f" % pc_total, pc_detail,
            hard_limit(model), cpu_per_message(f), cpu_conn, mem)


def print_report(rows, sizes, bench_when):
    messages, conns, idle, churn = sizes
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    strace_v = subprocess.run(["strace", "-V"], capture_output=True, text=True).stdout.split("\n")[0]
    print("# Every model, measured side by side")
    print()
    print("Generated by `make models-table` (`docs/tour/models_table.py`) on %s, Linux %s, %d CPUs, %s;"
          % (now, platform.release(), os.cpu_count(), strace_v))
    print("CPU figures from the `make bench` run of %s (`bench/results/results.csv`)."
          % (bench_when or "bench/results/"))
    print("Nothing here is typed by hand: rerun `make models-table` after `make bench`.")
    print("Read it with the [tour](TOUR.md); each model's page explains its row.")
    print()
    print("## System calls (counted with `strace -f -c`)")
    print()
    print("Per message: one connection, %d messages at ping-pong, strace attached to the server"
          " (and its children) after the connection was accepted. Per connection: %d clients each"
          " connect, echo one message, half-close and wait for the close; the count per client minus"
          " one message's worth. Figures are calls per message or per connection." % (messages, conns))
    print()
    print("| model | per message | which | per connection | which |")
    print("|---|--:|---|--:|---|")
    for r in rows:
        if len(r) < 9:
            print("| [%s](models/%s.md) | %s | | | |" % (r[0], r[0], r[1]))
        else:
            print("| [%s](models/%s.md) | %s | %s | %s | %s |" % (r[0], r[0], r[1], r[2], r[3], r[4]))
    print()
    print("## Memory, limits, CPU")
    print()
    print("Memory per idle connection: proportional set size of the server and its children, before"
          " and after %d connections are opened and echoed once, divided by %d (user space only;"
          " the kernel's socket buffers and per-task structures come on top). CPU per message:"
          " µs of server CPU (user + sys) per message in the bench's 1, 100 and 1,000-connection"
          " cells. CPU per connection: from the bench's connection-churn cell; until the results have"
          " one, measured here: the server's own summary (user + sys, children included) after %d"
          " connect-echo-close cycles, minus a server that served nobody, divided by %d."
          % (idle, idle, churn, churn))
    print()
    print("| model | memory per idle connection | hard limit (what fails first) | CPU µs per message (1c / 100c / 1000c) | CPU µs per connection |")
    print("|---|--:|---|--:|--:|")
    for r in rows:
        if len(r) < 9:
            print("| [%s](models/%s.md) | %s | %s | | |" % (r[0], r[0], r[1], r[5]))
        else:
            print("| [%s](models/%s.md) | %s | %s | %s | %s |" % (r[0], r[0], r[8], r[5], r[6], r[7]))
    print()
    print("What to look for: the blocking models make two calls per message and the readiness loops"
          " three (the wait is the third). Per connection, the *which* column shows what each model"
          " pays: fork a `clone`, `wait4` and the closes on both sides, threads a `clone3` (glibc"
          " reuses thread stacks), the event loops an `accept4` that succeeds and one that says"
          " `EAGAIN`, and epoll its `epoll_ctl`. Memory per idle connection is what decides C10K:"
          " compare fork and threads with the event loops. CPU per connection is where fork pays.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer messages and connections")
    a = ap.parse_args()
    # messages per model, connections, idle connections held, churn cycles
    sizes = (200, 20, 50, 100) if a.quick else (2000, 100, 200, 1000)
    fig, bench_when = bench_figures()
    rows = [measure_row(model, kind, sizes, fig.get(model, {})) for model, kind in models()]
    print_report(rows, sizes, bench_when)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
