"""idle: the idle-connection cells of make bench (the C10K curve) and its
scale mode (make bench SCALE=max).

10 connections in open loop at cells.IDLE_RATE beside N idle ones, held by
the same client (echo-client --hold N: each opened, echoed once, then silent).
A server that asks the kernel about every connection it watches on every
wake-up (select, poll) pays for the idle ones on each message; one that
registers them once (epoll, io_uring, libev, libevent) does not.

The server's CPU per message is measured over a window inside the client's
measured one, not over the server's whole life: opening, serving once and
closing N connections costs far more than the thousands of messages, and is
not what the cell asks. The driver watches the client's stderr for its
"--hold N: ..." line (every held connection open and answered), waits the
warm-up, then reads the server's CPU time (the sum over its threads and
child processes of /proc/PID/task/TID/schedstat: nanoseconds, where
/proc/PID/stat counts 10 ms ticks) at the two ends of 70 % of the measured
window. CPU per message = that CPU / (the client's messages/s x the
window's seconds). The RSS is read at the window's end (fork: the sum over
its processes).

A model that cannot hold N is n/a, measured, never assumed: the client's
--hold line says how many it refused ("ERR server busy": select past
FD_SETSIZE, a --max-clients) or left unanswered; and before a cell, a model
that needs a process or thread per connection (its task count grew with N in
an earlier idle cell of the run) is n/a where that many tasks, or their
memory at the measured size each, do not fit this machine's limits.

The scale cell holds the hard descriptor limit less IDLE_SPARE_FDS and also
reads /proc/net/sockstat and /proc/meminfo's Slab before the client and in
the window: what the kernel spends on the connections, beside the server's
own bytes per idle connection (RSS in the window - RSS before the client) / N.
"""
import os
import re
import resource
import threading
import time

from procs import procfs

PER_THREAD_MAX = 64
IDLE_SPARE_FDS = 1000          # under the hard limit: the client's own 64, slack
HOLD_LINE_RE = re.compile(r"--hold (\d+): (\d+) echoed and now idle, (\d+) refused "
                          r"\(ERR server busy\), (\d+) not answered within 10 s, (\d+) failed")
# The sampled stretch, in fractions of the client's measured window: margins
# on both sides for a sampler that a busy machine delays.
WINDOW_FROM, WINDOW_SPAN = 0.1, 0.7


def is_idle(cell):
    return bool(cell.get("idle"))


def hold_of(cell):
    """The idle connections a cell holds; the scale cell's from the limit."""
    if cell.get("hold") is not None:
        return cell["hold"]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = 1_000_000 if hard == resource.RLIM_INFINITY else hard
    return max(0, limit - cell["conns"] - IDLE_SPARE_FDS)


def resolved(cell):
    """The cell with its hold filled in (the scale cell's depends on here)."""
    return dict(cell, hold=hold_of(cell))


# ---------------------------------------------------------------- /proc

def server_pids(pid):
    """The server and its child processes: from /proc/PID/task/*/children
    where the kernel has it (CONFIG_PROC_CHILDREN: a few reads, where a scan
    of /proc takes long enough on a busy machine to miss a window). A process
    of more than PER_THREAD_MAX threads is a thread-per-connection server
    (threads) whose connection threads fork nothing: only its main thread's
    children are read. Reading every thread's would cost a file per held
    connection: at 10,000 a third of a second, on a busy machine enough to
    push the sample past the client's window."""
    kids = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
        if len(tids) > PER_THREAD_MAX:
            tids = [str(pid)]
        for tid in tids:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        return [pid] + procfs.children(pid)
    return [pid] + kids


def cpu_ns(pids):
    """{(pid, tid): CPU ns so far} over the processes' threads: schedstat's
    first field. A process of more than PER_THREAD_MAX threads (threads,
    one per connection) is read whole from /proc/PID/stat instead: one read
    however many threads, the ended ones included, in 10 ms ticks."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        if len(tids) > PER_THREAD_MAX:
            f = procfs.stat_fields(pid)
            if f:
                out[(pid, "all")] = (int(f[11]) + int(f[12])) * 10**9 // procfs.CLK_TCK
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    out[(pid, tid)] = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return out


def cpu_between(a, b):
    """Seconds of CPU between two cpu_ns() readings: each thread's own
    difference (one that ended meanwhile took its time with it, one that
    began counts from zero), so a thread's end never makes it negative."""
    return sum(ns - a.get(key, 0) for key, ns in b.items()) / 1e9


def task_count(pids):
    return sum(procfs.thread_count(p) or 0 for p in pids)


def sockstat():
    """{"sockets": used, "tcp_mem_pages": mem, "tcp_alloc": alloc} of this
    network namespace (every process in it, not only ours)."""
    out = {}
    try:
        with open("/proc/net/sockstat") as f:
            for line in f:
                w = line.split()
                if w[0] == "sockets:":
                    out["sockets"] = int(w[2])
                elif w[0] == "TCP:":
                    kv = dict(zip(w[1::2], w[2::2]))
                    out["tcp_mem_pages"] = int(kv["mem"])
                    out["tcp_alloc"] = int(kv["alloc"])
    except (OSError, KeyError, ValueError, IndexError):
        pass
    return out


