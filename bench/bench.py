#!/usr/bin/env python3
"""bench.py: the measurement driver behind bench/run.sh (make bench).

Runs every model of models/models.list, plus the baseline ceiling
(build/bench/echo-baseline), through `bin/echo-client --load` over a fixed
matrix of cells, then writes bench/results/{results.md,results.csv,
results.json} and the plots (bench/plot.gp), and prints the tables on stdout.

For each cell every server of the cell is started fresh (127.0.0.1, port 0,
the port read from its "listening on" line) and the runs go round robin over
them: run 1 of every server, then run 2 of every server, ... so the baseline
and the models it is compared with share the same moments of a busy machine.
Servers run on --server-cpus (default: every CPU we may use but the last,
which the client gets to itself); a concurrent model that takes --workers
(reuseport) gets one worker per server CPU. A model that says it is
unavailable here (echo-uring without io_uring) is n/a, not a failure.
Each run is one client invocation with its own warm-up. When the runs are
done, every server gets SIGTERM and its summary line gives CPU time and peak
memory over its whole life.

Figures:
  msgs/s          median of the runs' messages_per_sec (client count, measured
                  window only); spread = (max - min) / median.
  p99 latency     median of the runs' p99.
  CPU us/message  (user + sys) / messages echoed over the server's whole life
                  (all warm-ups and runs), both from the server's summary line;
                  messages echoed = bytes echoed / message size, because the
                  baseline counts bytes only (for the models this equals their
                  own message count to within the messages in flight).
  peak memory     maxrss_kb of the summary line (servers are started through a
                  small shell so that this python's own size does not leak
                  into it: see LAUNCHER).
  ratio           model / baseline in the same cell of the same run.
  others' CPU     CPU that other processes used on the CPUs we use during the
                  cell, in cores: a busy shared machine shows here.
Then 10,000 connections are held open at a low open-loop rate against the
event-driven servers and the peak memory of each is read the same way.

Only the standard library; nothing but 127.0.0.1.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
BASELINE = "baseline"
MAX_CLIENTS = 20000          # passed to every model: fork/threads at 1,000 need >= 1000
MAX_LINE_BIG = 65536         # --max-line for the 64 KiB cell (a message is 65536 bytes, LF included)

# The matrix. id: stable key for files; label: what the tables show.
# datagram: the cell also measures the datagram models (echo-client --udp:
# round trips of one datagram per socket); churn: a new connection per message
# (echo-client --churn: connect, one message, its echo, close, in 10 loops).
CELLS = [
    dict(id="c1", label="1c 64B", conns=1, size=64, depth=1, datagram=True),
    dict(id="c10", label="10c 64B", conns=10, size=64, depth=1, datagram=True),
    dict(id="c100", label="100c 64B", conns=100, size=64, depth=1),
    dict(id="c1000", label="1000c 64B", conns=1000, size=64, depth=1),
    dict(id="d16", label="10c 64B d16", conns=10, size=64, depth=16),
    dict(id="k64", label="1c 64KiB", conns=1, size=65536, depth=1),
    # Trimmed to fit make bench in 5 minutes: at most 0.5 s measured after at
    # most 0.2 s of warm-up (fork completes ~1,000-2,000 connections in that).
    dict(id="churn", label="churn 10c", conns=10, size=64, depth=1, churn=True,
         max_duration=0.5, max_warmup=0.2),
]
PLOT_CELLS = ["c1", "c10", "c100", "c1000"]   # 64-byte ping-pong against connections

# Performance targets (issue 8), checked in the same run and shown in the
# "Targets" table: model's figure / against's figure, cell by cell. A target
# is a benchmark result, never a test: a missed one is reported, not failed.
TARGETS = [
    dict(model="reuseport", against="epoll", fig="msgs_per_sec", at_least=0.95,
         cells=["c1", "c10", "c100", "c1000", "d16", "k64"],
         what="reuseport messages/s at least 0.95 of epoll's"),
]

# The 10,000-connection memory check: open loop at a low total rate, so every
# connection carries a message or two (its buffers exist) while the server is
# nowhere near busy; the figure is the summary's maxrss_kb.
MEM_CONNS = 10000
MEM_RATE = 10000
MEM_SERVERS_DEFAULT = [BASELINE, "epoll", "libev", "poll", "threads", "reuseport", "uring"]
MEM_SERVERS_QUICK = [BASELINE, "epoll", "libev", "reuseport", "uring"]
MEM_TARGET_KB = 16 * 1024

MODES = {
    # runs, measured seconds per run, warm-up seconds of a server's first run
    # and of its later ones (by then the process is warm; only the new
    # connections are not), seconds of the 10,000-connection check
    "default": dict(runs=3, duration=1.0, warmup=0.5, rewarmup=0.3, mem_duration=1.0,
                    mem_warmup=0.5),
    "quick": dict(runs=1, duration=0.5, warmup=0.2, rewarmup=0.2, mem_duration=1.0,
                  mem_warmup=0.5),
}


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt_duration(s):
    s = max(0, int(round(s)))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


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


# Servers are started through this small shell, not straight from python, for
# the sake of maxrss: Linux keeps the peak RSS of a process's image before
# exec (sig->maxrss) and getrusage reports it, so a server forked from this
# python (about 14 MB) would report at least 14 MB whatever it uses. dash
# forks the server from its own tiny image instead. The shell passes SIGTERM
# on (it gets SIGTERM itself if we die: PR_SET_PDEATHSIG), writes the
# server's pid to $1, and exits with the server's status. The CPU affinity
# set on the shell is inherited by the server.
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

SUMMARY_RE = re.compile(
    r"summary: model=(\S+) connections=(\d+)(?: refused=(\d+))? messages=(\d+) bytes=(\d+) "
    r"user=([\d.]+)s sys=([\d.]+)s maxrss_kb=(\d+)")
LISTEN_RE = re.compile(r"listening on (?:\[[^\]]*\]|[^:\s]+):(\d+)")


def children_of(pid):
    """How many processes have pid as their parent."""
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2:].split()[1] == str(pid):
            n += 1
    return n


def tail(path, n=5):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        return " | ".join(lines[-n:])
    except OSError:
        return ""


# A model that cannot run on this machine (echo-uring where io_uring is
# disabled or the kernel too old) says so in one line on stderr containing
# this word and exits 1 before listening: its cells are n/a, not failures.
UNAVAILABLE_RE = re.compile(r"\bunavailable\b")


class Server:
    def __init__(self, name, tmp, cpus, max_line=None, extra_args=(), workers=None,
                 datagram=False):
        self.name = name
        self.out = os.path.join(tmp, f"{name}.out")
        self.err = os.path.join(tmp, f"{name}.err")
        if name == BASELINE:
            argv = [os.path.join(ROOT, "build/bench/echo-baseline"), "--host", HOST, "--port", "0"]
        else:
            argv = [os.path.join(ROOT, f"bin/echo-{name}"), "--host", HOST, "--port", "0"]
            if not datagram:   # no connections, no --max-clients
                argv += ["--max-clients", str(MAX_CLIENTS)]
            if max_line:
                argv += ["--max-line", str(max_line)]
            argv += list(extra_args)
            if workers:
                argv += ["--workers", str(workers)]
        self.argv = argv
        self.port = None
        self.pid = None
        self.failure = None
        self.unavailable = None   # the server's own line saying why it cannot run here
        self.summary = None
        pidfile = os.path.join(tmp, f"{name}.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = PROCS.start(["/bin/sh", "-c", LAUNCHER, "sh", pidfile] + argv, cpus, o, e,
                                    deathsig=signal.SIGTERM)
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
                if workers:
                    self.wait_for_workers(workers)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        if self.proc.poll() == 1:
            with open(self.err, errors="replace") as f:
                said = [line.strip() for line in f if UNAVAILABLE_RE.search(line)]
            if said:
                PROCS.reaped(self.proc)
                self.unavailable = said[0]
                self.failure = "unavailable here: " + said[0]
                return
        self.failure = "server did not start: " + (tail(self.err) or "no listening line in 5 s")

    def wait_for_workers(self, workers):
        """A pool listens first and then starts its workers; it is ready for a
        cell when they all run: as threads (prethreaded: one task each, plus
        the main one) or as child processes (prefork)."""
        limit = 10 + workers * 0.02
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                tasks = len(os.listdir(f"/proc/{self.pid}/task"))
            except OSError:
                break
            if tasks > workers or children_of(self.pid) >= workers:
                return
            time.sleep(0.02)
        self.failure = f"its {workers} workers were not all running {limit:.0f} s after it listened"

    def stop(self):
        """SIGTERM, wait, parse the summary. Returns the summary dict or None."""
        p = self.proc
        if p.poll() is None:
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
        elif not self.failure:
            self.failure = f"server died during the cell (status {p.returncode}): {tail(self.err)}"
        PROCS.reaped(p)
        with open(self.err, errors="replace") as f:
            found = SUMMARY_RE.findall(f.read())
        if not found:
            self.failure = self.failure or "no summary line on SIGTERM: " + tail(self.err)
            return None
        g = found[-1]
        self.summary = dict(model=g[0], connections=int(g[1]),
                            refused=int(g[2]) if g[2] else 0, messages=int(g[3]),
                            bytes=int(g[4]), user_s=float(g[5]), sys_s=float(g[6]),
                            maxrss_kb=int(g[7]))
        return self.summary


def run_client(port, cell, duration, warmup, cpu, tmp, rate=0, udp=False):
    """One load run. Returns a dict: the client's JSON plus exit status, the
    client's CPU seconds (from our RUSAGE_CHILDREN, as only this child is reaped
    meanwhile) and wall time; 'failure' says why the run does not count."""
    argv = [os.path.join(ROOT, "bin/echo-client"), "--load", "--host", HOST, "--port", str(port),
            "--connections", str(cell["conns"]), "--size", str(cell["size"]),
            "--depth", str(cell["depth"]), "--duration", f"{duration:g}",
            "--warmup", f"{warmup:g}", "--json"]
    if rate:
        argv += ["--rate", str(rate)]
    if cell.get("churn"):
        argv += ["--churn"]
    if udp:
        argv += ["--udp"]
    out, err = os.path.join(tmp, "client.out"), os.path.join(tmp, "client.err")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(out, "wb") as o, open(err, "wb") as e:
        p = PROCS.start(argv, cpu, o, e)
        # connect (10 s timeout in the client) + warm-up + run + 2 s drain, and slack
        limit = warmup + duration + 30
        timed_out = False
        try:
            p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            p.kill()
            p.wait()
    PROCS.reaped(p)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r = dict(exit=p.returncode, client_cpu_s=round(cpu_s, 4), client_wall_s=round(wall, 3))
    with open(out, errors="replace") as f:
        text = f.read()
    try:
        r.update(json.loads(text[text.index("{"):text.rindex("}") + 1]))
    except ValueError:
        r["failure"] = "client printed no JSON: " + (tail(err) or text.strip()[:200])
    if "failure" not in r and not isinstance(r.get("errors"), int):
        r["failure"] = "client JSON has no error count"
    if p.returncode != 0:
        why = (f"client killed after {limit:.0f} s" if timed_out else
               f"client exit status {p.returncode}" if p.returncode > 0 else
               f"client killed by signal {-p.returncode}")
        detail = r.get("error_detail") or tail(err)
        r["failure"] = r.get("failure") or (why + (": " + detail if detail else ""))
    elif r.get("errors", 0) > 0:
        r["failure"] = f"{r['errors']} verification errors: {r.get('error_detail', '')}"
    return r


# ---------------------------------------------------------------- the matrix

def read_models():
    models = []
    with open(os.path.join(ROOT, "models/models.list")) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                models.append(dict(name=line[0], serves=line[1] if len(line) > 1 else "concurrent"))
    return models


def is_datagram(model):
    return model.get("serves") == "datagram"


def not_applicable(model, cell):
    """The reason a model cannot take a cell, or None."""
    if is_datagram(model) and cell.get("churn"):
        return "UDP has no connections to open and close"
    if is_datagram(model) and not cell.get("datagram"):
        return "a datagram server: measured in the 64-byte round-trip cells only"
    if model.get("serves") == "serial" and cell["conns"] > 1 and not cell.get("churn"):
        return "serves one client at a time"
    if model.get("serves") == "pool" and cell["conns"] > POOL_MAX_WORKERS:
        return (f"a pool serves --workers clients at once; {cell['conns']} held open would "
                f"need {cell['conns']} workers (the bench sizes pools up to {POOL_MAX_WORKERS})")
    return descriptors_short(cell["conns"])


# A pool serves at most --workers clients at once and a cell's clients never
# leave, so a pool gets a worker per connection (at least its default 16):
# what a pool must be sized to for that load. Past a few hundred workers a
# pool is the wrong design (and thousands of forks at start-up would eat the
# cell's time), so bigger cells are n/a for pools.
POOL_MAX_WORKERS = 256


def pool_workers(model, cell):
    """The --workers to start a pool with for this cell; None for other models."""
    if model and model.get("serves") == "pool":
        return max(16, cell["conns"])
    return None


def descriptors_short(conns):
    """Why this machine cannot open `conns` connections in one process, or
    None. Client and server each raise their soft limit to the hard one, and
    the client wants 64 spare descriptors besides its connections."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    need = conns + 64
    if hard != resource.RLIM_INFINITY and hard < need:
        return f"descriptor limit (ulimit -Hn) {hard} is below the {need} this needs"
    return None


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


