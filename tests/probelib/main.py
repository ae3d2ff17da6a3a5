"""probe: the socket driver behind the echolab tests (stdlib only), one tool
with three sets of commands: the stream commands (one connection or a few,
scripted step by step), the scale commands (thousands of connections, one
epoll loop) and the datagram commands (udp-*).

    probe.py [--host H] [--port P] [--timeout S] [--deadline S] COMMAND ...

--port is the server's port on --host (default 127.0.0.1; the scale and udp
commands talk to 127.0.0.1 only). Everything has a deadline: every socket
operation waits at most --timeout seconds (default $ECHOPROBE_TIMEOUT or 5),
and the whole run is aborted after --deadline seconds (default 180, 60 for
the scale commands), so a broken server fails a test, never hangs it. It only
ever talks to the loopback addresses.

Exit status: 0 success, 1 a check failed (the reason is on stderr), 2 usage,
3 the overall deadline passed (scale commands), 77 the machine cannot run the
check (the descriptor hard limit is too low, no permission for a raw socket;
the scale commands print the reason as "SKIP: ...").

STREAM COMMANDS (the conformance, differential and tour suites)
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
  exec-grown MIB  grow this process by MIB MiB of touched memory, print its
                  peak (VmHWM) on stderr, then exec a command in its place

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
  held NAME                  wait until the server has read all NAME sent (its
                             side has no unread input, /proc/net/tcp*); that side
                             must still be open, held by the server
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
  wait_file PATH             wait until PATH exists (a go-ahead another process
                             gives by creating it; bounded by --timeout)
  signal SIG PID             send a signal (TERM, INT) to a process

SCALE COMMANDS (tests/scale.bats, tests/uring.bats, the bench's memory
cells). Every socket is non-blocking and driven by one epoll loop; a stage
fails as soon as nothing moves for --timeout seconds. The probe raises its
own soft RLIMIT_NOFILE to the hard limit. --pid PID names the server, whose
whole process group, fork children included, is measured. --port is required.

  swarm N [--messages K] [--window W] [--wave W] [--max-rss-kb KB]
      Open N connections and keep all of them open. Every connection then
      sends K distinct messages, each in two halves (--whole: in one piece): the first half goes out
      on every connection, then the second half on every connection, then
      every echo of that message must come back byte for byte before the next
      message starts (so N partial messages are pending at the server at
      once, and all N are served while all N are open). With --max-rss-kb the
      server's VmRSS, read while all N are open and echoed, must stay below
      it. With --partial P each message is P+20 bytes and its first part is
      P bytes; once the server has read every first part (no server-side
      socket on the port has unread input, from /proc/net/tcp*) the server's
      VmRSS is read with N unfinished lines held ("partial_rss_kb"), and must
      stay below --max-rss-kb too; with --pid, also before any byte is sent,
      once the server holds all N ("idle_rss_kb"). With --wave W the N open W
      at a time, each wave served (one whole line echoed on each) before the
      next opens: a slow accepter is not drowned by a burst of connects.
      Then all close. Prints "swarm clients=N messages=M bytes=B ...".

  pipeline N [--rounds R] [--depth D] [--max-size S]
      Open N connections and keep all of them open. In each of R rounds
      every connection sends D messages back to back without reading (up
      to 620 bytes each but one of S+20, every byte value but LF,
      in a pattern of its own), then all N read; every byte must come back
      on its own connection, in order (no byte crosses between
      connections). The server must allow messages of S+20 bytes
      (--max-line). Prints "pipeline clients=N messages=M bytes=B ...".

  ordered N [--close C]
      Open N connections one after another (each handshake completes before
      the next starts, so the server accepts them in this order and hands
      them ascending descriptors), send a message on each, and sort the
      connections into served (their echo came back) and refused (exactly
      "ERR server busy\\n", then EOF). The served ones must be a prefix of
      the order. Every served connection then echoes a second message (the
      refusals disturbed nobody), C served connections close, and a new
      client is tried until it is served (bounded). Prints
      "ordered served=S refused=R connections=C' refusals=R'" where C' and R'
      are what the server's summary must count.

  exhaust N --pid PID [--serial] [--cpu-window S] [--max-cpu F]
      N clients connect at once and each sends a message. Each is either
      served (its echo comes back) or refused ("ERR server busy\\n" then EOF);
      anything else fails. Once every client has its answer (with --serial:
      once the first is served, the rest waiting in the backlog) the server's
      CPU time (utime+stime of its process group) is measured over a window of
      S seconds with all N still open; it must be below F of the window. Then
      every served client echoes once more; with --serial each client closes
      as soon as it is served, so all N are served one after another. Prints
      "exhaust served=S refused=R cpu=F".

  waves N --pid PID [--rounds R] [--partial L] [--max-growth-kb KB]
      R rounds of: N connections each send an unfinished message of L bytes
      (default 4095) and hold it; the server's RSS is read; then each
      finishes it, gets its echo, half-closes and waits for the server's EOF;
      the RSS with no client open is read. Prints "round K ... holding_kb=
      idle_kb=" per round and "waves ... start_kb= worst_growth_kb=". With
      --max-growth-kb the idle RSS after any round must stay within KB of its
      value before the first round.

  push BYTES --pid PID [--max-growth-kb KB] [--bystander K] [--max-latency S] [--cache DIR]
      One client sends BYTES of numbered lines without reading until the
      socket stays unwritable for --stall seconds (the server stopped reading:
      backpressure); the server must not have taken it all. Meanwhile the
      server's RSS (its process group's) is sampled. With --bystander, K
      ping-pongs on a second connection must each complete within S seconds
      while the first client is stalled. Then the first client reads
      everything back while sending the rest, half-closes, and every byte
      must come back in order, then EOF. With --max-growth-kb the RSS may not
      grow by that much over its value before the push. With --cache the lines
      are kept in DIR/push-BYTES.lines for the next push of that size (making
      64 MiB of them costs a Python start more than half a second; mapping
      the file again, a hundredth of that).

  slowloris N --pid PID --idle T --client BIN [--gap G] [--max-cpu F] [--max-latency S]
            [--ping-rate R]
      Slowloris against a server started with --idle-timeout T: N
      connections are each served one message ("hi"), then send one byte
      (never an LF) at once and another every G seconds (default 3, longer than T) until
      the server closes them. Each must get nothing but EOF, within T + 1
      seconds of its last byte (and not before T - 0.25); the time of an EOF
      is bounded by when the previous poll returned, so the probe's own
      lateness on a busy machine is not blamed on the server ("seen" is when
      the probe noticed). Meanwhile a well-behaved client (BIN --load, one
      ping-pong connection paced at R messages/s, default 50, a process of its
      own) runs from before the first
      trickler until all are closed: it must never fail, its median latency
      must stay under S seconds (default 0.25) and no echo may take 5 s. The server's own CPU time
      (utime+stime of its process group, from /proc: not wall time) from the
      moment all N are connected until all are closed must stay under F of
      that window (default 0.5). Prints "slowloris clients=N ... messages=P
      bytes=B cpu=F", P and B being what the server's summary must count.

  ping [--until-served S]
      Connect, send a message, expect its echo. With --until-served, a
      "ERR server busy" answer is retried until S seconds have passed.
      Prints "ping refusals=R" (the busy answers it received).

DATAGRAM COMMANDS (tests/udp.bats): each waits at most --timeout for a reply.

  udp-echo SIZE           one datagram of SIZE pseudo-random bytes (LF, NUL, CR
                          among them) must come back identical, as one datagram
  udp-boundaries          several datagrams sent back to back, one holding LFs
                          and one empty, must come back one for one, in order,
                          each identical
  udp-too-long SIZE       a datagram of SIZE bytes must be answered exactly
                          "ERR line too long" (and the server must still echo)
  udp-forbidden SRCPORT   a datagram from source port SRCPORT (7, 19; 0 needs a
                          raw socket) must get no reply: a sentinel datagram
                          sent after it from an ordinary port is echoed, and by
                          then the forbidden port has received nothing
  udp-silent              bind a UDP port that never answers; print it, then
                          hold it until stdin closes
  udp-interleaved N R     N sockets each send R distinct datagrams, all sent
                          before any is read; every socket must get exactly its
                          own R datagrams back, in order

The code is in tests/probelib/: main.py (this file: the commands and how
each set runs), cli.py (this command line, parsed by hand:
a start must cost little), harness.py (connections and bounded waits),
oracle.py (the protocol written down independently: expected, gen),
transcript.py with steps_flow.py and steps_crowd.py (the script steps),
commands.py (the other stream commands), terminal.py (pty); scale_driver.py
(the epoll loop over many connections, the messages and their checks),
scale_load.py (swarm, pipeline, waves), scale_refuse.py (ordered, exhaust,
ping), scale_push.py, scale_slowloris.py, procfs.py (the server's CPU time,
memory, descriptors); udp.py (the datagram commands). Each start imports
only what its command uses.
"""

