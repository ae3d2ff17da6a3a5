"""procfs: everything the Python tools read from /proc (Linux), in one place.

Shared by the probes (tests/probe.py), tests/soak.py,
bench/ and docs/tour/models_table.py. Only `os` and `struct` (and `_socket`
for tcp_sockets): importing them costs nothing.

Two different CPU figures, two names:
  process_cpu_seconds(pid)  user + system time one process (all its threads)
                            has used: /proc/PID/stat;
  cpus_busy_seconds(cpus)   time the CPUs themselves were busy, whoever ran:
                            /proc/stat.
A process that has gone gives None (or is simply not listed), never an error.
"""
import os
import struct

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, as bytes, or None
    if the process is gone: [0] state, [1] ppid, [2] pgrp, [11] utime,
    [12] stime (stat(5) fields 3, 4, 5, 14, 15)."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()


def _live(field, value):
    """The live (not zombie) processes whose stat field `field` is `value`."""
    value = str(value).encode()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = stat_fields(name)
        if fields and fields[field] == value and fields[0] != b"Z":
            pids.append(int(name))
    return pids


def group_pids(pgid):
    """The live processes of process group pgid."""
    return _live(2, pgid)


def children(pid):
    """The live processes whose parent is pid."""
    return _live(1, pid)


def process_cpu_seconds(pid):
    """User + system CPU seconds of one process (for a thread group leader:
    every thread), or None if it is gone."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_cpu_seconds(pgid):
    """{pid: CPU seconds} over the live processes of process group pgid."""
    out = {}
    for pid in group_pids(pgid):
        t = process_cpu_seconds(pid)
        if t is not None:
            out[pid] = t
    return out


def cpu_seconds_since(before, after):
    """CPU seconds a process group used between two group_cpu_seconds()
    readings (a process that started meanwhile counts from zero)."""
    return sum(t - before.get(pid, 0) for pid, t in after.items())


def cpus_busy_seconds(cpus=None):
    """(busy, steal) seconds so far on the given CPUs (all of them if None),
    from /proc/stat, or None: busy is user + nice + system + irq + softirq
    (with tick sampling a process's system time includes the softirq work done
    in its context, which /proc/stat files under softirq), steal apart."""
    names = {"cpu"} if cpus is None else {"cpu%d" % c for c in cpus}
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
    return busy / CLK_TCK, steal / CLK_TCK


def _kb_line(path, key):
    """The number after "KEY:" in a /proc file of such lines, or None."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def status_kb(pid, key):
    """A KiB figure of /proc/PID/status ("VmRSS", "VmHWM"...), or None if the
    process is gone or has no such line."""
    return _kb_line("/proc/%d/status" % pid, key)


def meminfo_kb(key):
    """A KiB figure of /proc/meminfo ("MemAvailable", "Slab"...), or None."""
    return _kb_line("/proc/meminfo", key)


def rss_kb(pid):
    """VmRSS of one process in KiB, or None."""
    return status_kb(pid, "VmRSS")


def group_rss_kb(pgid):
    """VmRSS of process group pgid in KiB; of process pgid alone if it leads
    no group (a server started by make bench)."""
    return sum(rss_kb(pid) or 0 for pid in group_pids(pgid) or [pgid])


def pss_kb(pid):
    """Proportional set size of one process in KiB (shared pages divided among
    their users), or None."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            return sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
    except OSError:
        return None


def group_sockets(pgid):
    """How many sockets the live processes of group pgid (pgid alone if it
    leads no group) hold open."""
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


# sock_diag (linux/inet_diag.h): the kernel's own listing of sockets, asked
# over netlink, which `ss` uses. It picks sockets by state before it formats
# them, where /proc/net/tcp writes out every socket of the machine as text: a
# machine that has just run the suites holds a hundred thousand in TIME_WAIT,
# and one read of /proc/net/tcp then costs a tenth of a second.
NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY = 4, 20
NLM_F_REQUEST, NLM_F_DUMP, NLMSG_DONE, NLMSG_ERROR = 0x1, 0x300, 3, 2
TCP_TIME_WAIT = 6
LIVE_STATES = 0xFFF & ~(1 << TCP_TIME_WAIT)  # every state but TIME_WAIT


def tcp_sockets(local_port=None):
    """The machine's TCP sockets (IPv4 and IPv6) but those in TIME_WAIT, or
    those of one local port, as (local port, remote port, state, unread input
    bytes, inode): state "0A" is LISTEN, "01" ESTABLISHED
    (include/net/tcp_states.h), as /proc/net/tcp writes them."""
    import _socket as so  # not socket: importing it costs more than it gives
    nl = so.socket(so.AF_NETLINK, so.SOCK_RAW, NETLINK_SOCK_DIAG)
    try:
        for family in (so.AF_INET, so.AF_INET6):
            # nlmsghdr, then inet_diag_req_v2: family, protocol, ext, pad,
            # states, and a zeroed inet_diag_sockid (no one socket named)
            req = struct.pack("=BBBBI48x", family, so.IPPROTO_TCP, 0, 0, LIVE_STATES)
            nl.send(struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY,
                                NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + req)
            for sport, dport, state, rqueue, inode in diag_replies(nl):
                if local_port is None or sport == local_port:
                    yield sport, dport, "%02X" % state, rqueue, str(inode)
    finally:
        nl.close()


def diag_replies(nl):
    """(local port, remote port, state, rqueue, inode) of each inet_diag_msg
    of one dump, until its NLMSG_DONE."""
    while True:
        data = nl.recv(1 << 20)
        at = 0
        while at + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, at)
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, at + 16)[0]
                raise OSError(code, "sock_diag: %s" % os.strerror(code))
            # struct inet_diag_msg: family, state, timer, retrans; the
            # sockid (its ports in network order first); expires, rqueue,
            # wqueue, uid, inode
            msg = at + 16
            state = data[msg + 1]
            sport, dport = struct.unpack_from("!HH", data, msg + 4)
            rqueue, _, _, inode = struct.unpack_from("=IIII", data, msg + 56)
            yield sport, dport, state, rqueue, inode
            at += (length + 3) & ~3


def free_port(host="127.0.0.1"):
    """A TCP port free on host now, for a server whose port we choose: below
    the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), so
    no client's connect() takes it before the server binds it, as one from
    bind(port 0) can be on a machine busy with thousands of connections."""
    import random
    import socket
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in random.sample(range(10000, max(10001, low)), min(200, max(1, low - 10000))):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def socket_inodes(pid):
    """{inode: pid} of the sockets process pid holds open."""
    inodes = {}
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return inodes
    for name in names:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes[link[8:-1]] = pid
    return inodes


def fd_count(pid):
    """How many descriptors process pid holds open."""
    return len(os.listdir("/proc/%d/fd" % pid))


def thread_count(pid):
    """How many threads process pid runs, or None if it is gone."""
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return None
