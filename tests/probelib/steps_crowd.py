"""steps_crowd: the script steps about many clients and refusals: served,
many, many_together and churn (a mixin of transcript.Script: self.conns,
self.host, self.port, self.timeout)."""
import time
from _socket import SHUT_WR

from probelib.harness import (ProbeError, open_connection, recv_exact, recv_until_eof, send_all,
                              show, wait_readable)
from probelib.oracle import BUSY


def served_or_refused(sock, timeout):
    """True if the server serves this new connection (a ping comes back);
    False if it refuses it with the busy line (then the socket is closed)."""
    said = b""
    # A refusal comes at once; a served connection stays silent.
    if not wait_readable(sock, 0.05):
        try:
            send_all(sock, b"ping\n", timeout)
            said = recv_exact(sock, 5, timeout)
        except ProbeError:
            said = None  # EOF or reset: refused while our ping was in flight
        if said == b"ping\n":
            return True
    try:
        said = (said or b"") + recv_until_eof(sock, timeout)
    except ProbeError:
        pass  # a reset may cut the line short; what came must still fit
    sock.close()
    if said is not None and not BUSY.startswith(said):
        raise ProbeError("neither an echo nor %s: received %s" % (show(BUSY), show(said)))
    return False


class CrowdSteps:
    def step_served(self, name, timeout=None):
        if name in self.conns:
            raise ProbeError("connection %r already exists" % name)
        limit = time.monotonic() + float(timeout or self.timeout)
        refusals = 0
        while True:
            sock = open_connection(self.host, self.port, self.timeout)
            if served_or_refused(sock, self.timeout):
                break
            refusals += 1
            if time.monotonic() > limit:
                raise ProbeError("expected a free slot for a new client within %.0f s; it was refused "
                                 "(ERR server busy) %d times in a row instead"
                                 % (float(timeout or self.timeout), refusals))
            time.sleep(0.02)
        self.adopt(name, sock)
        print("%s served after %d refusals" % (name, refusals), flush=True)

    def each_client(self, count, *phases):
        """Opens count connections; each phase(i, sock) runs on every one of
        them before the next phase starts; closes them all whatever happens."""
        socks = [open_connection(self.host, self.port, self.timeout) for _ in range(count)]
        try:
            for phase in phases:
                for i, s in enumerate(socks):
                    phase(i, s)
        finally:
            for s in socks:
                s.close()

    def expect_echo(self, i, s, want, received, what=""):
        try:
            got = received(s, len(want))
        except ProbeError as e:
            raise ProbeError("client %d%s: %s" % (i, what, e))
        if got != want:
            raise ProbeError("client %d: expected %s, received %s" % (i, show(want), show(got)))

    def step_many(self, count):
        """Each sends its message and half-closes; each must get exactly it, then EOF."""
        count = int(count)

        def send(i, s):
            send_all(s, b"client %d says hello\n" % i, self.timeout)
            s.shutdown(SHUT_WR)

        def receive(i, s):
            self.expect_echo(i, s, b"client %d says hello\n" % i,
                             lambda s, n: recv_until_eof(s, self.timeout, expected=n))

        self.each_client(count, send, receive)
        print("%d clients each got their own echo" % count, flush=True)

    def step_many_together(self, count):
        """Half a message on each, then the rest: every echo while all are open."""
        count = int(count)

        def receive(i, s):
            self.expect_echo(i, s, b"client %d is here\n" % i,
                             lambda s, n: recv_exact(s, n, self.timeout),
                             " (all %d still open)" % count)

        self.each_client(count, lambda i, s: send_all(s, b"client %d " % i, self.timeout),
                         lambda i, s: send_all(s, b"is here\n", self.timeout), receive)
        print("%d clients served at the same time" % count, flush=True)

    def step_churn(self, count, seconds):
        """COUNT threads each connect, echo one message and close, as fast as
        they can, for SECONDS; then print how many were served and refused.
        Any other failure (a wrong echo, a timeout, a reset) fails the step."""
        import threading  # only this step pays for it
        count, seconds = int(count), float(seconds)
        stop_at = time.monotonic() + seconds
        served, refused, errors = [0] * count, [0] * count, []

        def one_client(i):
            try:
                self.churn_client(i, stop_at, served, refused)
            except (ProbeError, OSError) as e:
                errors.append("client %d: %s" % (i, e))

        threads = [threading.Thread(target=one_client, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("churn: %d served, %d refused" % (sum(served), sum(refused)), flush=True)
        if errors:
            raise ProbeError("; ".join(errors[:4]))

    def churn_client(self, i, stop_at, served, refused):
        n = 0
        while time.monotonic() < stop_at:
            # 9 bytes, shorter than the busy line, so a refusal
            # reads as its first 9 bytes
            msg = b"%02d%06d\n" % (i % 100, n % 1000000)
            n += 1
            s = open_connection(self.host, self.port, self.timeout)
            try:
                send_all(s, msg, self.timeout)
                got = recv_exact(s, len(msg), self.timeout)
            except ProbeError as e:
                raise ProbeError("connection %d.%d: %s" % (i, n, e))
            finally:
                s.close()
            if got == BUSY[: len(msg)]:
                refused[i] += 1
            elif got != msg:
                raise ProbeError("connection %d.%d: expected %s, received %s"
                                 % (i, n, show(msg), show(got)))
            else:
                served[i] += 1