import sys

from probelib.cli import FLAG, MANY, REQUIRED, Command, Parser, arm_deadline, call, environ
from probelib.oracle import GEN_KINDS

GEN_OPTIONS = {"--count": (int, 1000), "--longest": (int, 200), "--max-line": (int, 4096)}
FILES = (("input", str), ("output", str))

STREAM = {
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
    "exec-grown": Command("probelib.commands:cmd_exec_grown", (("mib", int),), rest=True),
    "pty": Command("probelib.terminal:cmd_pty", rest=True, options={
        "--line": (MANY, None), "--expect": (MANY, None), "--status": (int, 0)}),
}


CLIENTS = (("clients", int),)
PID = {"--pid": (int, REQUIRED)}

SCALE = {
    "swarm": Command("probelib.scale_load:cmd_swarm", CLIENTS, {
        "--messages": (int, 3), "--window": (int, 256), "--whole": (FLAG, False),
        "--partial": (int, 0), "--pid": (int, 0), "--max-rss-kb": (int, 0),
        "--wave": (int, 0)}),
    "pipeline": Command("probelib.scale_load:cmd_pipeline", CLIENTS, {
        "--rounds": (int, 2), "--depth": (int, 4), "--max-size": (int, 6000),
        "--window": (int, 256)}),
    "ordered": Command("probelib.scale_refuse:cmd_ordered", CLIENTS, {"--close": (int, 10)}),
    "exhaust": Command("probelib.scale_refuse:cmd_exhaust", CLIENTS, dict(PID, **{
        "--serial": (FLAG, False), "--cpu-window": (float, 1.0), "--max-cpu": (float, 0.2)})),
    "push": Command("probelib.scale_push:cmd_push", (("bytes", int),), dict(PID, **{
        "--stall": (float, 0.3), "--max-growth-kb": (int, 0), "--bystander": (int, 0),
        "--max-latency": (float, 1.0), "--cache": (str, None),
        # seconds the whole push may take (0: no limit; a stall is caught by --timeout)
        "--limit": (float, 0.0)})),
    "slowloris": Command("probelib.scale_slowloris:cmd_slowloris", CLIENTS, dict(PID, **{
        "--idle": (float, REQUIRED), "--gap": (float, 3.0), "--window": (int, 512),
        "--max-cpu": (float, 0.5), "--max-latency": (float, 0.25),
        "--ping-rate": (int, 50),      # the well-behaved client's messages per second
        "--client": (str, REQUIRED)})),   # bin/echo-client, the well-behaved client
    "waves": Command("probelib.scale_load:cmd_waves", CLIENTS, dict(PID, **{
        "--rounds": (int, 3), "--partial": (int, 4095), "--window": (int, 256),
        "--max-growth-kb": (int, 0)})),
    "ping": Command("probelib.scale_refuse:cmd_ping", options={"--until-served": (float, 0)}),
}


