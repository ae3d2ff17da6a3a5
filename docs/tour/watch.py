#!/usr/bin/env python3
"""watch.py MODEL: a live view of a running echo server (make watch MODEL=m).

What a student cannot see from the client's side, refreshed every second:
the listen backlog (the Recv-Q that `ss -lnt` shows: connections the kernel
has completed that nobody has accepted yet), the connections the server
holds, its processes and threads, what each one is waiting in (its wchan, the
kernel function it sleeps in, and the system call it is inside), how much CPU
they use, how often they wake up, and their memory (RSS).

    docs/tour/watch.py MODEL [--port PORT | --pid PID] [--interval S]
                             [--count N] [--plain] [--syscalls]

It watches the echo-MODEL listening on PORT (the number of its "listening
on" line; on a shared machine others may run the same model), or PID, or
else the newest echo-MODEL running, and waits for one to start if there is
none yet (start it in another terminal: make demo MODEL=m,
make see MODEL=m). It ends on Ctrl-C, and by itself when the server exits.
On a terminal it redraws in place; otherwise (--plain, or output to a pipe
or file) it prints one block per refresh.

Everything is read from /proc, which costs the server nothing. "wake-ups/s"
are its voluntary context switches per second (each is a sleep in a wait
that ended). System calls are not counted in /proc: --syscalls attaches
`strace -c -f` for one second in every five and shows its count per second;
while attached, strace stops the server at every system call and slows it
several times over, so the other figures of those seconds are strace's too.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

# x86_64 numbers of the calls a server here waits in (/proc/TID/syscall)
SYSCALLS = {0: "read", 1: "write", 7: "poll", 23: "select", 35: "nanosleep", 43: "accept",
            45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 61: "wait4", 202: "futex",
            219: "restart_syscall", 230: "clock_nanosleep", 232: "epoll_wait", 270: "pselect6",
            271: "ppoll", 281: "epoll_pwait", 288: "accept4", 426: "io_uring_enter",
            441: "epoll_pwait2", 44: "sendto", 20: "writev", 19: "readv"}
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def stat_fields(path):
    """/proc/.../stat after the command name: fields[0] is the state."""
    s = read(path)
    return s[s.rfind(")") + 2:].split() if s else None


def find_server(model):
    """The newest echo-MODEL whose parent is not one too (a pool's parent)."""
    comm = ("echo-" + model)[:15]
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit() and read(f"/proc/{d}/comm").strip() == comm:
            f = stat_fields(f"/proc/{d}/stat")
            if f:
                procs[int(d)] = (int(f[1]), int(f[19]))  # ppid, start time
    roots = [p for p, (ppid, _) in procs.items() if ppid not in procs]
    return max(roots, key=lambda p: procs[p][1]) if roots else None


def server_on_port(model, port):
    """The echo-MODEL listening on PORT (TCP or UDP); a pool's parent if
    the socket is its workers'."""
    out = subprocess.run(["ss", "-Hlnptu", f"( sport = :{port} )"], capture_output=True, text=True).stdout
    comm = ("echo-" + model)[:15]
    for pid in (int(p) for p in re.findall(r'"%s",pid=(\d+)' % re.escape(comm), out)):
        while True:  # up to the first of its line
            f = stat_fields(f"/proc/{pid}/stat")
            ppid = int(f[1]) if f else 0
            if read(f"/proc/{ppid}/comm").strip() != comm:
                return pid
            pid = ppid
    return None


def descendants(root):
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = stat_fields(f"/proc/{d}/stat")
            if f:
                children.setdefault(int(f[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def socket_inodes(pids):
    inodes = set()
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            pass
    return inodes


def sockets(inodes):
    """Listening sockets among INODES (port, queued, limit: ss -lnt's Recv-Q
    and Send-Q), the connections established on their ports, and UDP
    sockets among INODES (port, bytes queued, drops)."""
    listen, established, udp = [], 0, []
    ss = subprocess.run(["ss", "-Hlnte"], capture_output=True, text=True).stdout
    for line in ss.splitlines():
        f = line.split()
        m = re.search(r"\bino:(\d+)", line)
        if len(f) >= 4 and m and m.group(1) in inodes:
            listen.append((int(f[3].rsplit(":", 1)[1]), int(f[1]), int(f[2])))
    # the connections on the listening ports, filtered in the kernel (a
    # busy machine's /proc/net/tcp can hold 100,000 lines of TIME_WAIT)
    ports = sorted({port for port, _, _ in listen})
    if ports:
        which = " or ".join(f"sport = :{p}" for p in ports)
        ss = subprocess.run(["ss", "-Htn", "state", "established", f"( {which} )"],
                            capture_output=True, text=True).stdout
        established = len(ss.splitlines())
    for name in ("udp", "udp6"):
        for line in read(f"/proc/net/{name}").splitlines()[1:]:
            f = line.split()
            if len(f) > 12 and f[9] in inodes:
                udp.append((int(f[1].split(":")[1], 16), int(f[4].split(":")[1], 16), int(f[12])))
    return listen, established, udp


def threads(pids):
    """(pid, tid, comm, state, wchan, syscall, cpu ticks, voluntary switches, rss pages)"""
    out = []
    for p in pids:
        rss = stat_fields(f"/proc/{p}/stat")
        rss = int(rss[21]) if rss else 0
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tids:
            base = f"/proc/{p}/task/{t}"
            f = stat_fields(base + "/stat")
            if not f:
                continue
            sc = read(base + "/syscall").split()
            call = SYSCALLS.get(int(sc[0]), "syscall " + sc[0]) if sc and sc[0].isdigit() else ""
            switches = re.search(r"voluntary_ctxt_switches:\s*(\d+)", read(base + "/status"))
            out.append((p, int(t), read(base + "/comm").strip(), f[0], read(base + "/wchan").strip() or "-",
                        call, int(f[11]) + int(f[12]), int(switches.group(1)) if switches else 0,
                        rss if t == str(p) else 0))
    return out


def strace_rate(pid, seconds=1.0):
    """System calls per second of PID and its threads and children, strace -c -f
    attached for SECONDS; None if strace cannot attach."""
    try:
        proc = subprocess.Popen(["strace", "-c", "-f", "-q", "-p", str(pid)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    except OSError:
        return None
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    try:
        err = proc.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return None
    # "100.00    0.001917          12       156           total": calls is the 4th
    total = [ln.split() for ln in err.splitlines() if ln.split()[-1:] == ["total"]]
    return int(total[0][3]) / seconds if total and len(total[0]) >= 5 else None


def render(model, pid, interval, before, dt, syscall_rate):
    pids = descendants(pid)
    listen, established, udp = sockets(socket_inodes(pids))
    ts = threads(pids)
    lines = [f"watch: echo-{model}, pid {pid}   {time.strftime('%H:%M:%S')}   "
             f"(every {interval:g} s; Ctrl-C to stop)"]
    for port, queued, limit in listen:
        lines.append(f"listen backlog  port {port}: {queued} queued (ss Recv-Q), limit {limit}")
    for port, queued, drops in udp:
        lines.append(f"udp socket      port {port}: {queued} bytes queued, {drops} datagrams dropped")
    if not listen and not udp:
        lines.append("listen backlog  (no listening socket)")
    lines.append(f"connections     {established} established")
    # per thread, over the threads alive at both refreshes (one that has
    # exited since takes its counters with it)
    now = {(t[0], t[1]): (t[6], t[7]) for t in ts}
    rss_kib = sum(t[8] for t in ts) * PAGE // 1024
    if before is not None:
        both = [k for k in now if k in before]
        pct = 100.0 * sum(now[k][0] - before[k][0] for k in both) / TICK / dt
        rate = sum(now[k][1] - before[k][1] for k in both) / dt
        lines.append(f"cpu             {pct:.0f}% of one core   wake-ups/s {rate:.0f}")
    else:
        lines.append("cpu             (from the next refresh)")
    if syscall_rate is not None:
        lines.append(f"system calls/s  {syscall_rate[0]:.0f} (strace -c -f for 1 s at {syscall_rate[1]};"
                     " it slows the server while attached)")
    lines.append(f"processes       {len(pids)}   threads {len(ts)}   RSS {rss_kib / 1024:.1f} MiB")
    lines.append("what they wait in (count × process/thread, state, wchan, system call):")
    groups = {}
    for _, _, comm, state, wchan, call, *_ in ts:
        key = (comm, state, wchan, call)
        groups[key] = groups.get(key, 0) + 1
    for (comm, state, wchan, call), n in sorted(groups.items(), key=lambda kv: -kv[1])[:12]:
        lines.append(f"  {n:5d} × {comm:<15} {state}  {wchan:<24} {call}")
    if len(groups) > 12:
        lines.append(f"  ... {len(groups) - 12} more kinds")
    return lines, now


def main():
    ap = argparse.ArgumentParser(description="a live view of a running echo server")
    ap.add_argument("model")
    ap.add_argument("--port", type=int, help="the server listening on PORT (default: the newest echo-MODEL)")
    ap.add_argument("--pid", type=int, help="the server with that process id")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (1)")
    ap.add_argument("--count", type=int, default=0, help="stop after N refreshes (0: until the server exits)")
    ap.add_argument("--plain", action="store_true", help="one block per refresh, no redrawing")
    ap.add_argument("--syscalls", action="store_true", help="count system calls with strace (slows the server)")
    args = ap.parse_args()
    if not re.fullmatch(r"[a-z0-9_-]+", args.model):
        ap.error(f"not a model name: {args.model!r}")
    if args.interval <= 0:
        ap.error("--interval must be more than 0")
    plain = args.plain or not sys.stdout.isatty()
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0 if plain else print("\x1b[?25h") or 0))
    def find():
        if args.pid:
            return args.pid if os.path.exists(f"/proc/{args.pid}") else None
        if args.port:
            return server_on_port(args.model, args.port)
        return find_server(args.model)
    pid = find()
    if pid is None:
        which = f" on port {args.port}" if args.port else f" with pid {args.pid}" if args.pid else ""
        if args.pid:
            sys.exit(f"watch: no process {args.pid}")
        print(f"watch: no echo-{args.model}{which} is running yet; waiting for one (start it in another "
              f"terminal: make demo MODEL={args.model}, or make see MODEL={args.model}); Ctrl-C to stop",
              flush=True)
        while pid is None:
            time.sleep(0.2)
            pid = find()
    before, n, last, syscall_rate = None, 0, time.monotonic(), None
    if not plain:
        print("\x1b[?25l", end="")
    try:
        while True:
            if not os.path.exists(f"/proc/{pid}") or (stat_fields(f"/proc/{pid}/stat") or ["Z"])[0] in "ZX":
                print(f"watch: echo-{args.model} (pid {pid}) has exited", flush=True)
                return 0
            now = time.monotonic()
            if args.syscalls and n % 5 == 1:
                rate = strace_rate(pid)
                syscall_rate = (rate, time.strftime("%H:%M:%S")) if rate is not None else None
            lines, before = render(args.model, pid, args.interval, before, max(now - last, 1e-3) if n else args.interval,
                                   syscall_rate)
            last = now
            if plain:
                print("\n".join(lines) + "\n", flush=True)
            else:
                print("\x1b[H\x1b[2J" + "\n".join(lines), flush=True)
            n += 1
            if args.count and n >= args.count:
                return 0
            time.sleep(max(0.0, args.interval - (time.monotonic() - now)))
    finally:
        if not plain:
            print("\x1b[?25h", end="", flush=True)


if __name__ == "__main__":
    sys.exit(main())
