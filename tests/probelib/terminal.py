"""terminal: `probe.py pty`, an interactive program driven through a
pseudo-terminal (what a person at a keyboard would see and type)."""
import os
import select

from probelib.harness import ProbeError, show


class Terminal:
    """The master side of a pty, and everything the program has shown."""

    def __init__(self, master, timeout):
        self.master = master
        self.timeout = timeout
        self.seen = bytearray()

    def read_more(self, what):
        r, _, _ = select.select([self.master], [], [], self.timeout)
        if not r:
            raise ProbeError("timed out waiting for %s; the terminal shows %s"
                             % (what, show(self.seen, 200)))
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: every copy of the terminal is closed
            chunk = b""
        if not chunk:
            raise ProbeError("terminal closed while waiting for %s; it shows %s"
                             % (what, show(self.seen, 200)))
        self.seen.extend(chunk)

    def type_and_wait(self, line, want):
        """Types line and Enter; waits for want in what comes after."""
        mark = len(self.seen)
        os.write(self.master, line.encode() + b"\n")
        while want.encode() not in bytes(self.seen[mark:]):
            self.read_more("%r after typing %r" % (want, line))

    def shows(self):
        return show(self.seen, 200)


def start_on_pty(command):
    """(process, master): command on a new pseudo-terminal, its controlling
    terminal, with terminal echo off (so whatever shows up was written by
    the program)."""
    import fcntl
    import pty
    import subprocess
    import termios

    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~(termios.ECHO | termios.ECHONL)
    termios.tcsetattr(slave, termios.TCSANOW, attrs)

    def controlling_terminal():
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, close_fds=True,
                            preexec_fn=controlling_terminal)
    os.close(slave)
    return proc, master


def cmd_pty(args):
    """Runs a command on a pseudo-terminal, waits for its first output (the
    prompt), types each --line and waits for the matching --expect text in
    what the program writes after it, then types Ctrl-D and requires the
    program to exit with status --status."""
    import signal
    import subprocess

    if not args.command:
        raise ProbeError("no command given")
    if len(args.line) != len(args.expect):
        raise ProbeError("give one --expect per --line")
    proc, master = start_on_pty(args.command)
    term = Terminal(master, args.timeout)
    try:
        term.read_more("the prompt")  # any output before we type
        print("prompt %r" % bytes(term.seen), flush=True)
        for line, want in zip(args.line, args.expect):
            term.type_and_wait(line, want)
            print("typed %r, saw %r" % (line, want), flush=True)
        os.write(master, b"\x04")  # Ctrl-D at the start of a line: EOF
        try:
            status = proc.wait(args.timeout)
        except subprocess.TimeoutExpired:
            raise ProbeError("still running %.0f s after Ctrl-D; the terminal shows %s"
                             % (args.timeout, term.shows()))
        if status != args.status:
            raise ProbeError("exited with status %d after Ctrl-D, expected %d; the terminal shows %s"
                             % (status, args.status, term.shows()))
        print("exited %d after Ctrl-D" % status, flush=True)
        return 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
