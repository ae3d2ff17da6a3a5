"""reuseport_hash: how the kernel deals connections among the listeners of
one SO_REUSEPORT group (a hash of the 4-tuple, not a load balancer), measured
for make models-table (docs/tour/models_table.py), which adds the figures to
the run's record; docs/models/reuseport.md renders them. Only 127.0.0.1."""
import socket

# (listeners, clients, trials): the rows of the table in docs/models/reuseport.md
CASES = [(2, 8, 20), (2, 100, 20), (2, 1000, 5), (4, 4, 20), (4, 8, 20), (4, 100, 20),
         (4, 1000, 5), (8, 100, 20), (8, 1000, 5)]


def hash_trial(listeners, clients):
    """N listeners bound with SO_REUSEPORT to one port of 127.0.0.1, M clients
    connected: how many connections the kernel queued on each listener."""
    group = []
    try:
        for i in range(listeners):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", group[0].getsockname()[1] if group else 0))
            s.listen(4096)
            s.setblocking(False)
            group.append(s)
        port = group[0].getsockname()[1]
        conns = [socket.create_connection(("127.0.0.1", port), timeout=30)
                 for _ in range(clients)]
        counts = []
        for s in group:
            n = 0
            while True:
                try:
                    c, _ = s.accept()
                except BlockingIOError:
                    break
                c.close()
                n += 1
            counts.append(n)
        for c in conns:
            c.close()
        return counts
    finally:
        for s in group:
            s.close()


def measure(quick):
    """Per case: the trials' share of the busiest worker, how often a worker
    was left idle, the mean min/max ratio, and one trial's counts."""
    out = []
    for listeners, clients, trials in CASES:
        runs = [hash_trial(listeners, clients) for _ in range(2 if quick else trials)]
        if any(sum(r) != clients for r in runs):
            raise RuntimeError("reuseport hash: connections went missing")
        out.append(dict(workers=listeners, clients=clients, trials=len(runs),
                        idle=sum(1 for r in runs if min(r) == 0),
                        min_max=round(sum(min(r) / max(r) for r in runs) / len(runs), 2),
                        worst=max(max(r) for r in runs), one=runs[0]))
    return out
