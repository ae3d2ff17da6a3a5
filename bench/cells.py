"""cells: what make bench measures: the matrix of cells, the run lengths, the
targets, the models of models/models.list and which cell each can take."""
import os
import resource

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
BASELINE = "baseline"
MAX_CLIENTS = 20000          # passed to every model: fork/threads at 1,000 need >= 1000
MAX_LINE_BIG = 65536         # --max-line for the 64 KiB cell (a message is 65536 bytes, LF included)

# The idle-connection cells' open-loop rate, in messages/s over their 10 active
# connections: low enough that every model stays well below saturation. The
# best models spend ~10-20 µs a message here (0.02-0.04 of a core), and even
# poll beside 10,000 idle connections (~20 times that) needs under half a
# core, so what grows is the cost of each message, not a queue: a server
# that falls behind finds many connections ready per wake-up and spreads its
# scan over them, which would hide the very growth the cells are for.
IDLE_RATE = 2000

# The matrix. id: stable key for files; label: what the tables show.
# datagram: the cell also measures the datagram models (echo-client --udp:
# round trips of one datagram per socket); churn: a new connection per message
# (echo-client --churn: connect, one message, its echo, close, in 10 loops).
CELLS = [
    dict(id="c1", label="1c 64B", conns=1, size=64, depth=1, datagram=True),
    dict(id="c10", label="10c 64B", conns=10, size=64, depth=1, datagram=True),
    dict(id="c100", label="100c 64B", conns=100, size=64, depth=1),
    dict(id="c1000", label="1000c 64B", conns=1000, size=64, depth=1),
    dict(id="d16", label="10c 64B d16", conns=10, size=64, depth=16),
    dict(id="k64", label="1c 64KiB", conns=1, size=65536, depth=1),
    # Pipelined long messages: where a model's buffering shows (a copy, a
    # reallocation, a stopped read per message). 1 s measured: in 0.4 s the
    # same server's runs spread by half on two cores, every model's alike.
    dict(id="k64d2", label="1c 64KiB d2", conns=1, size=65536, depth=2,
         max_duration=1.0, max_warmup=0.2),
    dict(id="k64d8", label="1c 64KiB d8", conns=1, size=65536, depth=8,
         max_duration=1.0, max_warmup=0.2),
    # Trimmed to fit make bench in 5 minutes: at most 0.5 s measured after at
    # most 0.2 s of warm-up (fork completes ~1,000-2,000 connections in that).
    dict(id="churn", label="churn 10c", conns=10, size=64, depth=1, churn=True,
         max_duration=0.5, max_warmup=0.2),
    # Isolation (bench/neighbours.py): light clients' latency alone, then
    # beside heavy senders on the same server. 2 s measured: the p99 of the
    # light clients' 1,000 messages in 0.5 s is their tenth-worst, and
    # varied tenfold between runs of one server.
    dict(id="noisy", label="noisy neighbours", conns=52, size=64, depth=1, neighbours=True,
         max_duration=2.0, max_warmup=0.2),
    # How the work is shared among worker loops (bench/skew.py): a few heavy
    # clients among many light ones, a fresh server per trial.
    dict(id="skew", label="skewed 2w", conns=22, size=64, depth=1, skew=True,
         max_duration=0.5, max_warmup=0.2),
] + [
    # The C10K curve (bench/idle.py): 10 connections in open loop at
    # IDLE_RATE beside N idle ones (echo-client --hold N). quick=False: not in
    # make bench QUICK=1.
    dict(id=f"idle{tag}", label=f"10c +{tag} idle", conns=10, size=64, depth=1, hold=n,
         rate=IDLE_RATE, idle=True, quick=n <= 1000)
    for tag, n in (("0", 0), ("1k", 1000), ("10k", 10000))
]
# The scale mode (make bench SCALE=max): as many idle connections as one
# process may open here beside the 10 active ones (bench/idle.py: hold=None
# is the hard descriptor limit less IDLE_SPARE_FDS), for these models.
SCALE_CELL = dict(id="idlemax", label="10c +max idle", conns=10, size=64, depth=1, hold=None,
                  rate=IDLE_RATE, idle=True, scale=True)