UDP = {
    "udp-echo": Command("probelib.udp:cmd_echo", (("size", int),)),
    "udp-boundaries": Command("probelib.udp:cmd_boundaries"),
    "udp-too-long": Command("probelib.udp:cmd_too_long", (("size", int),)),
    "udp-forbidden": Command("probelib.udp:cmd_forbidden", (("srcport", int),)),
    "udp-silent": Command("probelib.udp:cmd_silent"),
    "udp-interleaved": Command("probelib.udp:cmd_interleaved", (("clients", int), ("rounds", int))),
}


def run_stream(cmd, a):
    arm_deadline(a.deadline or 180, "probe: the run took longer than %.0f s; giving up"
                 % (a.deadline or 180))
    from probelib.harness import ProbeError
    try:
        return call(cmd, a)
    except ProbeError as e:
        print("probe: %s" % e, file=sys.stderr)
        return 1


def run_scale(cmd, a, parser):
    if a.port <= 0:
        parser.error("--port is required")
    deadline = a.deadline or 60
    arm_deadline(max(1, int(deadline)),
                 "probe %s: FAIL: not done after the %.0f s deadline" % (a.cmd, deadline))
    from probelib.scale_driver import Fail, Skip, log
    try:
        call(cmd, a)
    except Skip as e:
        print("SKIP: %s" % e)
        return 77
    except (Fail, OSError) as e:
        log("probe %s: FAIL: %s" % (a.cmd, e))
        return 1
    return 0


def run_udp(cmd, a, parser):
    if a.port <= 0 and a.cmd != "udp-silent":
        parser.error("--port is required")
    call(cmd, a)
    return 0


def main():
    common = {"--host": (str, "127.0.0.1"), "--port": (int, 0),
              "--timeout": (float, float(environ("ECHOPROBE_TIMEOUT", "5"))),
              "--deadline": (float, 0)}
    parser = Parser("probe.py", __doc__, common, dict(STREAM, **SCALE, **UDP))
    a, cmd = parser.parse(sys.argv[1:])
    if a.cmd in SCALE:
        return run_scale(cmd, a, parser)
    if a.cmd in UDP:
        return run_udp(cmd, a, parser)
    return run_stream(cmd, a)

