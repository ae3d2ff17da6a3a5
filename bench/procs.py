"""procs: the processes make bench starts and the CPUs it pins them to.

Procs keeps every process we started until it is reaped, so none outlives
the bench; Server starts one server (through LAUNCHER), waits for its
"listening on" line and, at the end, stops it and parses its summary line;
choose_cpus splits the CPUs we may use between the servers and the client.
"""
import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

from cells import BASELINE, HOST, MAX_CLIENTS, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests"))
from probelib import procfs  # noqa: E402  (after the path it lives on)
from probelib.summary import parse_summary  # noqa: E402


class Interrupted(Exception):
    pass


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_interrupted(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def catch_stop_signals():
    """SIGINT/SIGTERM/SIGHUP raise Interrupted, so the cleanup runs."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_interrupted)


def ignore_stop_signals():
    """While cleaning up: a second signal must not cut the cleanup short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


# ---------------------------------------------------------------- processes

_libc = None


def _child_setup(cpus, deathsig):
    """Runs in the child between fork and exec: die with us, and pin to the
    set of CPUs `cpus` (None: wherever the scheduler likes)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, deathsig)                 # PR_SET_PDEATHSIG: never outlive the bench
    except Exception:
        pass
    if cpus is not None:
        os.sched_setaffinity(0, cpus)


# Servers are started through this small shell. It passes SIGTERM on (it
# gets SIGTERM itself if we die: PR_SET_PDEATHSIG), writes the server's pid
# to $1, and exits with the server's status. The CPU affinity set on the
# shell is inherited by the server. (maxrss_kb is each server's own VmHWM,
# so this python's size, inherited across fork, never leaks into it.)
LAUNCHER = r"""
pidfile=$1; shift
"$@" &
pid=$!
echo "$pid" > "$pidfile"
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
wait "$pid"; status=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done
exit "$status"
"""


class Procs:
    """Every process we started and have not reaped, so none outlives us."""

    def __init__(self):
        self.live = {}

    def start(self, argv, cpus, stdout, stderr, deathsig=signal.SIGKILL):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                             preexec_fn=lambda: _child_setup(cpus, deathsig), cwd=ROOT)
        self.live[p.pid] = p
        return p

    def reaped(self, p):
        self.live.pop(p.pid, None)

    def kill_all(self):
        for p in list(self.live.values()):
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 3
        for p in list(self.live.values()):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            self.reaped(p)


PROCS = Procs()


def tail(path, n=5):
    """The last n lines of a file, joined with " | "."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        return " | ".join(lines[-n:])
    except OSError:
        return ""


# ---------------------------------------------------------------- servers

LISTEN_RE = re.compile(r"listening on (?:\[[^\]]*\]|[^:\s]+):(\d+)")

# A model that cannot run on this machine (echo-uring where io_uring is
# disabled or the kernel too old) says so in one line on stderr containing
# this word and exits 1 before listening: its cells are n/a, not failures.
UNAVAILABLE_RE = re.compile(r"\bunavailable\b")


def server_argv(name, max_line=None, extra_args=(), workers=None, datagram=False):
    """The command line of a server: the baseline's, or bin/echo-NAME's."""
    if name == BASELINE:
        return [os.path.join(ROOT, "build/bench/echo-baseline"), "--host", HOST, "--port", "0"]
    argv = [os.path.join(ROOT, f"bin/echo-{name}"), "--host", HOST, "--port", "0"]
    if not datagram:   # no connections, no --max-clients
        argv += ["--max-clients", str(MAX_CLIENTS)]
    if max_line:
        argv += ["--max-line", str(max_line)]
    argv += list(extra_args)
    if workers:
        argv += ["--workers", str(workers)]
    return argv


def model_args(model, workers):
    """Extra server arguments for a model: a concurrent model that takes
    --workers (its --help lists it: reuseport's one loop per worker) runs one
    worker per server CPU, the cores it is given; pools (kind "pool") keep
    their own default, which must cover the cells' connections."""
    if model.get("serves") != "concurrent":
        return ()
    helptext = subprocess.run([os.path.join(ROOT, f"bin/echo-{model['name']}"), "--help"],
                              capture_output=True, text=True).stdout
    return ("--workers", str(workers)) if re.search(r"--workers\b", helptext) else ()


class Server:
    """One server, started through LAUNCHER on `cpus`. After the constructor
    either port and pid are set, or failure says why not (and unavailable
    holds the server's own line if it cannot run on this machine)."""

    def __init__(self, name, tmp, cpus, max_line=None, extra_args=(), workers=None,
                 datagram=False):
        self.name = name
        self.out = os.path.join(tmp, f"{name}.out")
        self.err = os.path.join(tmp, f"{name}.err")
        self.argv = self.command(max_line, extra_args, workers, datagram)
        self.port = None
        self.pid = None
        self.failure = None
        self.unavailable = None   # the server's own line saying why it cannot run here
        self.summary = None
        pidfile = os.path.join(tmp, f"{name}.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = PROCS.start(["/bin/sh", "-c", LAUNCHER, "sh", pidfile] + self.argv, cpus,
                                    o, e, deathsig=signal.SIGTERM)
        if self.wait_listening(pidfile):
            if workers:
                self.wait_for_workers(workers)
        elif not self.said_unavailable():
            self.failure = "server did not start: " + (tail(self.err) or "no listening line in 5 s")

    def command(self, max_line, extra_args, workers, datagram):
        return server_argv(self.name, max_line, extra_args, workers, datagram)

    def wait_listening(self, pidfile):
        """True once the server's pid is in pidfile and its port on stdout;
        False if it exits first or 5 s pass."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.pid is None and os.path.exists(pidfile):
                with open(pidfile) as f:
                    text = f.read()
                self.pid = int(text) if text.endswith("\n") and text.strip().isdigit() else None
            with open(self.out, errors="replace") as f:
                m = LISTEN_RE.search(f.read())
            if m and self.pid:
                self.port = int(m.group(1))
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.01)
        return False

    def said_unavailable(self):
        """True if the server exited 1 saying it cannot run on this machine."""
        if self.proc.poll() != 1:
            return False
        with open(self.err, errors="replace") as f:
            said = [line.strip() for line in f if UNAVAILABLE_RE.search(line)]
        if not said:
            return False
        PROCS.reaped(self.proc)
        self.unavailable = said[0]
        self.failure = "unavailable here: " + said[0]
        return True

    def wait_for_workers(self, workers):
        """A pool listens first and then starts its workers; it is ready for a
        cell when they all run: as threads (prethreaded: one task each, plus
        the main one) or as child processes (prefork)."""
        limit = 10 + workers * 0.02
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            tasks = procfs.thread_count(self.pid)
            if tasks is None:
                break
            if tasks > workers or len(procfs.children(self.pid)) >= workers:
                return
            time.sleep(0.02)
        self.failure = f"its {workers} workers were not all running {limit:.0f} s after it listened"

    def stop(self):
        """SIGTERM, wait, parse the summary. Returns the summary dict or None."""
        p = self.proc
        if p.poll() is None:
            self.terminate()
        elif not self.failure:
            self.failure = f"server died during the cell (status {p.returncode}): {tail(self.err)}"
        PROCS.reaped(p)
        self.summary = self.read_summary()
        if self.summary is None:
            self.failure = self.failure or "no summary line on SIGTERM: " + tail(self.err)
        return self.summary

    def read_summary(self):
        with open(self.err, errors="replace") as f:
            return parse_summary(f.read())

    def terminate(self):
        """SIGTERM to the server; SIGKILL if it has not stopped within 15 s."""
        p = self.proc
        try:
            os.kill(self.pid, signal.SIGTERM) if self.pid else p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=15)   # the launcher exits when the server has
        except subprocess.TimeoutExpired:
            if self.pid:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.kill()
            p.wait()
            self.failure = self.failure or "server did not stop within 15 s of SIGTERM"


class External(Server):
    """A server of make bench SERVER=NAME='COMMAND {port}': any program. It
    prints no listening line and no summary: it is ready once it accepts on
    the port put in place of {port} (127.0.0.1 in place of {host}), and its
    CPU time and peak memory (VmHWM) are read from /proc just before it stops
    (its own process: children are not counted); it counts no messages.
    Unless it prints an echolab summary line after all (another build of
    echolab, to compare with): then that is its summary, messages and CPU
    per message included, measured as the models' are."""

    def __init__(self, name, command_line, tmp, cpus):
        self.command_line = command_line
        self.usage = None
        super().__init__(name, tmp, cpus)

    def command(self, max_line, extra_args, workers, datagram):
        self.chosen_port = procfs.free_port(HOST)
        return [w.replace("{port}", str(self.chosen_port)).replace("{host}", HOST)
                for w in shlex.split(self.command_line)]

    def wait_listening(self, pidfile):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.pid is None and os.path.exists(pidfile):
                with open(pidfile) as f:
                    text = f.read()
                self.pid = int(text) if text.endswith("\n") and text.strip().isdigit() else None
            try:
                socket.create_connection((HOST, self.chosen_port), timeout=1).close()
                if self.pid:
                    self.port = self.chosen_port
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def stop(self):
        fields = procfs.stat_fields(self.pid) if self.pid else None
        if fields:
            self.usage = dict(model=self.name, connections=None, refused=None, messages=None,
                              bytes=None, user_s=int(fields[11]) / procfs.CLK_TCK,
                              sys_s=int(fields[12]) / procfs.CLK_TCK,
                              maxrss_kb=procfs.status_kb(self.pid, "VmHWM"))
        return super().stop()

    def read_summary(self):
        return super().read_summary() or self.usage


def launch(name, model, tmp, cpus, **how):
    """A Server for a model of models/models.list or the baseline, or an
    External for a server given by its command line (model["command"])."""
    if model and model.get("command"):
        return External(name, model["command"], tmp, cpus)
    return Server(name, tmp, cpus, **how)


# ---------------------------------------------------------------- pinning

def parse_cpu_list(text):
    """'0-3,6' -> {0, 1, 2, 3, 6}, as taskset -c and /sys/.../cpulist write them."""
    cpus = set()
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise ValueError(f"'{part}' is not a CPU number or range (like 0-3,6)")
        cpus.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    return cpus


def cpu_list_text(cpus):
    """{0, 1, 2, 5} -> '0-2,5'"""
    runs = []
    for c in sorted(cpus):
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def choose_cpus(server_cpus):
    """((server CPUs, client CPUs), description). The client takes one CPU,
    the last one we may use that the servers do not; the servers get the
    rest, or --server-cpus. None: not pinned."""
    allowed = sorted(os.sched_getaffinity(0))
    if server_cpus is None:
        if len(allowed) < 2:
            return (None, None), "not pinned (fewer than 2 CPUs)"
        servers = set(allowed[:-1])
    else:
        servers = parse_cpu_list(server_cpus)
        outside = sorted(servers - set(allowed))
        if outside:
            raise ValueError(f"CPU(s) {outside} are not ours to use (we may use {allowed})")
    rest = [c for c in allowed if c not in servers]
    if not rest:
        raise ValueError(f"leaves no CPU for the client (we may use {allowed})")
    client = {rest[-1]}
    return (servers, client), (f"servers pinned to CPU(s) {cpu_list_text(servers)}, "
                               f"client to CPU {rest[-1]}")