def slab_kb():
    return procfs.meminfo_kb("Slab")


def sample(pids):
    """The server's CPU time now. pids: its processes, listed just before
    (listing children scans all of /proc, so it is done before the clock is
    read, not between)."""
    return dict(t=time.monotonic(), cpu_ns=cpu_ns(pids))


def memory_kb(pids):
    """VmRSS of one process; of several (fork), the sum of their
    proportional sizes (PSS), as their shared pages would count once per
    process in RSS."""
    if len(pids) == 1:
        return procfs.rss_kb(pids[0]) or 0
    return sum(procfs.pss_kb(p) or 0 for p in pids)


# ---------------------------------------------------------------- fit

def machine_tasks_left():
    """How many more processes or threads this user may start here: the
    smallest of RLIMIT_NPROC, kernel.threads-max and kernel.pid_max, less the
    tasks that exist now (every user's: pids are shared)."""
    limits = [resource.getrlimit(resource.RLIMIT_NPROC)[0]]
    for name in ("threads-max", "pid_max"):
        try:
            with open(f"/proc/sys/kernel/{name}") as f:
                limits.append(int(f.read()))
        except (OSError, ValueError):
            pass
    limits = [x for x in limits if x != resource.RLIM_INFINITY and x > 0]
    now = sum(procfs.thread_count(int(p)) or 0 for p in os.listdir("/proc") if p.isdigit())
    return (min(limits) - now) if limits else None


def does_not_fit(name, cell, earlier):
    """Why `name` cannot take `cell` here, from what its earlier idle cells
    of this run measured (tasks and memory per held connection), or None."""
    hold = hold_of(cell)
    mine = sorted((e for e in earlier if e["model"] == name and e.get("idle")
                   and e["status"] == "ok"), key=lambda e: e["idle"]["hold"])
    if len(mine) < 2 or mine[-1]["idle"]["hold"] <= mine[0]["idle"]["hold"]:
        return None
    lo, hi = mine[0]["idle"], mine[-1]["idle"]
    span = hi["hold"] - lo["hold"]
    tasks_per = (hi["tasks"] - lo["tasks"]) / span
    if tasks_per < 0.5:
        return None   # not a task per connection
    kb_per = max(0.0, (hi["rss_kb"] - lo["rss_kb"]) / span)
    need_tasks, need_kb = tasks_per * hold, kb_per * hold
    left, avail = machine_tasks_left(), procfs.meminfo_kb("MemAvailable")
    measured = (f"measured at {hi['hold']:,} idle: {tasks_per:.2f} tasks and {kb_per:.0f} KiB "
                f"per connection")
    if left is not None and need_tasks > left:
        return (f"{hold:,} connections need ~{need_tasks:,.0f} processes/threads; this machine "
                f"leaves {left:,} (ulimit -u, kernel.threads-max, kernel.pid_max) ({measured})")
    if avail is not None and need_kb > avail / 2:
        return (f"{hold:,} connections need ~{need_kb / 1024:,.0f} MiB, over half of the "
                f"{avail / 1024:,.0f} MiB available ({measured})")
    return None


# ---------------------------------------------------------------- one run

def wait_hold_line(path, thread, hold):
    """The client's --hold counts once every held connection is answered,
    {} for hold 0, None if the client ended first or it takes too long."""
    if hold == 0:
        return {}
    deadline = time.monotonic() + 30 + hold * 0.01   # as measure.run_client's
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                m = HOLD_LINE_RE.search(f.read())
        except OSError:
            m = None
        if m:
            keys = ("asked", "echoed", "refused", "silent", "failed")
            return dict(zip(keys, map(int, m.groups())))
        if not thread.is_alive():
            return None
        time.sleep(0.005)
    return None


def sleep_until(t):
    left = t - time.monotonic()
    if left > 0:
        time.sleep(left)


def one_run(srv, cell, duration, warmup, cpu, tmp):
    """One client run with --hold and the server's CPU over the window.
    Returns the run dict; "not_held" says why the server could not take the
    cell (n/a), "failure" why the run does not count."""
    from measure import run_client  # measure imports this module
    hold = hold_of(cell)
    err = os.path.join(tmp, "client.err")
    if os.path.exists(err):
        os.unlink(err)
    scale = bool(cell.get("scale"))
    before = dict(rss_kb=procfs.rss_kb(srv.pid), sockstat=sockstat(), slab_kb=slab_kb()) \
        if scale else {}
    box = {}
    thread = threading.Thread(target=lambda: box.update(r=run_client(
        srv.port, dict(cell, hold=hold), duration, warmup, cpu, tmp, rate=cell["rate"])))
    thread.start()
    held = wait_hold_line(err, thread, hold)
    a = b = None
    if held is not None and not (held and held["echoed"] < hold):
        # the client's window ends no sooner than this: it starts its
        # warm-up after the --hold line
        window_end = time.monotonic() + warmup + duration
        sleep_until(window_end - (1 - WINDOW_FROM) * duration)
        pids = server_pids(srv.pid)
        a = sample(pids)
        sleep_until(a["t"] + WINDOW_SPAN * duration)
        # listed again: a forking server may fork the active connections'
        # children late on a busy machine (they count from zero)
        pids = server_pids(srv.pid)
        b = sample(pids)
        b["client_alive"] = thread.is_alive()
        b["in_window"] = b["t"] <= window_end
        # memory after the CPU: a forking server's PSS takes a while to read
        b["tasks"] = task_count(pids)
        b["rss_kb"] = memory_kb(pids)
        if scale:
            b["sockstat"], b["slab_kb"] = sockstat(), slab_kb()
    thread.join()
    r = box["r"]
    return figures(r, hold, held, a, b, before)


