#!/usr/bin/env python3
"""spread.py: how evenly the pool models share connections among their
workers, per ECHOLAB_ACCEPT_LOCK for prefork (UNP shows the same per locking
scheme), and the server CPU each connection costs (fork and threads too, for
comparison: they have no workers, so no spread).

    bench/spread.py [--workers 16] [--connections 4000] [--clients 10]

For each variant (fork, threads, prefork with none, fcntl and mutex,
prethreaded) it starts the server with --verbose (and --workers N for a pool), runs --clients loops that each connect,
send one 64-byte message, read the echo and close, until --connections are
done, stops the server with SIGTERM and reads its per-worker lines and summary.
Prints a markdown table: the spread (fewest/most connections any one worker
served), the standard deviation of the per-worker counts, and user+sys CPU
microseconds per connection (server and children, --verbose logging included:
two lines per connection, the same for every variant).
Only talks to 127.0.0.1; stops by itself. make models-table runs the same
variants (run()) for the record.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MESSAGE = b"x" * 63 + b"\n"
# (model, ECHOLAB_ACCEPT_LOCK): the variants measured, in the table's order
VARIANTS = [("fork", None), ("threads", None), ("prefork", "none"), ("prefork", "fcntl"),
            ("prefork", "mutex"), ("prethreaded", None)]


def churn(port, count, errors):
    for _ in range(count):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(MESSAGE)
                got = b""
                while len(got) < len(MESSAGE):
                    chunk = s.recv(len(MESSAGE) - len(got))
                    if not chunk:
                        break
                    got += chunk
                if got != MESSAGE:
                    errors.append("bad echo: %r" % got[:80])
        except OSError as e:
            errors.append(str(e))


def run(model, lock, args):
    env = dict(os.environ)
    if lock:
        env["ECHOLAB_ACCEPT_LOCK"] = lock
    argv = [os.path.join(ROOT, "bin", "echo-" + model), "--host", "127.0.0.1", "--port", "0",
            "--verbose"]
    if model.startswith("pre"):
        argv += ["--workers", str(args.workers)]
    err_path = "/tmp/spread-%d-%s-%s.err" % (os.getpid(), model, lock or "")
    with open(err_path, "w+") as err:
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            line = p.stdout.readline()
            m = re.match(r"listening on .*:(\d+)$", line.strip())
            if not m:
                raise SystemExit("%s printed %r" % (model, line))
            port = int(m.group(1))
            errors = []
            per = args.connections // args.clients
            threads = [threading.Thread(target=churn, args=(port, per, errors))
                       for _ in range(args.clients)]
            start = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - start
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
        err.seek(0)
        text = err.read()
    os.unlink(err_path)
    counts = [int(n) for n in re.findall(r"^worker \d+: connections=(\d+) messages=\d+$", text, re.M)]
    summary = re.search(r"^summary: .*$", text, re.M).group(0)
    field = dict(kv.split("=", 1) for kv in summary.split()[1:])
    cpu = float(field["user"].rstrip("s")) + float(field["sys"].rstrip("s"))
    done = int(field["connections"])
    return dict(name=model + (" " + lock if lock else ""), counts=counts,
                spread=field.get("spread", "-"),
                stdev=statistics.pstdev(counts) if counts else 0.0,
                cpu_us=cpu * 1e6 / max(done, 1), rate=done / elapsed, errors=len(errors),
                done=done)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--connections", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=10)
    args = ap.parse_args()
    print("%d workers, %d connections from %d client loops (connect, one 64-byte echo, close)\n"
          % (args.workers, args.connections, args.clients))
    print("| variant | spread (min/max) | stdev | CPU µs/connection | connections/s | per worker |")
    print("|---|---|---|---|---|---|")
    failed = False
    for model, lock in VARIANTS:
        r = run(model, lock, args)
        print("| %s | %s | %s | %.0f | %.0f | %s |" % (
            r["name"], r["spread"], "%.1f" % r["stdev"] if r["counts"] else "-", r["cpu_us"],
            r["rate"], " ".join(str(c) for c in r["counts"]) or "-"))
        if r["errors"] or r["done"] != args.connections // args.clients * args.clients:
            print("  %s: %d client errors, %d connections served" % (r["name"], r["errors"], r["done"]),
                  file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
