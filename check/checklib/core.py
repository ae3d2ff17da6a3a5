"""core: what every line-echo server must do (docs/PROTOCOL.md, "What every
line-echo server guarantees"), one case per guarantee, in the order of the
card. The inputs come from probelib.oracle and the load and fault traffic
from probelib's scale and script steps, the same code the test suite runs."""
import random
from socket import SHUT_WR

from probelib import oracle
from probelib.harness import ProbeError, recv_exact, recv_until_eof, reset_close, send_all, show
from probelib.scale_load import cmd_swarm
from probelib.scale_driver import Fail
from probelib.scale_push import cmd_push
from probelib.transcript import Script

from checklib.cases import Broken, case, converse, mismatch, recv_for
from checklib.promises import beyond_promise

MIB = 1 << 20
NO_LIMIT = 1 << 40   # what expected_echo needs for a server without --max-line


@case("echo", "every complete line echoed byte for byte, whatever the TCP splits",
      sent="2,000 random lines (every byte but LF) in one write; again in pieces of 1 to 97 "
      "bytes; one line a byte per write",
      expected="each line back, byte for byte, in order",
      hint="the server answers per recv() rather than per line, or loses the rest of a "
      "read after the first line: keep what follows the LF for the next line")
def echo(ctx):
    rng = random.Random(21)
    data = oracle.gen_lines(rng, 2000, 300)
    for chunks in (None, [rng.randint(1, 97) for _ in range(len(data))]):
        with ctx.connect() as s:
            converse(s, data, data, ctx.timeout, chunks)
    line = b"one byte per write\n"
    with ctx.connect() as s:
        converse(s, line, line, ctx.timeout, [1] * len(line))
    return "%d bytes whole, %d in pieces, %d a byte at a time" % (len(data), len(data), len(line))


@case("no-early-echo", "no byte of a line echoed before its LF has arrived",
      sent="'half a line, no LF yet', then 0.5 s of nothing, then the rest and its LF",
      expected="nothing during the 0.5 s; then the whole line",
      hint="the server echoes each recv() as it arrives instead of each line: buffer the "
      "bytes until their LF has come, then send the line back")
def no_early_echo(ctx):
    head, tail = b"half a line, no LF yet", b" ... and now its end\n"
    with ctx.connect() as s:
        send_all(s, head, ctx.timeout)
        early = recv_for(s, 0.5)
        if early is None or early:
            raise Broken("%s before the LF was sent" % ("EOF" if early is None else show(early)),
                         sent=show(head) + ", then waited 0.5 s")
        send_all(s, tail, ctx.timeout)
        got = recv_exact(s, len(head + tail), ctx.timeout)
        if got != head + tail:
            raise Broken(show(got), sent=show(head) + " then " + show(tail),
                         expected=show(head + tail))


@case("binary", "binary bytes, NUL and CR echoed as they are",
      sent="every byte value 0-255 four times (its LFs end lines), 'a\\r\\0b\\n', '\\r\\n', "
      "an empty line, high bytes",
      expected="all of it back unchanged",
      hint="the server treats the bytes as text: decoding them (UTF-8), stripping CR or "
      "CRLF, or C string functions that stop at NUL")
def binary(ctx):
    data = oracle.gen_allbytes(4) + b"a\r\x00b\n" + b"\r\n" + b"\n" + b"\xff\xfe\x80\x00\r\n"
    with ctx.connect() as s:
        converse(s, data, data, ctx.timeout)


@case("pipelining", "many lines sent before any echo is read all come back",
      sent="1,000 lines in one write, nothing read until all are sent",
      expected="all 1,000 echoes, in order",
      hint="the server handles one line per recv() and drops the rest of the read, or "
      "waits for each echo to be read before it takes the next line")
def pipelining(ctx):
    data = b"".join(b"pipelined line %04d\n" % i for i in range(1000))
    with ctx.connect() as s:
        send_all(s, data, ctx.timeout)
        got = recv_exact(s, len(data), ctx.timeout)
    if got != data:
        mismatch(got, data)


@case("half-close", "a trailing partial line echoed on half-close, then EOF",
      sent="'one\\ntwo\\nno LF at the end \\0\\r', then shutdown(SHUT_WR)",
      expected="the same bytes back, the unfinished line as it came (no LF added), then EOF",
      hint="on the client's EOF (recv returns 0) the server drops the unfinished line, or "
      "never closes: send back what is left of the line, then close")
def half_close(ctx):
    data = b"one\ntwo\nno LF at the end \x00\r"
    with ctx.connect() as s:
        send_all(s, data, ctx.timeout)
        s.shutdown(SHUT_WR)
        try:
            got = recv_until_eof(s, ctx.timeout, limit=4 * len(data))
        except ProbeError as e:
            raise Broken(str(e))
    if got != data:
        hint = None
        if got == b"one\ntwo\n":
            hint = ("the server drops the unfinished line when the client half-closes: "
                    "on EOF, send back what is left of the buffer before closing")
        raise Broken(show(got) + " then EOF", hint=hint)


@case("idle-client", "concurrent clients are not blocked by an idle one",
      sent="client A connects and sends half a line; client B connects and sends nothing; "
      "client C sends a line",
      expected="C's echo at once, while A and B stay open; then A's line when it ends",
      hint="the server serves one client at a time (it waits in recv() on the idle one): a "
      "thread or goroutine per connection, or an event loop, serves them all (or, if that is "
      "its design, it declares it: --serves serial)")
