#!/usr/bin/env python3
"""echoprobe: the socket driver behind the echolab bats tests (stdlib only).

Everything here has a deadline: every socket operation waits at most --timeout
seconds (default 5, or $ECHOPROBE_TIMEOUT), and the whole run is aborted after
--deadline seconds (default 180), so a broken server fails a test, never hangs it.
It only ever talks to 127.0.0.1 or ::1.

Subcommands
  script          run steps read from stdin, one per line (see SCRIPT STEPS)
  roundtrip       send a file (in chunks if asked), half-close, write all that
                  comes back until EOF to a file; --generate KIND writes the
                  file first (as gen), --verify checks the echo against what
                  `expected` computes (one start instead of three)
  expected        compute, independently of any server, what the protocol says
                  the echo of a byte stream is
  gen             write a deterministic test input (lines, allbytes, transcript)
  port-in-use     hold a listening socket on 127.0.0.1 while running a command,
                  "{port}" in its arguments replaced by that port
  refusing-port   hold a bound but non-listening socket (connections to it are
                  refused) while running a command, "{port}" replaced
  has-ipv6        exit 0 if a socket can be bound to ::1
  pty             run a command on a pseudo-terminal and type at it

SCRIPT STEPS (NAME is any word naming a connection; DATA is a Python bytes
expression such as b"ab\\n" + b"x" * 10)
  connect NAME [HOST]        open a connection (TCP_NODELAY)
  local NAME                 print "NAME local ADDR:PORT" (the client's side)
  send NAME DATA             send all of DATA
  trickle NAME DATA          send DATA one byte per send, 2 ms apart
  expect NAME DATA           read exactly len(DATA) bytes; they must equal DATA
  expect_eof NAME [MIN MAX]  read until EOF; nothing may arrive first. With MIN
                             and MAX the EOF must come that many seconds after the
                             connection's last activity (connect, send, expect)
  quiet NAME SECS            nothing (not even EOF) may arrive for SECS
  shutdown NAME              half-close (SHUT_WR)
  close NAME                 close normally
  reset NAME                 close with SO_LINGER 0: the peer gets RST
  pause SECS                 pacing only (e.g. a client that types slowly)
  flood NAME BYTES           send up to BYTES of lines without reading, stopping
                             early once the socket stays unwritable 0.2 s
  epipe                      connections that make the server's blocked
                             send() fail with EPIPE (see step_epipe)
  push_start NAME BYTES [shutdown]
                             send BYTES of lines from a thread, without reading
                             (then half-close, if asked); returns once all is
                             sent or sending has stalled
  push_finish NAME           read everything back; it must equal what was sent
  served NAME [TIMEOUT]      connect until the server serves us instead of
                             answering "ERR server busy" (polls, bounded)
  many N                     open N connections at once, send a different
                             message on each and half-close, then every one must
                             get exactly its message back and EOF
  many_together N            open N connections, send half a message on each,
                             then the rest; every echo must arrive while all N
                             are still open (only a concurrent server can)
  churn N SECS               N threads each connect, echo one message, close,
                             as fast as they can for SECS; prints
                             "churn: S served, R refused"
  say TEXT                   print TEXT (a marker another process can wait for)
  signal SIG PID             send a signal (TERM, INT) to a process

The code is in tests/probelib/: cli.py (this command line, parsed by hand:
a start must cost little), harness.py (connections and bounded waits),
oracle.py (the protocol written down independently: expected, gen),
transcript.py with steps_flow.py and steps_crowd.py (the script steps),
commands.py (the other subcommands), terminal.py (pty). Each start imports
only what its command uses.
"""

import sys

# The suite may run with PYTHONDONTWRITEBYTECODE set; then every start would
# compile probelib anew, which costs more than the rest of a start. Its
# cached bytecode goes to tests/probelib/__pycache__ (ignored by git).
sys.dont_write_bytecode = False

from probelib.cli import FLAG, MANY, Command, Parser, arm_deadline, call, environ  # noqa: E402
from probelib.harness import ProbeError  # noqa: E402
from probelib.oracle import GEN_KINDS  # noqa: E402

GEN_OPTIONS = {"--count": (int, 1000), "--longest": (int, 200), "--max-line": (int, 4096)}
FILES = (("input", str), ("output", str))

COMMANDS = {
    "script": Command("probelib.transcript:cmd_script"),
    "roundtrip": Command("probelib.commands:cmd_roundtrip", FILES, dict(
        GEN_OPTIONS, **{"--chunk": (int, 0), "--seed": (int, None), "--max-chunk": (int, 4096),
                        "--pace": (float, 0.0), "--generate": (GEN_KINDS, None),
                        "--gen-seed": (int, 1), "--verify": (FLAG, False)})),
    "expected": Command("probelib.commands:cmd_expected", FILES, {"--max-line": (int, 4096)}),
    "gen": Command("probelib.commands:cmd_gen", (("kind", GEN_KINDS), ("output", str)),
                   dict(GEN_OPTIONS, **{"--seed": (int, 1)})),
    "port-in-use": Command("probelib.commands:cmd_port_in_use", rest=True),
    "refusing-port": Command("probelib.commands:cmd_refusing_port", rest=True),
    "has-ipv6": Command("probelib.commands:cmd_has_ipv6"),
    "pty": Command("probelib.terminal:cmd_pty", rest=True, options={
        "--line": (MANY, None), "--expect": (MANY, None), "--status": (int, 0)}),
}


def main():
    common = {"--host": (str, "127.0.0.1"), "--port": (int, 0),
              "--timeout": (float, float(environ("ECHOPROBE_TIMEOUT", "5"))),
              "--deadline": (float, 180)}
    args, cmd = Parser("echoprobe.py", __doc__, common, COMMANDS).parse(sys.argv[1:])
    arm_deadline(args.deadline, "echoprobe: the run took longer than %.0f s; giving up"
                 % args.deadline)
    try:
        return call(cmd, args)
    except ProbeError as e:
        print("echoprobe: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