SCALE_MODELS = ["epoll", "uring", "libev", "libuv", "libevent", "reuseport", "coro"]
# The noisy-neighbours cell: 50 light clients in open loop at 2,000 messages/s
# in total (a light load any model carries), then the same beside 2
# connections pipelining 64 KiB messages 16 deep as fast as the server goes.
NEIGHBOURS = dict(light=dict(conns=50, size=64, depth=1, rate=2000),
                  heavy=dict(conns=2, size=65536, depth=16))
# The skewed-load cell: 2 heavy clients pipelining 64-byte messages as fast
# as the server echoes, then 20 light ones at 1,000 messages/s in total, on a
# server of 2 worker loops; trials: fresh servers (deals) per model.
SKEW = dict(workers=2, trials=5, trials_quick=2,
            heavy=dict(conns=2, size=64, depth=16), light=dict(conns=20, size=64, depth=1, rate=1000))
PLOT_CELLS = ["c1", "c10", "c100", "c1000"]   # 64-byte ping-pong against connections

# Performance targets (issue 8), checked in the same run and shown in the
# "Targets" table: model's figure / against's figure, cell by cell. A target
# is a benchmark result, never a test: a missed one is reported, not failed.
TARGETS = [
    # The C10K curve: against the same model's figure in another cell.
    *[dict(model=m, against=m, against_cell="idle0", fig="cpu_us_per_msg", at_most=1.2,
           cells=["idle10k", "idlemax"],
           what=f"{m} CPU per message beside the idle connections at most 1.2 of its own "
                "with none")
      for m in ("epoll", "uring", "libev", "libevent")],
    dict(model="reuseport", against="epoll", fig="msgs_per_sec", at_least=0.95,
         cells=["c1", "c10", "c100", "c1000", "d16", "k64"],
         what="reuseport messages/s at least 0.95 of epoll's"),
    dict(model="libuv", against="epoll", fig="msgs_per_sec", at_least=0.9,
         cells=["c10", "c100", "c1000"],
         what="libuv messages/s at least 0.9 of epoll's"),
    dict(model="libevent", against="epoll", fig="msgs_per_sec", at_least=0.9,
         cells=["c10", "c100", "c1000"],
         what="libevent messages/s at least 0.9 of epoll's"),
    dict(model="uring", against="epoll", fig="msgs_per_sec", at_least=0.9,
         cells=["k64", "k64d2", "k64d8"],
         what="uring messages/s at least 0.9 of epoll's"),
    dict(model="uring", against="epoll", fig="light_p99_us", at_most=1.5, cells=["noisy"],
         what="uring light clients' p99 beside heavy ones at most 1.5 of epoll's"),
    dict(model="coro", against="epoll", fig="cpu_us_per_msg", at_most=1.25, cells=["c100"],
         what="coro CPU per message at most 1.25 of epoll's"),
]

# The 10,000-connection memory check: open loop at a low total rate, so every
# connection carries a message or two (its buffers exist) while the server is
# nowhere near busy; the figure is the summary's maxrss_kb.
MEM_CONNS = 10000
MEM_RATE = 10000
MEM_SERVERS_DEFAULT = [BASELINE, "epoll", "libev", "libuv", "libevent", "poll", "threads", "coro", "reuseport", "uring"]
MEM_SERVERS_QUICK = [BASELINE, "epoll", "libev", "libuv", "libevent", "reuseport", "uring", "coro"]
MEM_TARGET_KB = 16 * 1024
MEM_CELL = dict(id="mem10k", label=f"{MEM_CONNS // 1000}k conns @{MEM_RATE}/s",
                conns=MEM_CONNS, size=64, depth=1)