def idle_client(ctx):
    beyond_promise(ctx, 3)
    with ctx.connect() as a, ctx.connect() as b:
        send_all(a, b"A is slow ", ctx.timeout)
        with ctx.connect() as c:
            send_all(c, b"C is served\n", ctx.timeout)
            try:
                got = recv_exact(c, 12, ctx.timeout)
            except ProbeError as e:
                raise Broken("C: %s" % e)
            if got != b"C is served\n":
                raise Broken("C: %s" % show(got), expected="C: 'C is served\\n'")
        send_all(a, b"but done\n", ctx.timeout)
        got = recv_exact(a, 19, ctx.timeout)
        if got != b"A is slow but done\n":
            raise Broken("A: %s" % show(got), expected="A: 'A is slow but done\\n'")
        b.close()


@case("reset", "a client that resets harms nobody",
      sent="a client resets (RST) mid-line; another resets without reading its echo; others "
      "make the server's blocked send() fail with EPIPE and reset",
      expected="the server still running and echoing a new client",
      hint="a client's ECONNRESET or EPIPE ends the server or its loop: close that "
      "connection only, and ignore SIGPIPE (or send with MSG_NOSIGNAL)",
      needs=("loopback",))
def reset(ctx):
    with ctx.connect() as a:
        send_all(a, b"about to vanish", ctx.timeout)
        reset_close(a.dup())
    b = ctx.connect()
    send_all(b, b"unread echo\n" * 5000, ctx.timeout)
    reset_close(b)
    script = Script(ctx.args(host=ctx.host))
    try:
        script.run(["epipe"])
    finally:
        script.close_all()
    with ctx.connect() as c:
        try:
            converse(c, b"still here\n", b"still here\n", ctx.timeout)
        except Broken as e:
            raise Broken("a new client after the resets: %s" % e.got)


@case("never-reads", "a client that never reads does not grow the server without bound",
      sent="64 MiB of lines from a client that reads nothing until the server stops "
      "reading it, then reads everything back",
      expected="the server stops reading (backpressure), its memory grows < 16 MiB, and "
      "every byte comes back in order",
      hint="the server keeps reading and queues the echoes in memory: stop reading a "
      "client while its echo cannot be sent (wait for the send, or for writability)",
      needs=("pid", "127.0.0.1"))
def never_reads(ctx):
    cmd_push(ctx.args(bytes=64 * MIB, stall=0.3, max_growth_kb=16 * 1024, bystander=0,
                      max_latency=1.0, cache=None, limit=0))


@case("1000-clients", "1,000 clients connected at once, each served",
      sent="1,000 connections held open; 3 messages each, every message in two halves "
      "sent to all before the second halves",
      expected="every echo on its own connection, all 1,000 open at once",
      hint="the server limits how many clients it serves at once (a pool, a fixed table, "
      "select()'s FD_SETSIZE; a limit by design is declared: --serves pool:N, --max-clients "
      "N), its listen() backlog is short, or it runs out of descriptors (raise RLIMIT_NOFILE)",
      needs=("127.0.0.1",))
def clients_1000(ctx):
    beyond_promise(ctx, 1000)
    swarm(ctx, 1000, messages=3, partial=0, window=256)


@case("10000-clients", "10,000 clients connected at once, each served",
      sent="10,000 connections held open (opened 1,000 at a time, one line echoed on each "
      "before the next 1,000), each sends 100 bytes of a line, then the rest",
      expected="every echo on its own connection, all 10,000 open at once",
      hint="the server limits how many clients it serves at once (select()'s FD_SETSIZE, "
      "a thread each and too little memory; a limit by design is declared: --serves pool:N, "
      "--max-clients N), its listen() backlog is short (connections "
      "wait in SYN_RECV), or it runs out of descriptors (raise RLIMIT_NOFILE to its hard limit)",
      needs=("127.0.0.1",))
def clients_10000(ctx):
    beyond_promise(ctx, 10000)
    room = ["--max-clients", "20000"]
    if ctx.profile == "full" and ctx.can_restart():
        # echolab's command line is part of this profile: room for 10,000
        # (--max-clients is 1024 by default)
        with ctx.fresh(room) as big:
            swarm(big, 10000, messages=1, partial=100, window=512, wave=1000)
        return "started with --max-clients 20000"
    try:
        swarm(ctx, 10000, messages=1, partial=100, window=512, wave=1000)
        return None
    except Fail as e:
        why = str(e)
    if "ERR server busy" not in why or not ctx.can_restart():
        raise Fail(why)
    # A limit of its own, said with echolab's busy line: once more with room
    # for 10,000 (the first try's sockets are closed by now: `e` is gone)
    with ctx.fresh(room) as again:
        swarm(again, 10000, messages=1, partial=100, window=512, wave=1000)
    return ("refused beyond its limit with 'ERR server busy'; served all 10,000 when "
            "started with --max-clients 20000")


def swarm(ctx, n, wave=0, **how):
    cmd_swarm(ctx.args(clients=n, whole=False, max_rss_kb=0, pid=0, wave=wave, **how))
