"""server: the server under test. Spawned runs a command in a process group
of its own, waits (a deadline, not a sleep) until it accepts on the port the
checker chose, watches it, and stops it: SIGTERM, then SIGKILL after a grace
period, every process of the group gone and the port free. Address is a
server that runs already, somewhere. Either raises CannotRun, with what
happened in words, when the server cannot be run or reached (exit 2)."""
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time

from probelib import procfs

POLL = 0.02          # seconds between two looks at something we wait for


class CannotRun(Exception):
    """The server could not be run or reached; the message says why."""


def split_command(text):
    """The words of a SERVER command, or CannotRun naming the problem."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise CannotRun("cannot read the command %r: %s" % (text, e))
    if not words:
        raise CannotRun("the server command is empty")
    if not any("{port}" in w for w in words):
        raise CannotRun("the command %r has no {port}: the checker picks a free port and "
                        "puts it there (e.g. 'python3 server.py {port}')" % text)
    return words


def try_connect(host, port, timeout):
    """None if host:port accepts a connection (closed at once), else the error."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return None
    except OSError as e:
        return e


def listening_ports(pids):
    """{port: pid} of the TCP sockets those processes hold in LISTEN state."""
    inodes = {}
    for pid in pids:
        inodes.update(procfs.socket_inodes(pid))
    return {local: inodes[inode] for local, _, state, _, inode in procfs.tcp_sockets()
            if state == "0A" and inode in inodes}


def port_listening(port):
    """True if any socket of this machine listens on TCP port `port`."""
    return any(state == "0A" for _, _, state, _, _ in procfs.tcp_sockets(port))


def wait_for(condition, seconds):
    """Polls condition() until it holds or the deadline passes; its last value."""
    deadline = time.monotonic() + seconds
    while True:
        ok = condition()
        if ok or time.monotonic() >= deadline:
            return ok
        time.sleep(POLL)