def cpu_list_text(cpus):
    """{0, 1, 2, 5} -> '0-2,5'"""
    out, run = [], []
    for c in sorted(cpus):
        if run and c != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(c)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


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


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return dict(nproc=os.cpu_count(), cpus_allowed=len(os.sched_getaffinity(0)), cpu_model=cpu,
                kernel=platform.release(), hostname=platform.node(),
                loadavg_at_start=[round(x, 2) for x in load] if load else None,
                nofile_limit=resource.getrlimit(resource.RLIMIT_NOFILE))


def median(xs):
    return statistics.median(xs) if xs else None


def summarize(entry, cell):
    """Fills an entry's figures from its runs and its server summary."""
    runs = [r for r in entry["runs"]]
    ok = [r for r in runs if "failure" not in r]
    if not ok or len(ok) != len(runs):
        return
    mps = [r["messages_per_sec"] for r in ok]
    med = median(mps)
    entry["msgs_per_sec"] = med
    entry["msgs_per_sec_min"] = min(mps)
    entry["msgs_per_sec_max"] = max(mps)
    entry["spread"] = (max(mps) - min(mps)) / med if med and len(mps) > 1 else None
    entry["mb_per_sec"] = median([r["mb_per_sec"] for r in ok])
    for q in ("p50", "p90", "p99", "p999", "max"):
        entry[f"{q}_us"] = median([r["latency_us"][q] for r in ok])
    entry["errors"] = sum(r.get("errors", 0) for r in runs)
    entry["client_messages"] = sum(r["messages"] for r in ok)
    busy = [r["client_cpu_s"] / r["client_wall_s"] for r in ok if r["client_wall_s"] > 0]
    entry["client_cpu_util"] = round(median(busy), 3) if busy else None
    s = entry.get("server")
    if s:
        echoed = s["bytes"] / cell["size"]
        entry["server_messages_echoed"] = echoed
        entry["cpu_us_per_msg"] = (s["user_s"] + s["sys_s"]) / echoed * 1e6 if echoed else None
        entry["maxrss_kb"] = s["maxrss_kb"]
        # over the time its clients ran (it idles while the other servers' runs go)
        loaded = sum(r["client_wall_s"] for r in runs)
        entry["server_cpu_util"] = round((s["user_s"] + s["sys_s"]) / loaded, 3) if loaded else None
        if cell.get("churn"):
            # UNP Figure 30.1's measure: server CPU (children included) per connection
            entry["connections_per_sec"] = med
            entry["server_connections"] = s["connections"]
            entry["cpu_us_per_conn"] = ((s["user_s"] + s["sys_s"]) / s["connections"] * 1e6
                                        if s["connections"] else None)