def figures(r, hold, held, a, b, before):
    """The run's idle figures into r["idle"]."""
    if held and held["echoed"] < hold:
        r["not_held"] = (f"the server held {held['echoed']:,} of {hold:,} idle connections: "
                         f"{held['refused']:,} refused (ERR server busy), {held['silent']:,} not "
                         f"answered within 10 s, {held['failed']:,} failed")
        return r
    if "failure" in r:
        return r
    if held is None or a is None:
        r["failure"] = "the client's --hold line did not come"
        return r
    if not b["client_alive"] or not b["in_window"]:
        # not the server's fault: this run has no CPU figure, the others do;
        # past the window the CPU would be the client's drain and close's
        r["sample_missed"] = "the client's window ended before the sampled stretch did: a " \
                             "busy machine delayed the sampler"
        return r
    if min(len(b["cpu_ns"]), b["tasks"]) < 0.9 * len(a["cpu_ns"]):
        # a forking server's children went with their connections: the
        # client had closed them, the window was over
        r["sample_missed"] = "the server's processes ended during the sampled stretch: " \
                             "a busy machine delayed the sampler past the window"
        return r
    window = b["t"] - a["t"]
    cpu = cpu_between(a["cpu_ns"], b["cpu_ns"])
    msgs = r.get("messages_per_sec", 0) * window
    r["idle"] = dict(hold=hold, window_s=round(window, 3), server_cpu_s=round(cpu, 6),
                     cpu_us_per_msg=cpu / msgs * 1e6 if msgs else None,
                     server_cpu_cores=round(cpu / window, 3) if window > 0 else None,
                     rss_kb=b["rss_kb"], tasks=b["tasks"])
    if before:
        i = r["idle"]
        i["rss_before_kb"] = before["rss_kb"]
        i["bytes_per_idle_conn"] = ((b["rss_kb"] - before["rss_kb"]) * 1024 / hold
                                    if hold and before["rss_kb"] is not None else None)
        s0, s1 = before["sockstat"], b["sockstat"]
        if "sockets" in s0 and "sockets" in s1:
            i["kernel_sockets"] = s1["sockets"] - s0["sockets"]
            i["kernel_tcp_mem_bytes_per_conn"] = ((s1["tcp_mem_pages"] - s0["tcp_mem_pages"])
                                                  * 4096 / hold if hold else None)
        if before["slab_kb"] is not None and b["slab_kb"] is not None and hold:
            slab = (b["slab_kb"] - before["slab_kb"]) * 1024
            i["kernel_slab_bytes_per_conn"] = slab / hold
            # others' sockets come and go too: slab per socket that appeared
            # is the steadier figure on a shared machine
            if i.get("kernel_sockets", 0) > 0:
                i["kernel_slab_bytes_per_socket"] = slab / i["kernel_sockets"]
    return r


def summarize(entry, median):
    """The cell's figures from its runs: CPU per message over the window (not
    the summary's whole life, kept as cpu_us_per_msg_life), its spread, RSS."""
    if entry["status"] != "ok":
        return
    runs = [r["idle"] for r in entry["runs"] if r.get("idle")]
    entry["sample_missed"] = len(entry["runs"]) - len(runs)
    entry["cpu_us_per_msg_life"] = entry.get("cpu_us_per_msg")
    if not runs:   # the server did its part; the sampler never caught a window
        entry["cpu_us_per_msg"] = None
        return
    cpus = [r["cpu_us_per_msg"] for r in runs if r["cpu_us_per_msg"] is not None]
    entry["cpu_us_per_msg"] = median(cpus)
    m = entry["cpu_us_per_msg"]
    entry["cpu_spread"] = (max(cpus) - min(cpus)) / m if m and len(cpus) > 1 else None
    entry["maxrss_kb"] = median([r["rss_kb"] for r in runs])
    entry["idle"] = dict(hold=runs[0]["hold"], rss_kb=entry["maxrss_kb"],
                         tasks=max(r["tasks"] for r in runs),
                         server_cpu_cores=median([r["server_cpu_cores"] for r in runs]))
    for key in ("rss_before_kb", "bytes_per_idle_conn", "kernel_sockets",
                "kernel_tcp_mem_bytes_per_conn", "kernel_slab_bytes_per_conn",
                "kernel_slab_bytes_per_socket"):
        vals = [r[key] for r in runs if r.get(key) is not None]
        if vals:
            entry["idle"][key] = median(vals)
