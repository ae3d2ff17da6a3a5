"""card: the report card. run_cards runs the cases in order against one
server and notices a crash; verdict says whether the profile holds;
render writes the table for a terminal, as_json what a grader reads."""
import signal
import textwrap

from checklib.cases import CASES, run_case

MARK = {"pass": "\u2713", "fail": "\u2717", "not offered": "\u00b7", "not run": "-"}
SECTION = {"core": "core: what every line-echo server must do",
           "extra": "extras: what echolab's servers add"}
NOT_ASKED = "not asked for (--cases)"
CASE_LIMIT = 120     # seconds any one case may take, whatever it waits for


class CaseTimedOut(Exception):
    pass


def _expired(signum, frame):
    raise CaseTimedOut()


def run_cards(target, ctx, only):
    """Every case in turn; returns (results, crash). After a crash (the
    server's process ended, or an address stopped answering) the case it
    happened in fails and every later one is "not run"."""
    results, crash = [], None
    previous = signal.signal(signal.SIGALRM, _expired)
    try:
        for c in CASES:
            if only and c.id not in only:
                results.append(dict(id=c.id, title=c.title, profile=c.profile, status="not run",
                                    reason=NOT_ASKED))
                continue
            if crash:
                results.append(dict(id=c.id, title=c.title, profile=c.profile, status="not run",
                                    reason="the server crashed during %s" % crash["during"]))
                continue
            signal.alarm(CASE_LIMIT)
            try:
                r = run_case(c, ctx)
            except CaseTimedOut:
                r = dict(id=c.id, title=c.title, profile=c.profile, status="fail",
                         sent=c.sent, expected=c.expected, hint=c.hint,
                         got="no result within %d s" % CASE_LIMIT)
            finally:
                signal.alarm(0)
            if r["status"] == "fail":
                # a crash resets the connection a moment before the process
                # is gone: give it that moment, so the case it happened in
                # is the one blamed
                target.settle()
            if not getattr(ctx, "stopped", None) and not target.alive():
                crash = dict(target.ended(), during=c.id)
                r.update(status="fail", sent=r.get("sent", c.sent),
                         expected=r.get("expected", c.expected), hint=c.hint,
                         got="the server died during this case: %s%s" % (
                             crash["how"], (" (%s)" % r["got"]) if r.get("got") else ""))
            results.append(r)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return results, crash


def counted(r, profile):
    return r["profile"] == "core" or profile == "full"


def verdict(results, profile, crash):
    """(holds, the cases that break it). A guarantee the server declares it
    does not give (promises.py) breaks nothing: what it does promise instead
    was checked in its place."""
    broken = [r for r in results if counted(r, profile) and (
        r["status"] == "fail" or r["status"] == "not offered" and not r.get("declared"))]
    return not broken and not crash, broken


def render(what, profile, declared, results, crash, stop, holds, broken, width=100):
    out = ["echo-check: %s, PROFILE=%s%s" % (what, profile,
                                            ", declared: " + declared if declared else ""), ""]
    for section in ("core", "extra"):
        head = SECTION[section]
        if section == "extra" and profile == "core":
            head += " (not counted under PROFILE=core)"
        out.append(head)
        for r in results:
            if r["profile"] == section:
                out.extend(render_case(r, width))
        out.append("")
    if crash:
        out.append("the server crashed during %s: %s" % (crash["during"], crash["how"]))
        for line in crash.get("stderr_tail") or ["(nothing on stderr)"]:
            out.append("    stderr: %s" % line)
    if stop:
        out.extend(render_stop(stop))
    ran = [r for r in results if counted(r, profile) and r["status"] != "not run"
           and not r.get("declared")]
    if holds:
        out.append("PROFILE=%s holds: %d of %d guarantees \u2713%s%s" % (
            profile, len(ran), len(ran), declared_note(results, profile),
            not_run_note(results, profile)))
    else:
        out.append("PROFILE=%s does not hold: %s" % (profile, ", ".join(
            "%s %s" % (r["id"], "\u2717" if r["status"] == "fail" else "not offered")
            for r in broken) or "the server crashed"))
    return "\n".join(out) + "\n"


def declared_note(results, profile):
    n = sum(1 for r in results if counted(r, profile) and r.get("declared"))
    return ", %d not offered as declared" % n if n else ""


def not_run_note(results, profile):
    n = sum(1 for r in results if counted(r, profile) and r["status"] == "not run"
            and r.get("reason") != NOT_ASKED)
    return " (%d not run)" % n if n else ""


def render_case(r, width):
    line = "  %s %-14s %s" % (MARK[r["status"]], r["id"], r["title"])
    if "seconds" in r and r["status"] in ("pass", "fail"):
        line += "  (%.1f s)" % r["seconds"]
    if r.get("reason") == NOT_ASKED:
        return [line + "  (not asked for)"]
    lines = [line]
    detail = []
    if r["status"] == "fail":
        detail = [("sent", r["sent"]), ("expected", r["expected"]), ("came back", r["got"]),
                  ("hint", r["hint"])]
    elif r.get("reason"):
        detail = [(r["status"], r["reason"])]
    elif r.get("note"):
        detail = [("note", r["note"])]
    for label, text in detail:
        lines.extend(textwrap.wrap(str(text), width, initial_indent="      %-14s" % (label + ":"),
                                   subsequent_indent=" " * 20) or [""])
    return lines


def render_stop(stop):
    lines = []
    if stop["killed"]:
        lines.append("stopping: the server ignored SIGTERM; killed with SIGKILL after %.1f s"
                     % stop["seconds"])
    if stop["left"]:
        lines.append("stopping: processes left in its group: %s" % stop["left"])
    if not stop["port_freed"]:
        lines.append("stopping: something still listens on its port (a process that left "
                     "its process group?)")
    return lines + ([""] if lines else [])


def as_json(what, profile, declared, results, crash, stop, holds, broken, status):
    return dict(checker="echo-check", server=what, profile=profile, declared=declared,
                verdict="holds" if holds else "does not hold", exit=status,
                broken=[r["id"] for r in broken], cases=results,
                crash=crash, stop=None if not stop else {k: v for k, v in stop.items()
                                                          if k != "stderr"})