def check_bytes(entry, cell):
    """The server must have echoed at least what the client verified."""
    s = entry.get("server")
    if entry["status"] == "ok" and s and s["bytes"] < entry.get("client_messages", 0) * cell["size"]:
        entry["status"] = "FAILED"
        entry["reason"] = (f"server reports {s['bytes']} bytes echoed, fewer than the "
                           f"{entry['client_messages'] * cell['size']} the client verified")


def cpu_ticks(cpus):
    """(busy, steal) seconds so far on the given CPUs (all of them if None),
    from /proc/stat: busy is user + nice + system + irq + softirq (with tick
    sampling a process's system time includes the softirq work done in its
    context, which /proc/stat files under softirq), steal apart."""
    hz = os.sysconf("SC_CLK_TCK")
    names = {"cpu"} if cpus is None else {f"cpu{c}" for c in cpus}
    busy = steal = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                w = line.split()
                if w and w[0] in names:
                    v = [int(x) for x in w[1:9]]
                    busy += v[0] + v[1] + v[2] + v[5] + v[6]
                    steal += v[7]
    except OSError:
        return None
    return busy / hz, steal / hz


def own_cpu():
    """CPU seconds of this process and every child it has reaped."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Interference:
    """How much CPU others used on our CPUs over a stretch of time: busy time
    on those CPUs minus our own (bench.py, servers, clients: everything we
    reaped by the end), in cores. A benchmark on a shared machine is only as
    good as this is small."""

    def __init__(self, cpus):
        self.cpus = None if cpus[0] is None else sorted(cpus[0] | cpus[1])
        self.t0, self.own0, self.ticks0 = time.monotonic(), own_cpu(), cpu_ticks(self.cpus)

    def result(self):
        wall = time.monotonic() - self.t0
        ticks = cpu_ticks(self.cpus)
        if not ticks or not self.ticks0 or wall <= 0:
            return None
        busy = ticks[0] - self.ticks0[0]
        own = own_cpu() - self.own0
        return dict(wall_s=round(wall, 2), others_cores=round(max(0.0, busy - own) / wall, 3),
                    steal_cores=round((ticks[1] - self.ticks0[1]) / wall, 3),
                    loadavg_1min=round(os.getloadavg()[0], 2))


class Progress:
    def __init__(self, total_steps, expected_total):
        self.total = total_steps
        self.expected_total = expected_total
        self.expected_done = 0.0
        self.t0 = time.monotonic()

    def line(self, index, what):
        elapsed = time.monotonic() - self.t0
        if self.expected_done > 0:
            eta = (self.expected_total - self.expected_done) * elapsed / self.expected_done
            eta_s = fmt_duration(eta)
        else:
            eta_s = "~" + fmt_duration(self.expected_total)
        log(f"[{index}/{self.total}] {what} ... ETA {eta_s}")

    def done(self, expected):
        self.expected_done += expected


def duration_of(mode, cell):
    return min(mode["duration"], cell.get("max_duration", mode["duration"]))


def warmup_of(mode, run, cell=None):
    w = mode["warmup"] if run == 0 else mode["rewarmup"]
    return min(w, cell.get("max_warmup", w)) if cell else w


def expected_run_s(cell, mode, run):
    return warmup_of(mode, run, cell) + duration_of(mode, cell) + 0.05 + cell["conns"] * 0.0005


def run_matrix(servers, models_by_name, cells, mode, cpus, tmp, progress, step):
    results = []
    for cell in cells:
        entries = []
        for name in servers:
            e = dict(model=name, cell=cell["id"], label=cell["label"], conns=cell["conns"],
                     size=cell["size"], depth=cell["depth"], status="ok", reason="", runs=[])
            reason = (descriptors_short(cell["conns"]) if name == BASELINE
                      else not_applicable(models_by_name[name], cell))
            if reason:
                e.update(status="n/a", reason=reason)
            entries.append(e)
        live = [e for e in entries if e["status"] == "ok"]
        interference = Interference(cpus)
        # Fresh servers for this cell.
        servers_of = {}
        for e in live:
            big = MAX_LINE_BIG if cell["size"] > 4096 and e["model"] != BASELINE else None
            datagram = e["model"] != BASELINE and is_datagram(models_by_name[e["model"]])
            srv = Server(e["model"], tmp, cpus[0], max_line=big,
                         extra_args=models_by_name.get(e["model"], {}).get("args", ()),
                         workers=pool_workers(models_by_name.get(e["model"]), cell),
                         datagram=datagram)
            servers_of[e["model"]] = srv
            e["server_argv"] = " ".join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a
                                        for a in srv.argv)
            e["started"] = time.monotonic()
            if srv.unavailable:
                e.update(status="n/a", reason=srv.unavailable)
                e.pop("started")
            elif srv.failure:
                e.update(status="FAILED", reason=srv.failure)
        live = [e for e in live if e["status"] != "n/a"]
        for e in entries:
            if e["status"] == "n/a":
                step[0] += 1
                log(f"[{step[0]}/{progress.total}] {e['model']} {cell['label']} ... n/a: {e['reason']}")
        base_index = step[0]
        for run in range(mode["runs"]):
            for i, e in enumerate(live):
                idx = base_index + i + 1
                exp = expected_run_s(cell, mode, run)
                if e["status"] != "ok":
                    progress.done(exp)
                    continue
                progress.line(idx, f"{e['model']} {cell['label']} run {run + 1}/{mode['runs']}")
                r = run_client(servers_of[e["model"]].port, cell, duration_of(mode, cell),
                               warmup_of(mode, run, cell), cpus[1], tmp,
                               udp=e["model"] != BASELINE
                               and is_datagram(models_by_name[e["model"]]))
                e["runs"].append(r)
                progress.done(exp)
                if "failure" in r:
                    e.update(status="FAILED", reason=f"run {run + 1}: {r['failure']}")
                    log(f"    FAILED: {e['reason']}")
        step[0] = base_index + len(live)
        for e in live:
            srv = servers_of[e["model"]]
            summary = srv.stop()
            e["server_life_s"] = round(time.monotonic() - e.pop("started"), 3)
            if summary:
                e["server"] = summary
            if srv.failure and e["status"] == "ok":
                e.update(status="FAILED", reason=srv.failure)
            summarize(e, cell)
            check_bytes(e, cell)
        busy = interference.result()
        for e in entries:
            e["interference"] = busy
        results.extend(entries)
    return results


def run_memory(names, models_by_name, mode, cpus, tmp, progress, step):
    """10,000 connections held open at a low open-loop rate; peak server memory."""
    cell = dict(id="mem10k", label=f"{MEM_CONNS // 1000}k conns @{MEM_RATE}/s",
                conns=MEM_CONNS, size=64, depth=1)
    out = []
    for name in names:
        step[0] += 1
        e = dict(model=name, conns=MEM_CONNS, rate=MEM_RATE, status="ok", reason="")
        exp = mode["mem_warmup"] + mode["mem_duration"] + 2
        progress.line(step[0], f"{name} {MEM_CONNS} connections (memory)")
        short = descriptors_short(MEM_CONNS)
        if short:
            e.update(status="n/a", reason=short)
            log(f"    n/a: {short}")
            progress.done(exp)
            out.append(e)
            continue
        srv = Server(name, tmp, cpus[0], extra_args=models_by_name.get(name, {}).get("args", ()))
        if srv.unavailable:
            e.update(status="n/a", reason=srv.unavailable)
        elif srv.failure:
            e.update(status="FAILED", reason=srv.failure)
        else:
            r = run_client(srv.port, cell, mode["mem_duration"], mode["mem_warmup"], cpus[1], tmp,
                           rate=MEM_RATE)
            e["run"] = r
            if "failure" in r:
                e.update(status="FAILED", reason=r["failure"])
            s = srv.stop()
            if s:
                e["server"] = s
                e["maxrss_kb"] = s["maxrss_kb"]
                e["connections_seen"] = s["connections"]
                e["under_16mib"] = s["maxrss_kb"] < MEM_TARGET_KB
            if srv.failure and e["status"] == "ok":
                e.update(status="FAILED", reason=srv.failure)
            if e["status"] == "ok" and s and s["connections"] < MEM_CONNS:
                e.update(status="FAILED", reason=f"server saw {s['connections']} connections")
            if "run" in e and "latency_us" in r:
                e["messages"] = r["messages"]
                e["p99_us"] = r["latency_us"]["p99"]
            if s and s["bytes"]:
                # includes accepting the 10,000 connections
                e["cpu_us_per_msg"] = (s["user_s"] + s["sys_s"]) / (s["bytes"] / cell["size"]) * 1e6
        if e["status"] == "ok":
            e.update(memory_of_lines(name, cpus, tmp))
        progress.done(exp)
        out.append(e)
    return out


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def memory_of_lines(name, cpus, tmp):
    """A fresh server's VmRSS before any client, with 10,000 idle connections,
    with each of them holding a 100-byte unfinished line, at peak (maxrss),
    and after they all left and the loop went quiet (glibc's heap given back).
    Driven by tests/scaleprobe.py swarm --partial, which waits for the server
    to hold the connections and to have read every partial line."""
    srv = Server(name, tmp, cpus[0])
    if srv.failure:
        return dict(lines_status="FAILED", lines_reason=srv.failure)
    r = dict(rss_before_kb=vmrss_kb(srv.pid))
    argv = [sys.executable, "-S", os.path.join(ROOT, "tests/scaleprobe.py"), "--port",
            str(srv.port), "--deadline", "120", "swarm", str(MEM_CONNS), "--partial", "100",
            "--messages", "1", "--window", "512", "--pid", str(srv.pid)]
    out = os.path.join(tmp, "lines.out")
    with open(out, "wb") as o:
        p = PROCS.start(argv, cpus[1], o, subprocess.STDOUT)
        p.wait()
    PROCS.reaped(p)
    with open(out, errors="replace") as f:
        text = f.read()
    m = re.search(r"idle_rss_kb=(\d+) partial_rss_kb=(\d+)", text)
    if p.returncode != 0 or not m:
        r.update(lines_status="FAILED", lines_reason=text.strip()[-200:])
    else:
        r.update(lines_status="ok", rss_idle_kb=int(m.group(1)), rss_lines_kb=int(m.group(2)))
        # The connections are closed; the loop trims its heap once quiet for a
        # second (common/loop.h LOOP_TRIM_AFTER_MS). Measure after that.
        time.sleep(2.5)
        r["rss_after_kb"] = vmrss_kb(srv.pid)
    s = srv.stop()
    if s:
        # The kernel's high-water mark may lag what was just sampled.
        r["rss_peak_kb"] = max([s["maxrss_kb"]] + [r[k] for k in ("rss_idle_kb", "rss_lines_kb")
                                                     if r.get(k) is not None])
    return r


# ---------------------------------------------------------------- output

def k(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def us(x):
    if x is None:
        return "-"
    if x >= 10000:
        return f"{x / 1000:.0f} ms"
    if x >= 1000:
        return f"{x / 1000:.1f} ms"
    return f"{x:.0f} µs" if x >= 100 else f"{x:.1f} µs"


def ratio(v, b):
    return None if v is None or not b else v / b


def markdown(results, mem, servers, cells, meta):
    by = {(e["model"], e["cell"]): e for e in results}
    out = []
    mode = meta["mode"]
    later = (f", {mode['rewarmup']:g} s before later runs"
             if mode["runs"] > 1 and mode["rewarmup"] != mode["warmup"] else "")
    out.append(f"# echolab benchmark ({mode['name']}: {mode['runs']} run(s) per cell of "
               f"{mode['duration']:g} s measured, {mode['warmup']:g} s warm-up before the first{later})")
    out.append("")
    m = meta["machine"]
    out.append(f"{meta['date']}; {m['nproc']} CPUs ({m['cpu_model']}), kernel {m['kernel']}; "
               f"{meta['pinning']}; load average (1, 5, 15 min) {m['loadavg_at_start']} at the "
               f"start, {m.get('loadavg_at_end')} at the end; {meta['elapsed_s']:.0f} s.")
    out.append("Ratio in parentheses: model / baseline in the same cell of the same run. "
               "n/a: the model cannot take the cell (reason below).")
    out.append("")

    def table(title, note, fig, fmt, show_spread=False):
        out.append(f"## {title}")
        out.append("")
        if note:
            out.append(note)
            out.append("")
        out.append("| model | " + " | ".join(c["label"] for c in cells) + " |")
        out.append("|---|" + "---:|" * len(cells))
        for name in servers:
            row = [name]
            for c in cells:
                e = by.get((name, c["id"]))
                b = by.get((BASELINE, c["id"]))
                if e is None:
                    row.append("")
                elif e["status"] == "n/a":
                    row.append("n/a")
                elif e["status"] != "ok":
                    row.append("**FAILED**")
                else:
                    v = e.get(fig)
                    bv = b.get(fig) if b and b["status"] == "ok" else None
                    rt = ratio(v, bv)
                    s = fmt(v) + (f" ({rt:.2f})" if rt is not None and name != BASELINE else "")
                    if show_spread and e.get("spread") is not None:
                        s += f" ±{e['spread'] * 50:.0f}%"
                    row.append(s)
            out.append("| " + " | ".join(row) + " |")
        if show_spread:
            row = ["*others' CPU*"]
            for c in cells:
                b = by.get((BASELINE, c["id"]))
                i = b.get("interference") if b else None
                row.append("-" if not i else f"*{i['others_cores']:.2f}*")
            out.append("| " + " | ".join(row) + " |")
        out.append("")

    table("Throughput: messages/s (ratio to baseline)",
          ("Median of the runs, client count over the measured window. "
           "± is half the spread (max - min) / median of the runs." if mode["runs"] > 1 else
           "One run per cell: no spread.") +
          " *others' CPU*: cores' worth of CPU that other processes used on the CPUs "
          "we run on while the cell ran (busy time from /proc/stat minus our own); "
          "the larger, the less the cell's figures mean.",
          "msgs_per_sec", k, show_spread=True)
    table("p99 latency (ratio to baseline)",
          "Median of the runs' 99th percentiles, closed loop: send to echo.",
          "p99_us", us)
    table("CPU µs per message (ratio to baseline)",
          "Server (user + sys) over its whole life / messages echoed over its whole life "
          "(bytes echoed / size; both from the SIGTERM summary). Kernel time included, as "
          "the kernel charges it to the process (see docs/BENCHMARKS.md).",
          "cpu_us_per_msg", lambda v: "-" if v is None else f"{v:.2f}")
    table("Peak memory: maxrss KiB (ratio to baseline)",
          "maxrss_kb of the summary line (fork: the larger of parent and largest child).",
          "maxrss_kb", lambda v: "-" if v is None else f"{v:.0f}")

    targets_table(out, by, cells)
    churn_table(out, by, servers, cells, mode)
    notes = [(e["model"], e["label"], e["status"], e["reason"]) for e in results
             if e["status"] != "ok"]
    if notes:
        out.append("## n/a and failures")
        out.append("")
        for model, label, status, reason in notes:
            out.append(f"- {model}, {label}: {status}: {reason}")
        out.append("")
    if mem:
        out.append(f"## {MEM_CONNS:,} connections open: peak server memory")
        out.append("")
        out.append(f"Open loop at {MEM_RATE:,} messages/s in total (about one message per "
                   f"connection per second), {meta['mode']['mem_warmup']:g} s + "
                   f"{meta['mode']['mem_duration']:g} s. Target for epoll and libev: under 16 MiB.")
        out.append("")
        out.append("| model | status | maxrss KiB | MiB | KiB per connection | under 16 MiB "
                   "| p99 latency | CPU µs/msg incl. accepts |")
        out.append("|---|---|---:|---:|---:|---|---:|---:|")
        for e in mem:
            kb = e.get("maxrss_kb")
            cpu = e.get("cpu_us_per_msg")
            status = e["status"] + (": " + e["reason"] if e["reason"] else "")
            cols = [e["model"], status, "-" if kb is None else f"{kb}",
                    "-" if kb is None else f"{kb / 1024:.1f}",
                    "-" if kb is None else f"{kb / MEM_CONNS:.2f}",
                    "-" if kb is None else ("yes" if kb < MEM_TARGET_KB else "NO"),
                    us(e.get("p99_us")), "-" if cpu is None else f"{cpu:.1f}"]
            out.append("| " + " | ".join(cols) + " |")
        out.append("")
        out.append(f"### {MEM_CONNS:,} connections: idle, then each holding a 100-byte "
                   f"unfinished line")
        out.append("")
        out.append("Server VmRSS (KiB) of a fresh server: before any client, with every "
                   "connection open and idle, with each holding 100 bytes of a line (read by "
                   "the server, not yet complete), peak (the summary's maxrss_kb or a larger "
                   "sample), and 2.5 s after all left.")
        out.append("")
        out.append("| model | status | before | idle | 100-byte lines | peak | after |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        for e in mem:
            if "lines_status" not in e:
                continue
            st = e["lines_status"] + (": " + e["lines_reason"] if e.get("lines_reason") else "")
            cols = [e["model"], st] + ["-" if e.get(key) is None else str(e[key]) for key in (
                "rss_before_kb", "rss_idle_kb", "rss_lines_kb", "rss_peak_kb", "rss_after_kb")]
            out.append("| " + " | ".join(cols) + " |")
        out.append("")
    client = [e["client_cpu_util"] for e in results if e.get("client_cpu_util") is not None]
    server = [e["server_cpu_util"] for e in results if e.get("server_cpu_util") is not None]
    if client and server:
        out.append(f"CPU use while loaded, as a fraction of one core (user + system time): "
                   f"client {min(client):.2f} to {max(client):.2f} (median of its runs, "
                   f"per cell), server {min(server):.2f} to {max(server):.2f} (its CPU time over "
                   f"its clients' wall time).")
        out.append("")
    return "\n".join(out)


def targets_table(out, by, cells):
    """The TARGETS whose models ran, cell by cell: the ratio and whether it is met."""
    ids = {c["id"]: c["label"] for c in cells}
    rows = []
    for t in TARGETS:
        for cid in t["cells"]:
            e, a = by.get((t["model"], cid)), by.get((t["against"], cid))
            if cid not in ids or e is None or a is None:
                continue
            if e["status"] != "ok" or a["status"] != "ok":
                rows.append(f"| {t['what']} | {ids[cid]} | - | {e['status']}/{a['status']} |")
                continue
            r = ratio(e.get(t["fig"]), a.get(t["fig"]))
            if r is None:
                continue
            if "at_least" in t:
                met = "yes" if r >= t["at_least"] else "**no**"
            else:
                met = "yes" if r <= t["at_most"] else "**no**"
            rows.append(f"| {t['what']} | {ids[cid]} | {r:.2f} | {met} |")
    if not rows:
        return
    out.append("## Targets")
    out.append("")
    out.append("Ratios in the same cell of the same run (docs/BENCHMARKS.md says what a missed "
               "one pays for). On a shared machine read them with the *others' CPU* row above.")
    out.append("")
    out.append("| target | cell | ratio | met |")
    out.append("|---|---|---:|---|")
    out.extend(rows)
def churn_table(out, by, servers, cells, mode):
    """UNP Figure 30.1's table: what a connection costs each server."""
    cell = next((c for c in cells if c.get("churn")), None)
    if not cell:
        return
    base = by.get(("iterative", cell["id"]))
    base_cpu = base.get("cpu_us_per_conn") if base and base["status"] == "ok" else None
    out.append("## Connection churn: the cost of a connection (UNP Figure 30.1)")
    out.append("")
    out.append(f"{cell['conns']} client loops, each: connect, one {cell['size']}-byte message, "
               "its echo checked, close (echo-client --load --churn). CPU per connection: the "
               "server's user + sys time over its whole life, reaped children included, / the "
               "connections it accepted (warm-ups included). *Over iterative*: minus the "
               "iterative server's CPU per connection, which does nothing per connection but "
               "accept, serve and close: UNP's \"process control CPU time\". Runs trimmed to "
               f"{duration_of(mode, cell):g} s measured after at most "
               f"{warmup_of(mode, 0, cell):g} s of warm-up.")
    out.append("")
    out.append("| model | connections/s | CPU µs per connection | over iterative "
               "| p99 connection time |")
    out.append("|---|---:|---:|---:|---:|")
    for name in servers:
        e = by.get((name, cell["id"]))
        if e is None:
            continue
        if e["status"] != "ok":
            out.append(f"| {name} | {'n/a' if e['status'] == 'n/a' else '**FAILED**'} | | | |")
            continue
        cpu = e.get("cpu_us_per_conn")
        over = cpu - base_cpu if cpu is not None and base_cpu is not None else None
        out.append(f"| {name} | {k(e.get('connections_per_sec'))} | "
                   f"{'-' if cpu is None else f'{cpu:.1f}'} | "
                   f"{'-' if over is None else f'{over:+.1f}'} | {us(e.get('p99_us'))} |")
    out.append("")


CSV_FIELDS = ["model", "cell", "label", "conns", "size", "depth", "status", "reason", "runs",
              "msgs_per_sec", "msgs_per_sec_min", "msgs_per_sec_max", "spread", "ratio_msgs",
              "mb_per_sec", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "ratio_p99",
              "cpu_us_per_msg", "ratio_cpu", "maxrss_kb", "ratio_maxrss", "errors",
              "client_messages", "server_messages_echoed", "client_cpu_util", "server_cpu_util",
              "others_cpu_cores", "connections_per_sec", "cpu_us_per_conn"]


def write_csv(path, results):
    by = {(e["model"], e["cell"]): e for e in results}

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.6g}"
        s = str(v)
        return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\n') else s

    with open(path, "w") as f:
        f.write(",".join(CSV_FIELDS) + "\n")
        for e in results:
            b = by.get((BASELINE, e["cell"]), {})
            row = dict(e, runs=len(e["runs"]),
                       ratio_msgs=ratio(e.get("msgs_per_sec"), b.get("msgs_per_sec")),
                       ratio_p99=ratio(e.get("p99_us"), b.get("p99_us")),
                       ratio_cpu=ratio(e.get("cpu_us_per_msg"), b.get("cpu_us_per_msg")),
                       ratio_maxrss=ratio(e.get("maxrss_kb"), b.get("maxrss_kb")),
                       others_cpu_cores=(e.get("interference") or {}).get("others_cores"))
            f.write(",".join(cell(row.get(k)) for k in CSV_FIELDS) + "\n")