MODES = {
    # runs, measured seconds per run, warm-up seconds of a server's first run
    # and of its later ones (by then the process is warm; only the new
    # connections are not), seconds of the 10,000-connection check. Trimmed
    # from 1 s runs (0.5 s / 0.3 s warm-ups) when the matrix grew to 13
    # servers (6 min): make bench in under 5, at the price of more spread.
    # idle_duration: the idle-connection cells' measured seconds (at 2,000
    # messages/s a short run has too few messages for a CPU figure).
    "default": dict(runs=3, duration=0.5, warmup=0.4, rewarmup=0.2, mem_duration=1.0,
                    mem_warmup=0.5, idle_duration=1.0),
    "quick": dict(runs=1, duration=0.3, warmup=0.15, rewarmup=0.15, mem_duration=0.5,
                  mem_warmup=0.3, idle_duration=0.5),
}

# A pool serves at most --workers clients at once and a cell's clients never
# leave, so a pool gets a worker per connection (at least its default 16):
# what a pool must be sized to for that load. Past a few hundred workers a
# pool is the wrong design (and thousands of forks at start-up would eat the
# cell's time), so bigger cells are n/a for pools.
POOL_MAX_WORKERS = 256


def read_models():
    """models/models.list as [{name, serves}], in its order."""
    models = []
    with open(os.path.join(ROOT, "models/models.list")) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if line:
                models.append(dict(name=line[0], serves=line[1] if len(line) > 1 else "concurrent"))
    return models


def is_datagram(model):
    return model is not None and model.get("serves") == "datagram"


def not_applicable(model, cell):
    """The reason a model (None: the baseline) cannot take a cell, or None."""
    conns = cell["conns"] + (cell.get("hold") or 0)
    if cell.get("skew") and (model is None or model.get("serves") != "concurrent"
                             or "--workers" not in model.get("args", ())):
        return "no worker loops to share the work among"
    if model is None:
        return descriptors_short(conns)
    if is_datagram(model) and cell.get("churn"):
        return "UDP has no connections to open and close"
    if is_datagram(model) and not cell.get("datagram"):
        return "a datagram server: measured in the 64-byte round-trip cells only"
    if model.get("serves") == "serial" and conns > 1 and not cell.get("churn"):
        return "serves one client at a time"
    if model.get("serves") == "pool" and conns > POOL_MAX_WORKERS:
        return (f"a pool serves --workers clients at once; {conns} held open would "
                f"need {conns} workers (the bench sizes pools up to {POOL_MAX_WORKERS})")
    return descriptors_short(conns)


def pool_workers(model, cell):
    """The --workers to start a pool with for this cell; None for other models."""
    if model and model.get("serves") == "pool":
        return max(16, cell["conns"] + (cell.get("hold") or 0))
    return None


def descriptors_short(conns):
    """Why this machine cannot open `conns` connections in one process, or
    None. Client and server each raise their soft limit to the hard one, and
    the client wants 64 spare descriptors besides its connections."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    need = conns + 64
    if hard != resource.RLIM_INFINITY and hard < need:
        return f"descriptor limit (ulimit -Hn) {hard} is below the {need} this needs"
    return None


def duration_of(mode, cell):
    if cell.get("idle"):
        return mode.get("idle_duration", mode["duration"])
    return min(mode["duration"], cell.get("max_duration", mode["duration"]))


def warmup_of(mode, run, cell=None):
    w = mode["warmup"] if run == 0 else mode["rewarmup"]
    return min(w, cell.get("max_warmup", w)) if cell else w


def expected_run_s(cell, mode, run):
    if cell.get("skew"):   # its trials, spread over the mode's runs
        trials = SKEW["trials_quick" if mode.get("name") == "quick" else "trials"]
        return trials * (warmup_of(mode, 0, cell) + duration_of(mode, cell) + 0.5) / mode["runs"]
    one = (warmup_of(mode, run, cell) + duration_of(mode, cell) + 0.05 + cell["conns"] * 0.0005
           + (cell.get("hold") or 0) * 0.0003)  # held: opened, answered, closed
    return 2 * one if cell.get("neighbours") else one  # alone, then beside


def expected_memory_s(mode):
    return mode["mem_warmup"] + mode["mem_duration"] + 2
