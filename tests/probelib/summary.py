"""summary: the line every echolab server prints on stderr when it stops
(docs/PROTOCOL.md, "The summary line"), read back into numbers. Shared by
bench/ and the checker (check/)."""
import re

SUMMARY_RE = re.compile(
    r"summary: model=(\S+) connections=(\d+)(?: refused=(\d+))? messages=(\d+) bytes=(\d+) "
    r"user=([\d.]+)s sys=([\d.]+)s maxrss_kb=(\d+)")


def parse_summary(text):
    """The last summary line of text as a dict, or None if there is none."""
    found = SUMMARY_RE.findall(text)
    if not found:
        return None
    g = found[-1]
    return dict(model=g[0], connections=int(g[1]), refused=int(g[2]) if g[2] else 0,
                messages=int(g[3]), bytes=int(g[4]), user_s=float(g[5]), sys_s=float(g[6]),
                maxrss_kb=int(g[7]))
