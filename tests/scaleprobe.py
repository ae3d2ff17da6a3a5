#!/usr/bin/env python3
"""scaleprobe: the many-connection and heavy-traffic driver behind tests/scale.bats.

Python 3 standard library only; it talks to 127.0.0.1 only. Every socket is
non-blocking and driven by one epoll loop, and every wait is bounded: a stage
fails as soon as nothing moves for --timeout seconds (default
$ECHOPROBE_TIMEOUT or 5), and the whole run is killed by an alarm after
--deadline seconds (default 60). So a broken server fails a test, it never
hangs it. The probe raises its own soft RLIMIT_NOFILE to the hard limit.

Exit status: 0 success, 1 a check failed (the reason is on stderr), 2 usage,
3 the overall deadline passed, 77 the machine cannot run the case (e.g. the
descriptor hard limit is too low); the reason is printed as "SKIP: ...".

Subcommands (all take --port; --pid PID names the server, whose whole process
group, fork children included, is measured)

  swarm N [--messages K] [--window W] [--max-rss-kb KB]
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
      once the server holds all N ("idle_rss_kb"). Then all close. Prints "swarm clients=N
      messages=M bytes=B ...".

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

The code is in tests/probelib/: scale_driver.py (the epoll loop over many
connections, the messages and their checks), scale_load.py (swarm, pipeline,
waves), scale_refuse.py (ordered, exhaust, ping), scale_push.py,
scale_slowloris.py, procfs.py (the server's CPU time, memory, descriptors),
cli.py (this command line). Each start imports only what its command uses.
"""

import sys

# The suite may run with PYTHONDONTWRITEBYTECODE set; then every start would
# compile probelib anew. Its cached bytecode goes to tests/probelib/__pycache__
# (ignored by git).
sys.dont_write_bytecode = False

from probelib.cli import FLAG, REQUIRED, Command, Parser, arm_deadline, call, environ  # noqa: E402

CLIENTS = (("clients", int),)
PID = {"--pid": (int, REQUIRED)}

COMMANDS = {
    "swarm": Command("probelib.scale_load:cmd_swarm", CLIENTS, {
        "--messages": (int, 3), "--window": (int, 256), "--whole": (FLAG, False),
        "--partial": (int, 0), "--pid": (int, 0), "--max-rss-kb": (int, 0)}),
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


def main():
    common = {"--port": (int, 0), "--timeout": (float, float(environ("ECHOPROBE_TIMEOUT", "5"))),
              "--deadline": (float, 60)}
    parser = Parser("scaleprobe.py", __doc__, common, COMMANDS)
    a, cmd = parser.parse(sys.argv[1:])
    if a.port <= 0:
        parser.error("--port is required")
    arm_deadline(max(1, int(a.deadline)),
                 "scaleprobe %s: FAIL: not done after the %.0f s deadline" % (a.cmd, a.deadline))
    from probelib.scale_driver import Fail, Skip, log
    try:
        call(cmd, a)
    except Skip as e:
        print("SKIP: %s" % e)
        return 77
    except (Fail, OSError) as e:
        log("scaleprobe %s: FAIL: %s" % (a.cmd, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
