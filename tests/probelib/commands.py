"""commands: the probe's stream commands other than script and pty: roundtrip,
expected, gen, port-in-use, refusing-port, has-ipv6, exec-grown (each takes
the parsed command line and returns the exit status)."""
import sys
import time
from _socket import AF_INET, AF_INET6, SHUT_WR, SOCK_STREAM, socket

from probelib.harness import (ProbeError, check_host, first_difference, open_connection,
                              recv_until_eof, send_all, show)
from probelib.oracle import expected_echo, generate


# ---------------------------------------------------------------- roundtrip

def cmd_roundtrip(args):
    if args.generate:
        # write INPUT first: one interpreter start instead of two
        write_generated(args.generate, args.input, args.gen_seed, args)
    with open(args.input, "rb") as f:
        data = f.read()
    sock = open_connection(args.host, args.port, args.timeout)
    errors = []
    got = exchange(sock, data, args, errors,
                   len(expected_echo(data, args.max_line)) if args.verify else None)
    with open(args.output, "wb") as f:
        f.write(got)
    if not errors and args.verify:
        want = expected_echo(data, args.max_line)
        if got != want:
            at = first_difference(got, want)
            errors.append("the echo differs from what the protocol says from offset %d:"
                          "\n  expected %s\n  received %s"
                          % (at, show(want[at: at + 64]), show(got[at: at + 64])))
    if errors:
        for e in errors:
            print("roundtrip: %s" % e, file=sys.stderr)
        return 1
    print("sent %d bytes, received %d bytes then EOF%s"
          % (len(data), len(got), ", as the protocol says" if args.verify else ""))
    return 0


def exchange(sock, data, args, errors, expected=None):
    """Sends data (in chunks if asked) from a thread, half-closes, and
    returns all that comes back until EOF; problems go to errors."""
    import threading  # only roundtrip pays for it

    def sender():
        try:
            send_chunks(sock, data, args)
            sock.shutdown(SHUT_WR)
        except (OSError, ProbeError) as e:
            errors.append("sending: %s" % e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        got = recv_until_eof(sock, args.timeout, expected=expected)
    except ProbeError as e:
        errors.append("receiving: %s" % e)
        got = b""
    t.join(args.timeout)
    sock.close()
    return got


def send_chunks(sock, data, args):
    """--chunk bytes per send, or random sizes up to --max-chunk from --seed;
    --pace seconds between sends."""
    rng = None
    if args.seed is not None:
        import random
        rng = random.Random(args.seed)
    pos = 0
    while pos < len(data):
        size = rng.randint(1, args.max_chunk) if rng else args.chunk or len(data)
        send_all(sock, data[pos: pos + size], args.timeout)
        pos += size
        if args.pace:
            time.sleep(args.pace)


# ---------------------------------------------------------------- expected, gen

def cmd_expected(args):
    with open(args.input, "rb") as f:
        data = f.read()
    with open(args.output, "wb") as f:
        f.write(expected_echo(data, args.max_line))
    return 0


def cmd_gen(args):
    write_generated(args.kind, args.output, args.seed, args)
    return 0


def write_generated(kind, path, seed, args):
    with open(path, "wb") as f:
        f.write(generate(kind, seed, args.count, args.longest, args.max_line))


# ---------------------------------------------------------------- ports

def run_with_port(port, command, timeout):
    """Runs command with "{port}" in its arguments replaced by port."""
    import subprocess
    if not command:
        raise ProbeError("no command given")
    argv = [a.replace("{port}", str(port)) for a in command]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        print("probe: %s still running after %.0f s; killed" % (argv[0], timeout), file=sys.stderr)
        return 124
    return proc.returncode


def cmd_port_in_use(args):
    s = socket(AF_INET, SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        return run_with_port(s.getsockname()[1], args.command, args.timeout)
    finally:
        s.close()


def cmd_refusing_port(args):
    s = socket(AF_INET6 if ":" in args.host else AF_INET, SOCK_STREAM)
    s.bind((check_host(args.host), 0))  # bound, never listening: connects are refused
    try:
        return run_with_port(s.getsockname()[1], args.command, args.timeout)
    finally:
        s.close()


def cmd_has_ipv6(args):
    try:
        s = socket(AF_INET6, SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return 0
    except OSError:
        return 1


# ---------------------------------------------------------------- exec-grown

def cmd_exec_grown(args):
    """Grows this process by args.mib MiB of memory it touches, says its own
    peak on stderr ("exec-grown: VmHWM N kB"), then execs the command: a
    server started by a big process (Linux keeps the old image's peak in
    getrusage's ru_maxrss across exec, so a server that reports that figure
    reports ours)."""
    import _signal
    import os
    size = args.mib << 20
    hog = bytearray(size)
    hog[::4096] = b"\1" * len(range(0, size, 4096))  # every page touched
    with open("/proc/self/status") as f:
        peak = [line.split()[1] for line in f if line.startswith("VmHWM:")]
    print("exec-grown: VmHWM %s kB" % peak[0], file=sys.stderr, flush=True)
    if not args.command:
        raise ProbeError("no command given")
    _signal.alarm(0)  # the probe's deadline would outlive exec and end the server
    os.execv(args.command[0], args.command)
