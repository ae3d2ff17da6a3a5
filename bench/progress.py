"""progress: what make bench says on stderr while it runs (steps and ETA)."""
import sys
import time


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt_duration(s):
    s = max(0, int(round(s)))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class Progress:
    """Numbers the steps ([i/total]) and estimates the time left from the
    expected seconds of the steps done so far against the time they took."""

    def __init__(self, total_steps, expected_total):
        self.total = total_steps
        self.step = 0           # the last step numbered
        self.expected_total = expected_total
        self.expected_done = 0.0
        self.t0 = time.monotonic()

    def line(self, index, what):
        elapsed = time.monotonic() - self.t0
        if self.expected_done > 0:
            eta = (self.expected_total - self.expected_done) * elapsed / self.expected_done
            eta_s = fmt_duration(eta)
        else:
            eta_s = "~" + fmt_duration(self.expected_total)
        log(f"[{index}/{self.total}] {what} ... ETA {eta_s}")

    def done(self, expected):
        self.expected_done += expected
