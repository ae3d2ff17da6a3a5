"""noise: which figures of make bench can be trusted on a shared machine.

A cell is noisy when its runs disagree, or when other processes used our
CPUs while it ran:
  - a server's runs spread by more than +-25 % around their median (max - min
    over the median above NOISY_SPREAD) in the cell's own figure: messages/s
    for the closed-loop cells, CPU per message for the open-loop idle cells
    (their messages/s is the fixed rate);
  - other processes used more than NOISY_OTHERS_CORES cores' worth of our
    CPUs over the cell (measure.Interference): every server of it;
  - an idle cell's sampler missed the window of one of its runs (idle.py).
mark() flags such entries ("noisy": true, "noisy_reason": why) in
results.json, render.py marks their figures with NOISY_MARK in the tables and
plots, and the docs renderer never quotes them.

busy_now() is the look at the machine before make bench starts: the load
average and the CPU other processes use over a short sample.
"""
import os
import time

# (max - min) / median of a cell's runs: +-25 %. This machine's absolute
# figures swing by up to a third from run to run with nothing else running
# (a full make bench on an idle machine: half of the cells spread more than
# +-12 %, a tenth more than +-35 %); +-10 % left half of them unquotable.
NOISY_SPREAD = 0.50
NOISY_OTHERS_CORES = 0.2
NOISY_MARK = "~"
NOTE = (f"{NOISY_MARK}: noisy, not to be quoted: the runs spread by more than "
        f"±{NOISY_SPREAD * 50:.0f} % or other processes used more than "
        f"{NOISY_OTHERS_CORES} cores of our CPUs meanwhile (results.json says which).")


def spread_of(e, fig):
    """(max - min) / median of the runs' values of a figure, or None."""
    key = {"msgs_per_sec": "spread", "cpu_us_per_msg": "cpu_spread"}.get(fig, f"{fig}_spread")
    return e.get(key)


def own_figure(e):
    """The figure whose spread says whether the entry's runs agree."""
    return "cpu_us_per_msg" if e.get("hold") is not None else "msgs_per_sec"


def mark(entries):
    """Flags the noisy entries of one cell (see the module's docstring)."""
    for e in entries:
        if e["status"] != "ok":
            continue
        why = []
        s = spread_of(e, own_figure(e))
        if s is not None and s > NOISY_SPREAD:
            name = "CPU per message" if own_figure(e) == "cpu_us_per_msg" else "messages/s"
            why.append(f"its runs' {name} spread ±{s * 50:.0f} %")
        if e.get("sample_missed"):
            why.append(f"{e['sample_missed']} of its runs' windows missed by the sampler")
        busy = (e.get("interference") or {}).get("others_cores")
        if busy is not None and busy > NOISY_OTHERS_CORES:
            why.append(f"other processes used {busy:.2f} cores of our CPUs")
        if why:
            e["noisy"] = True
            e["noisy_reason"] = "; ".join(why)


def busy_now(cpus, seconds=1.0):
    """(load average 1 min, cores' worth of CPU other processes used on
    `cpus` over `seconds`), the second None if /proc/stat cannot say."""
    from measure import Interference  # measure imports this module
    probe = Interference(cpus)
    time.sleep(seconds)
    r = probe.result()
    return os.getloadavg()[0], (r["others_cores"] if r else None)


def busy_warning(cpus):
    """The line make bench starts with when the machine is busy, or None."""
    load, others = busy_now(cpus)
    ncpu = len(os.sched_getaffinity(0))
    if (others is None or others <= NOISY_OTHERS_CORES) and load <= ncpu:
        return None
    return (f"bench: the machine is busy before we start: load average {load:.1f} on {ncpu} "
            f"CPUs, other processes using {'?' if others is None else f'{others:.2f}'} cores "
            f"of ours over a 1 s sample; cells with more than {NOISY_OTHERS_CORES} cores of "
            f"others' CPU will be marked noisy ({NOISY_MARK})")
