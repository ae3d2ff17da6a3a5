"""extras: what echolab's servers promise beyond the core (docs/PROTOCOL.md,
"What echolab's servers add"): the ERR line of an over-long message, the
busy refusal, the idle timeout, a clean exit with a summary on SIGTERM,
IPv6. A server that does not offer one is told apart from one that gets it
wrong: "not offered" rather than a failure."""
import socket
import time

from probelib import oracle
from probelib.harness import ProbeError, recv_until_eof, send_all, show
from probelib.scale_driver import Skip
from probelib.summary import SUMMARY_RE
from probelib.transcript import Script

from checklib.cases import Broken, NotOffered, case, converse, recv_for
from checklib.promises import beyond_promise

MAX_LINE = 4096   # echolab's default --max-line


@case("max-line", "a line over --max-line (4096) gets 'ERR line too long', then EOF",
      sent="'ok\\n', a line of exactly 4,096 bytes (LF included), then 5,000 bytes with no LF",
      expected="'ok\\n', the 4,096-byte line, 'ERR line too long\\n', then EOF",
      hint="echolab's servers count the bytes of the unfinished line and, at --max-line, "
      "send the ERR line, half-close and drain (docs/PROTOCOL.md section 3)",
      profile="extra")
def max_line(ctx):
    head = b"ok\n" + b"y" * (MAX_LINE - 1) + b"\n"
    with ctx.connect() as s:
        converse(s, head, head, ctx.timeout)
        send_all(s, b"x" * 5000, ctx.timeout)
        said = recv_for(s, 2.0)
        if said == b"":
            raise NotOffered("no limit: it waits for the LF of a 5,000-byte line")
        if said is None:
            raise Broken("EOF without the ERR line")
        if said.startswith(b"x"):
            raise NotOffered("no limit: it echoes the bytes of a 5,000-byte line")
        if not oracle.TOO_LONG.startswith(said[:len(oracle.TOO_LONG)]):
            raise Broken(show(said))
        try:
            said += recv_until_eof(s, ctx.timeout, limit=8192)
        except ProbeError as e:
            raise Broken("%s, then %s" % (show(said), e))
        if said != oracle.TOO_LONG:
            raise Broken(show(said) + " then EOF")


@case("busy", "with --max-clients 2, a third client gets 'ERR server busy', then EOF",
      sent="the server started with --max-clients 2; two clients served; a third connects; "
      "one of the two leaves; a fourth connects",
      expected="the third: 'ERR server busy\\n' then EOF; the fourth served",
      hint="echolab's servers count the clients they serve; at --max-clients they accept, "
      "send the busy line, half-close and close (docs/PROTOCOL.md section 5)",
      profile="extra", needs=("restart",))
def busy(ctx):
    beyond_promise(ctx, 2)   # a serial server never refuses: the others wait
    with ctx.fresh(["--max-clients", "2"]) as srv:
        # "served" retries a refused connection: the checker's own probe
        # that saw the server accept may still hold a place for a moment
        script = Script(srv.args(host=srv.host))
        try:
            script.run(["served a", "served b"])
            with srv.connect() as c:
                third(c, srv.timeout)
            script.run(["close a", "served d", "send d b'fourth\\n'", "expect d b'fourth\\n'"])
        except ProbeError as e:
            raise Broken(str(e))
        finally:
            script.close_all()


def third(c, timeout):
    """The third client: the busy line, then EOF."""
    said = recv_for(c, timeout)
    if said == b"":
        send_all(c, b"third\n", timeout)
        if recv_for(c, 1.0) == b"third\n":
            raise NotOffered("it ignores --max-clients: a third client was served")
        raise Broken("the third client: nothing for %.0f s" % timeout)
    if said is None or not said.startswith(oracle.BUSY):
        raise Broken("the third client: %s" % ("EOF without the busy line" if said is None
                                                 else show(said)))
    if said != oracle.BUSY or recv_for(c, timeout) is not None:
        raise Broken("the third client: the busy line, then more instead of EOF")


@case("idle-timeout", "with --idle-timeout 1, a quiet connection is closed after 1 s",
      sent="the server started with --idle-timeout 1; a client echoes a line, then is quiet",
      expected="EOF 0.75 to 2.5 s after the echo",
      hint="echolab's servers keep each connection's last activity and close it once "
      "quiet for --idle-timeout seconds (docs/PROTOCOL.md section 6)",
      profile="extra", needs=("restart",))
def idle_timeout(ctx):
    with ctx.fresh(["--idle-timeout", "1"]) as srv:
        with srv.connect() as s:
            converse(s, b"hello\n", b"hello\n", srv.timeout)
            t0 = time.monotonic()
            said = recv_for(s, 4.0)
            took = time.monotonic() - t0
        if said == b"":
            raise NotOffered("no idle timeout: a quiet connection is still open after 4 s")
        if said is not None:
            raise Broken("%s instead of EOF" % show(said))
        if not 0.75 <= took <= 2.5:
            raise Broken("EOF %.2f s after the echo" % took)
        return "EOF after %.2f s" % took


@case("ipv6", "answers on ::1 as on 127.0.0.1",
      sent="a line over a connection to [::1] on the same port",
      expected="its echo",
      hint="echolab's servers listen on [::] with IPV6_V6ONLY off (both families) unless "
      "--host says otherwise",
      profile="extra")
def ipv6(ctx):
    if ctx.host not in ("127.0.0.1", "::1"):
        raise NotOffered("checked on loopback only")
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        raise Skip("no IPv6 loopback here")
    other = "::1" if ctx.host == "127.0.0.1" else "127.0.0.1"
    try:
        s = ctx.connect(other)
    except ProbeError as e:
        raise NotOffered("not on %s: %s" % (other, e))
    with s:
        converse(s, b"over the other family\n", b"over the other family\n", ctx.timeout)


@case("sigterm", "on SIGTERM: exits 0 within 2 s with the summary line on stderr",
      sent="SIGTERM to the server (its process group), with a client connected",
      expected="exit status 0 within 2 s, every process gone, and 'summary: model=... "
      "connections=N ...' on stderr",
      hint="echolab's servers catch SIGTERM (signalfd or a flag), close every connection, "
      "print the summary and exit 0 (docs/PROTOCOL.md section 9)",
      profile="extra", needs=("pid",))
def sigterm(ctx):
    s = ctx.connect()
    try:
        stop = ctx.target.stop()
    finally:
        s.close()
    ctx.stopped = stop
    if stop["killed"]:
        raise Broken("still running %.0f s after SIGTERM: killed with SIGKILL"
                     % ctx.target.grace)
    if stop["status"] == -15:
        raise NotOffered("SIGTERM kills it (no handler): no summary, no clean exit")
    if stop["status"] != 0:
        raise Broken("%s after %.2f s" % (stop["how"], stop["seconds"]))
    if stop["seconds"] > 2.0:
        raise Broken("exit 0 after %.2f s" % stop["seconds"])
    line = SUMMARY_RE.search(stop["stderr"])
    if not line:
        raise NotOffered("exit 0 in %.2f s, but no summary line on stderr" % stop["seconds"])
    return "%.2f s: %s" % (stop["seconds"], line.group(0)[:60] + "...")
