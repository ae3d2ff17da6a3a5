"""oracle: the protocol written down a second time, independently of the C
code (docs/PROTOCOL.md), and the test inputs that exercise it.

expected_echo says what a server must send back for a byte stream; the
generators make deterministic inputs with every awkward case the protocol
has; pattern makes numbered lines any stretch of which can be made alone.
"""

TOO_LONG = b"ERR line too long\n"
BUSY = b"ERR server busy\n"
GEN_KINDS = ("lines", "allbytes", "transcript", "pattern")


def expected_echo(data, max_line):
    """What the server must send back for a stream that ends with a half-close."""
    out = bytearray()
    start = 0  # start of the current message
    n = len(data)
    while start < n:
        lf = data.find(b"\n", start, start + max_line)
        if lf >= 0:
            out += data[start: lf + 1]
            start = lf + 1
            continue
        # No LF among the next max_line bytes (or fewer, at the end).
        if n - start >= max_line:
            out += TOO_LONG
            return bytes(out)
        out += data[start:]  # a trailing partial message goes back as it is
        break
    return bytes(out)


def pattern(nbytes, tag=b"", start=0):
    """Bytes start..nbytes of a stream of numbered 64-byte lines (the last one
    may be cut short). Every line is 64 bytes, so any stretch of the stream
    is made without the lines before it: a probe sending megabytes makes
    them as it goes."""
    first = start // 64
    lines = []
    for i in range(first, (nbytes + 63) // 64):
        head = b"%s%010d " % (tag, i)
        lines.append(head + b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: 63 - len(head)] + b"\n")
    return b"".join(lines)[start - first * 64: nbytes - first * 64]


def gen_lines(rng, count, longest):
    """count messages of random length and content (every byte value but LF)."""
    out = bytearray()
    for _ in range(count):
        n = rng.choice((0, 1, 2, rng.randint(0, 20), rng.randint(0, longest)))
        out += rng.randbytes(n).replace(b"\n", b"\x0b") + b"\n"
    return bytes(out)


def gen_allbytes(repeat):
    """Every byte value in order, repeated; the LFs split it into messages."""
    return bytes(range(256)) * repeat + b"\n"


def gen_transcript(rng, max_line):
    """The differential test's input: every awkward case the protocol has."""
    parts = [
        b"hello\n",
        b"\n", b"\n\n\n",                      # empty messages
        b"crlf\r\n", b"\r\n", b"\r\r\r\n",      # CR is data
        b"nul\x00inside\n", b"\x00\n",          # so is NUL
        bytes(range(256)) * 3 + b"\n",          # all byte values
        b"y" * (max_line - 1) + b"\n",          # the longest allowed message
        b"z" * (max_line // 2) + b"\n",
        gen_lines(rng, 3000, 120),              # many small messages
        b"\xff\xfe high bytes \x80\x81\n",
        b" leading and trailing spaces \n",
        b"y" * (max_line - 1) + b"\n",
        b"trailing partial, no LF \x00\r",     # echoed as is after the half-close
    ]
    return b"".join(parts)


def generate(kind, seed, count, longest, max_line):
    """The input `gen KIND` writes (kind is one of GEN_KINDS)."""
    if kind == "allbytes":
        return gen_allbytes(count)
    if kind == "pattern":
        return pattern(count)
    import random  # only the random kinds pay for it
    rng = random.Random(seed)
    if kind == "lines":
        return gen_lines(rng, count, longest)
    return gen_transcript(rng, max_line)