def describe_status(status):
    """How a process ended, from a Popen returncode."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = "signal %d" % -status
        return "killed by %s (signal %d)" % (name, -status)
    return "exited with status %d" % status


class Spawned:
    """The server as a command: start(), alive(), ended(), stop()."""

    def __init__(self, command, host="127.0.0.1", start_timeout=10.0, grace=3.0):
        self.text = command
        self.words = split_command(command)
        self.host = host
        self.start_timeout = start_timeout
        self.grace = grace
        self.proc = None
        self.port = None
        self.argv = None
        self.dir = tempfile.mkdtemp(prefix="echo-check.")
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")

    @property
    def pgid(self):
        return self.proc.pid if self.proc else None

    def twin(self):
        """Another server of the same command (started with start())."""
        return Spawned(self.text, self.host, self.start_timeout, self.grace)

    def start(self, extra=()):
        """Starts the command (with extra arguments after it) on a free port
        and returns once it accepts; CannotRun otherwise, nothing left running."""
        self.port = procfs.free_port(self.host)
        self.argv = [w.replace("{port}", str(self.port)).replace("{host}", self.host)
                     for w in self.words] + list(extra)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            try:
                # a session of its own: its own process group, and no terminal
                # whose Ctrl-C would reach it behind our back
                self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, start_new_session=True)
            except FileNotFoundError:
                raise CannotRun("command not found: %s" % self.argv[0])
            except PermissionError:
                raise CannotRun("cannot execute %s: permission denied" % self.argv[0])
            except OSError as e:
                raise CannotRun("cannot start %s: %s" % (self.argv[0], e.strerror or e))
        self.wait_accepting()

    def wait_accepting(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise CannotRun("the server %s before accepting a connection on %s port %d%s"
                                % (describe_status(self.proc.returncode), self.host, self.port,
                                   self.said()))
            if try_connect(self.host, self.port, 1.0) is None:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL)
        why = self.not_accepting_reason()
        self.stop()
        raise CannotRun(why)

    def not_accepting_reason(self):
        elsewhere = listening_ports(procfs.group_pids(self.pgid) or [self.pgid])
        what = "the server (pid %d) accepts no connection on %s port %d after %.0f s" % (
            self.proc.pid, self.host, self.port, self.start_timeout)
        if elsewhere:
            ports = ", ".join(str(p) for p in sorted(elsewhere))
            return ("%s: it listens on port %s instead (does the command put {port} where the "
                    "server takes its port?)%s" % (what, ports, self.said()))
        return "%s: it listens on no TCP port%s" % (what, self.said())

    def output_tail(self, path, lines=5):
        try:
            with open(path, "rb") as f:
                text = f.read()[-4096:].decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def stderr_tail(self, lines=5):
        return self.output_tail(self.err_path, lines)

    def said(self):
        """What the server printed, for a message: its last lines, or that it
        printed nothing."""
        err, out = self.stderr_tail(), self.output_tail(self.out_path)
        if not err and not out:
            return "; it printed nothing"
        parts = []
        if err:
            parts.append("its stderr ends: " + " | ".join(err))
        if out:
            parts.append("its stdout ends: " + " | ".join(out))
        return "; " + "; ".join(parts)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def settle(self):
        """After a failed case: up to a second for a dying server to be gone."""
        wait_for(lambda: not self.alive(), 1.0)

    def ended(self):
        """The crash, for the report: how it ended and its last stderr lines."""
        return dict(how=describe_status(self.proc.returncode), status=self.proc.returncode,
                    stderr_tail=self.stderr_tail())

    def stop(self):
        """SIGTERM to the group; SIGKILL to whatever of it is left after the
        grace period. Returns what happened: how the server ended, in how many
        seconds, whether it had to be killed, and its stderr."""
        if self.proc is None:
            return None
        pgid = self.proc.pid
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.signal_group(signal.SIGTERM)
        gone = wait_for(lambda: self.proc.poll() is not None and not procfs.group_pids(pgid),
                        self.grace)
        killed = not gone
        if killed:
            self.signal_group(signal.SIGKILL)
            wait_for(lambda: self.proc.poll() is not None and not procfs.group_pids(pgid), 10)
        self.proc.wait()
        seconds = time.monotonic() - t0
        left = procfs.group_pids(pgid)
        freed = wait_for(lambda: not port_listening(self.port), 2)
        with open(self.err_path, "rb") as f:
            stderr = f.read().decode("utf-8", "replace")
        result = dict(status=self.proc.returncode, how=describe_status(self.proc.returncode),
                      seconds=round(seconds, 2), killed=killed, stderr=stderr,
                      left=left, port_freed=freed)
        self.proc = None
        return result

    def signal_group(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def cleanup(self):
        if self.proc is not None:
            self.stop()
        for name in (self.out_path, self.err_path):
            try:
                os.unlink(name)
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass


def split_addr(text):
    """("host", port) of HOST:PORT or [V6]:PORT; CannotRun if malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CannotRun("ADDR %r is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)" % text)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class Address:
    """A server that runs already: resolved and reached, or CannotRun."""

    def __init__(self, text, timeout=5.0):
        self.text = text
        name, self.port = split_addr(text)
        try:
            infos = socket.getaddrinfo(name, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise CannotRun("cannot resolve %s: %s" % (name, e.strerror or e))
        errors = []
        for family, _, _, _, sockaddr in infos:
            err = try_connect(sockaddr[0], self.port, timeout)
            if err is None:
                self.host = sockaddr[0]
                return
            errors.append("%s: %s" % (sockaddr[0], getattr(err, "strerror", None) or err))
        raise CannotRun("cannot connect to %s: %s" % (text, "; ".join(errors)))

    pgid = None

    def alive(self):
        return try_connect(self.host, self.port, 2.0) is None

    def settle(self):
        pass

    def ended(self):
        return dict(how="stopped answering at %s (connections refused or unanswered)"
                    % self.text, status=None, stderr_tail=[])

    def cleanup(self):
        pass
