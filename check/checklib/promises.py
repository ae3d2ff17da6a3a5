"""promises: what a server declares about how many clients it serves at once,
and the checks of that declaration.

A server that does not claim a guarantee is not failed on it: a case that
needs more clients at once than the server declares is "not offered (as
declared)", and what the server does promise for those clients is checked
instead, so a promise it does not keep is still a failure:

  --serves concurrent   every client at once (the default: nothing declared)
  --serves serial       one client at a time; the next waits (in the listen
                        backlog) and is served once the first leaves
  --serves pool:N       N clients at once; client N+1 waits and is served
                        once one of them leaves
  --max-clients N       a cap of its own: at least N clients at once, and
                        each one beyond its limit answered 'ERR server busy'
                        then EOF, none lost (docs/PROTOCOL.md section 5)
"""
import contextlib
import re

from probelib.harness import ProbeError, recv_exact, send_all, show
from probelib.scale_driver import (Driver, Fail, Skip, classify, message, outcome, undecided,
                                   want_descriptors)

from checklib.cases import Broken, NotOffered, converse

LIMIT = 1000000   # the largest N either option takes (--max-clients' own range)


class Promises:
    """What a server declared: serves (its words, for the card) and at_once
    (None: no bound from --serves), max_clients (None: no cap declared)."""

    def __init__(self, serves="concurrent", max_clients=None):
        self.serves, self.max_clients = serves, max_clients
        self.at_once = {"concurrent": None, "serial": 1}.get(serves)
        if serves.startswith("pool:"):
            self.at_once = int(serves[5:])

    def options(self):
        """The declaration as echo-check options ("" when nothing is declared)."""
        words = [] if self.serves == "concurrent" else ["--serves", self.serves]
        if self.max_clients is not None:
            words += ["--max-clients", str(self.max_clients)]
        return " ".join(words)


def parse_serves(text):
    """--serves' value, checked: serial, concurrent or pool:N. Raises
    ValueError naming what is wrong."""
    if text in ("serial", "concurrent"):
        return text
    m = re.fullmatch(r"pool(:(\d*))?", text)
    if not m:
        raise ValueError("'%s' is none of serial, concurrent, pool:N" % text)
    if not m.group(2):
        raise ValueError("'%s': a pool needs its size, pool:N (N clients at once)" % text)
    if not 1 <= int(m.group(2)) <= LIMIT:
        raise ValueError("'%s': N is a number of clients from 1 to %d" % (text, LIMIT))
    return "pool:%d" % int(m.group(2))


def parse_count(text):
    """--max-clients' value: a number of clients from 1 to LIMIT."""
    if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= LIMIT:
        raise ValueError("'%s' is not a number of clients from 1 to %d" % (text, LIMIT))
    return int(text)


class Declared(NotOffered):
    """Not offered, and the server says so: the profile still holds."""
    declared = True


def beyond_promise(ctx, clients):
    """Returns when the declaration covers `clients` at once. Otherwise
    checks what the server does promise for them and raises Declared saying
    what held, or Broken when it did not."""
    p = ctx.promises
    if p.at_once is not None and clients > p.at_once:
        takes_turns(ctx, p.at_once)
        raise Declared("declared %s: %s, the others wait their turn (none refused); checked: "
                       "one more client waited and was served once %s left"
                       % (p.serves, "one client at a time" if p.at_once == 1 else
                          "%d clients at once" % p.at_once,
                          "the first" if p.at_once == 1 else "one of them"))
    if p.max_clients is not None and clients > p.max_clients:
        served, refused = refuses_beyond(ctx, clients, p.max_clients)
        raise Declared("declared --max-clients {}: checked: of {:,} clients {:,} served at "
                       "once, the other {:,} answered 'ERR server busy' then EOF, none lost"
                       .format(p.max_clients, clients, served, refused))


def takes_turns(ctx, n):
    """n clients served at once; one more waits its turn and is served once
    the first leaves."""
    sent = ("%d client(s) each send a line and stay; one more sends a line; the first "
            "leaves" % n)
    expected = ("every echo of the %d at once; the last one's echo once the first has left "
                "(declared %s)" % (n, ctx.promises.serves))
    hint = ("the server serves fewer clients at once than --serves declares, or a client "
            "that waits its turn is dropped rather than served when a place frees")
    want_descriptors(n + 64)
    with contextlib.ExitStack() as held:
        first = None
        for i in range(n):
            s = held.enter_context(ctx.connect())
            first = first or s
            line = b"client %d of %d at once\n" % (i + 1, n)
            try:
                converse(s, line, line, ctx.timeout)
            except Broken as e:
                raise Broken("client %d of %d: %s" % (i + 1, n, e.got), sent, expected, hint)
        last = held.enter_context(ctx.connect())
        line = b"waits its turn\n"
        send_all(last, line, ctx.timeout)
        first.close()
        try:
            got = recv_exact(last, len(line), ctx.timeout)
        except ProbeError as e:
            raise Broken("client %d, once the first had left: %s" % (n + 1, e), sent, expected,
                         hint)
        if got != line:
            raise Broken("client %d: %s" % (n + 1, show(got)), sent, expected, hint)


def refuses_beyond(ctx, clients, cap):
    """`clients` connections one after another, each a line, all held open:
    each one served or refused with the busy line and EOF, at least `cap`
    served, and the refusals disturb none of them. Returns (served, refused).
    The order is not held to: a place the checker's previous client held
    may be freed a moment after the next connections arrive."""
    sent = "%d connections, one after another, each a line, all held open" % clients
    expected = ("each one echoed or answered 'ERR server busy' then EOF, at least %d echoed "
                "(declared --max-clients %d)" % (cap, cap))
    hint = ("the server refuses before the cap it declares, or refuses without the busy "
            "line (a reset, a silent close)")
    if ctx.host != "127.0.0.1":
        raise Skip("this load is driven at 127.0.0.1 only")
    want_descriptors(clients + 64)
    d = Driver(ctx.port, ctx.timeout)
    d.on_data = classify
    conns = []
    try:
        for i in range(clients):
            c = d.start_connect(i)
            d.run_until(lambda: c.connected, "connection %d not established" % i)
            d.send(c, message(i, 0))
            conns.append(c)
        d.run_until(lambda: all(outcome(c) for c in conns), undecided(conns))
        served = [c for c in conns if outcome(c) == "served"]
        for c in served:
            d.send(c, message(c.i, 1))
        d.echoed_all(served)
    except Fail as e:
        raise Broken(str(e), sent, expected, hint)
    finally:
        for c in conns:
            d.close(c)
    refused = clients - len(served)
    if len(served) < cap:
        raise Broken("%d served at once, the other %d refused" % (len(served), refused),
                     sent, expected, hint)
    return len(served), refused