def gnuplot_png_terminal():
    for term in ("pngcairo", "png"):
        r = subprocess.run(["gnuplot", "-e", f"set terminal {term}"], capture_output=True)
        if r.returncode == 0 and not r.stderr.strip():
            return term
    return None


def plots(results, servers, outdir):
    """messages/s and p99 against connections (64-byte ping-pong), PNG and SVG."""
    if not shutil.which("gnuplot"):
        log("warning: gnuplot not found; no plots")
        return []
    by = {(e["model"], e["cell"]): e for e in results}
    conns = {c["id"]: c["conns"] for c in CELLS}
    made = []
    png = gnuplot_png_terminal()
    for fig, name, ylabel, title in (
            ("msgs_per_sec", "throughput", "messages/s (median)",
             "64-byte ping-pong: throughput against connections"),
            ("p99_us", "p99", "p99 latency, µs (median)",
             "64-byte ping-pong: p99 latency against connections")):
        data = os.path.join(outdir, f"{name}.dat")
        with open(data, "w") as f:
            f.write("conns " + " ".join(servers) + "\n")
            for cid in PLOT_CELLS:
                vals = []
                for s in servers:
                    e = by.get((s, cid))
                    v = e.get(fig) if e and e["status"] == "ok" else None
                    vals.append("-" if v is None else f"{v:.6g}")
                f.write(f"{conns[cid]} " + " ".join(vals) + "\n")
        for fmt in ("png", "svg"):
            if fmt == "png" and not png:
                log("warning: gnuplot has no png terminal; no PNG plots")
                continue
            out = os.path.join(outdir, f"{name}.{fmt}")
            term = png if fmt == "png" else "svg"
            r = subprocess.run(
                ["gnuplot", "-e",
                 f"datafile='{data}'; outfile='{out}'; term='{term}'; ylabel='{ylabel}'; "
                 f"plottitle='{title}'; ncols={len(servers) + 1}; logy={1 if fig == 'p99_us' else 0}",
                 os.path.join(ROOT, "bench/plot.gp")], capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(out):
                log(f"warning: gnuplot failed for {out}: {r.stderr.strip()[:300]}")
            else:
                made.append(os.path.relpath(out, ROOT))
    return made


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="echolab benchmark driver (see bench/run.sh)")
    ap.add_argument("--quick", action="store_true", help="1 run per cell, short runs (~1 min)")
    ap.add_argument("--models", help="comma-separated subset of models (baseline always runs)")
    ap.add_argument("--cells", help="comma-separated subset of cell ids: "
                    + ",".join(c["id"] for c in CELLS))
    ap.add_argument("--runs", type=int, help="runs per cell")
    ap.add_argument("--duration", type=float, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per run")
    ap.add_argument("--no-memory", action="store_true", help="skip the 10,000-connection check")
    ap.add_argument("--server-cpus", metavar="LIST",
                    help="CPUs the servers run on, e.g. 0-6 or 0,2,4 (default: every CPU we may "
                         "use but the client's, which is the last of them); models that take "
                         "--workers get one worker per server CPU")
    ap.add_argument("--workers", type=int, metavar="N",
                    help="workers for the concurrent models that take --workers (default: one "
                         "per server CPU)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results"), help="output directory")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: rewrite tables, CSV and plots from OUT/results.json")
    args = ap.parse_args()
    if args.render_only:
        return render_only(args.out)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    mode = dict(MODES["quick" if args.quick else "default"], name="quick" if args.quick else "default")
    for key in ("runs", "duration", "warmup"):
        if getattr(args, key) is not None:
            mode[key] = getattr(args, key)
    if args.warmup is not None:
        mode["rewarmup"] = args.warmup

    models = read_models()
    models_by_name = {m["name"]: m for m in models}
    names = [m["name"] for m in models]
    if args.models:
        wanted = [x for x in args.models.split(",") if x and x != BASELINE]
        unknown = [x for x in wanted if x not in models_by_name]
        if unknown:
            log(f"unknown model(s): {', '.join(unknown)}; models: {' '.join(names)}")
            return 2
        names = [n for n in names if n in wanted]
    servers = names + [BASELINE]
    cells = CELLS
    if args.cells:
        ids = args.cells.split(",")
        cells = [c for c in CELLS if c["id"] in ids]
        if len(cells) != len(ids):
            log(f"unknown cell id in {args.cells}; cells: {','.join(c['id'] for c in CELLS)}")
            return 2

    missing = [p for p in [f"bin/echo-{n}" for n in names] + ["build/bench/echo-baseline",
                                                              "bin/echo-client"]
               if not os.access(os.path.join(ROOT, p), os.X_OK)]
    if missing:
        log(f"missing: {' '.join(missing)} (run make all build/bench/echo-baseline)")
        return 2
    helptext = subprocess.run([os.path.join(ROOT, "bin/echo-client"), "--help"],
                              capture_output=True, text=True).stdout
    if "--load" not in helptext:
        log("bin/echo-client has no --load mode yet")
        return 2

    try:
        cpus, pinning = choose_cpus(args.server_cpus)
    except ValueError as e:
        log(f"--server-cpus: {e}")
        return 2
    workers = args.workers or (len(cpus[0]) if cpus[0] else len(os.sched_getaffinity(0)))
    for name in names:
        models_by_name[name]["args"] = model_args(models_by_name[name], workers)

    # The baseline goes first in every cell so its runs open each round.
    order = [BASELINE] + names
    mem_names = [] if args.no_memory else [
        n for n in (MEM_SERVERS_QUICK if args.quick else MEM_SERVERS_DEFAULT)
        if n == BASELINE or n in names]
    total_steps = len(order) * len(cells) + len(mem_names)
    expected = sum(sum(expected_run_s(c, mode, r) for r in range(mode["runs"])) *
                   sum(1 for n in order if not (descriptors_short(c["conns"]) if n == BASELINE
                                                else not_applicable(models_by_name[n], c)))
                   for c in cells)
    expected += len(mem_names) * (mode["mem_warmup"] + mode["mem_duration"] + 2)
    progress = Progress(total_steps, expected)
    os.makedirs(args.out, exist_ok=True)
    log(f"bench ({mode['name']}): {len(order)} servers x {len(cells)} cells, {mode['runs']} run(s) "
        f"of {mode['duration']:g} s after {mode['warmup']:g} s warm-up ({mode['rewarmup']:g} s for "
        f"later runs); {pinning}; about {fmt_duration(expected)}")

    meta = dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                mode=mode, machine=machine(), pinning=pinning, host=HOST,
                server_cpus=sorted(cpus[0]) if cpus[0] else None,
                client_cpus=sorted(cpus[1]) if cpus[1] else None,
                model_args={n: list(models_by_name[n]["args"]) for n in names},
                max_clients=MAX_CLIENTS, max_line_64k_cell=MAX_LINE_BIG,
                cpu_per_message="server (user+sys) over its whole life / (bytes echoed / size)",
                cells=cells)
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="echolab-bench.")
    step = [0]
    try:
        results = run_matrix(order, models_by_name, cells, mode, cpus, tmp, progress, step)
        mem = run_memory(mem_names, models_by_name, mode, cpus, tmp, progress, step)
    except Interrupted as e:
        log(f"bench: interrupted ({e}); stopping every server")
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)   # a second signal must not cut the cleanup short
        PROCS.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    meta["elapsed_s"] = round(time.monotonic() - t0, 1)
    meta["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    # Rows in table order: models as listed, baseline last.
    rank = {n: i for i, n in enumerate(servers)}
    results.sort(key=lambda e: ([c["id"] for c in cells].index(e["cell"]), rank[e["model"]]))
    return write_outputs(args.out, meta, servers, results, mem)


def write_outputs(out, meta, servers, results, mem):
    """results.md, results.csv, the plots, results.json; the tables on stdout."""
    md = markdown(results, mem, servers, meta["cells"], meta)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md + "\n")
    write_csv(os.path.join(out, "results.csv"), results)
    meta["plots"] = plots(results, servers, out)
    failed = [e for e in results + mem if e["status"] == "FAILED"]
    doc = dict(meta=meta, servers=servers, results=results, memory_10k=mem,
               failed=len(failed), ok=not failed)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(md, flush=True)
    log(f"bench: {meta['elapsed_s']:.0f} s; results in {os.path.relpath(out, ROOT)}/")
    if failed:
        for e in failed:
            log(f"FAILED: {e['model']} {e.get('label', 'memory')}: {e['reason']}")
        return 1
    return 0


def render_only(out):
    """Rewrites the tables, CSV and plots from an existing results.json."""
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    return write_outputs(out, doc["meta"], doc["servers"], doc["results"], doc["memory_10k"])


if __name__ == "__main__":
    sys.exit(main())
