"""forkserver: `echoprobe.py forkserver`, one probe process per test run that
forks a probe for each call instead of a Python starting for it.

A Python start costs 30 to 60 ms of CPU on this project's two-core machine
and the suite calls the probe about 500 times; a fork of a process that has
imported the probe already costs about 5. tests/run.sh starts this server
once, checks that it works (else the cases start the probe themselves, as
they do without run.sh), and exports its port and a secret token in
ECHOLAB_PROBE_SERVER; helpers.bash's `probe` speaks to it over bash's own
/dev/tcp, so the call starts no process at all.

A call, on a connection to 127.0.0.1:PORT: the server greets first (a line,
"echoprobe-forkserver"), then the caller sends NUL-terminated fields: the token,
the caller's pid (bash's $BASHPID), its working directory, its
$ECHOPROBE_TIMEOUT, the number of arguments, then the arguments. The child
forked for it takes the caller's own standard input, output and error
(pidfd_getfd(2): the very same open files, offsets and all, as a child of
the caller would have), runs the probe, and exits with its status, which
this server writes back as one line. The answer 254 means the caller's
descriptors could not be taken (an older kernel or Python, no right to, or
one of them closed): the caller then runs the probe itself. If the caller goes away first (its
connection closes), the child is killed: a probe that a test stopped does
not run on.
"""
import ctypes
import os
import selectors
import signal
import socket
import sys

CANNOT_ADOPT = 254          # the status that tells the caller to run it itself
SYS_PIDFD_GETFD = 438       # x86, arm and every architecture of the generic table
PR_SET_PDEATHSIG = 1
REQUEST_TIMEOUT = 5.0       # a caller writes its request at once
GREETING = b"echoprobe-forkserver\n"
LIBC = ctypes.CDLL(None, use_errno=True)


def serve(run_probe):
    """Prints "forkserver port N" and serves until its standard input closes
    (tests/run.sh holds it open). run_probe(argv) runs one probe and returns
    its status."""
    token = os.environ.pop("ECHOLAB_PROBE_TOKEN", "").encode()
    if not token:
        print("forkserver: ECHOLAB_PROBE_TOKEN is not set", file=sys.stderr)
        return 2
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print("forkserver port %d" % listener.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
    running = set()  # the children not reaped yet
    while True:
        for key, _ in sel.select():
            what = key.data
            try:
                if what == "accept":
                    start(listener, sel, token, run_probe, running)
                elif what == "stdin":
                    if not os.read(sys.stdin.fileno(), 4096):
                        return 0  # run.sh is done
                elif what[0] == "exited":
                    finish(sel, running, *what[1:])
                elif what[1] in running:
                    # the caller's connection: it went away (or spoke out of
                    # turn) while its probe runs
                    sel.unregister(key.fileobj)
                    os.kill(what[1], signal.SIGKILL)
            except OSError as e:
                # one call's trouble (a fork refused, a caller gone) is that
                # call's: the others, and the server, go on
                print("forkserver: %s" % e, file=sys.stderr, flush=True)


def start(listener, sel, token, run_probe, running):
    """Accepts one call and forks its child."""
    conn, _ = listener.accept()
    try:
        conn.sendall(GREETING)
        fields = read_request(conn)
    except (OSError, ValueError):
        conn.close()
        return
    if fields[0] != token:
        conn.close()
        return
    try:
        pid = os.fork()
    except OSError:
        conn.close()  # the caller reads no status, and says so
        raise
    if pid == 0:
        status = 1
        try:
            status = child(fields[1:], run_probe)
        except BaseException:  # never back into the server's loop
            import traceback
            traceback.print_exc()
        finally:
            os._exit(status)
    running.add(pid)
    pidfd = os.pidfd_open(pid)
    sel.register(pidfd, selectors.EVENT_READ, ("exited", pid, pidfd, conn))
    sel.register(conn, selectors.EVENT_READ, ("caller", pid))


def read_request(conn):
    """The call's fields: token, pid, directory, timeout, then the arguments."""
    conn.settimeout(REQUEST_TIMEOUT)
    data = b""
    while True:
        fields = data.split(b"\0")
        if len(fields) > 5 and len(fields) > 5 + int(fields[4]):
            return fields[:5 + int(fields[4])]
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("the request ended early")
        data += chunk


def finish(sel, running, pid, pidfd, conn):
    """The child exited: its status goes back to the caller."""
    _, status = os.waitpid(pid, 0)
    running.discard(pid)
    sel.unregister(pidfd)
    os.close(pidfd)
    try:
        sel.unregister(conn)
    except KeyError:
        pass  # unregistered already: the caller went away
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        code = 128 - code  # killed by a signal: as a shell reports it
    try:
        conn.sendall(b"%d\n" % code)
    except OSError:
        pass  # the caller has gone
    conn.close()


def child(fields, run_probe):
    """In the forked child: become the caller's probe; returns the status."""
    caller, directory, timeout = int(fields[0]), os.fsdecode(fields[1]), fields[2]
    argv = [os.fsdecode(f) for f in fields[4:]]
    # should this server die, so do its probes (and if it died already...)
    LIBC.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() == 1:
        return 1
    if not adopt_stdio(caller):
        return CANNOT_ADOPT
    # as in a Python started by the test (a coproc starts with SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # nothing of the server's (listener, other calls' connections) stays open
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    os.chdir(directory)
    if timeout:
        os.environ["ECHOPROBE_TIMEOUT"] = os.fsdecode(timeout)
    try:
        status = run_probe(argv)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    return status


def adopt_stdio(caller):
    """Makes descriptors 0, 1 and 2 the caller's own; False if they cannot
    all be taken (then nothing has changed)."""
    try:
        pidfd = os.pidfd_open(caller)
    except (AttributeError, OSError):  # Python before 3.9, a kernel before 5.3
        return False
    try:
        taken = [LIBC.syscall(SYS_PIDFD_GETFD, pidfd, n, 0) for n in (0, 1, 2)]
    finally:
        os.close(pidfd)
    if min(taken) < 0:
        for fd in taken:
            if fd >= 0:
                os.close(fd)
        return False
    for n, fd in enumerate(taken):
        os.dup2(fd, n)
        os.close(fd)
    return True
