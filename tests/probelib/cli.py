"""cli: the probes' command lines, parsed by hand, and their overall deadline.

The bats suite starts tests/probe.py about a thousand times per make
test, so a start must cost little more than the interpreter's own: argparse
alone (with the modules it pulls in) cost more than everything else a probe
does. This parser knows just what the probes use, with argparse's rules:
global options before the command word, then the command's options and
positionals in any order (--name VALUE, --name=VALUE, or a unique prefix of
a name), and for the commands that run a program, its command line last
(after "--"). -h/--help prints the probe's description; bad usage exits 2
naming the problem.

Nothing here imports more than sys (preloaded): os, signal (which imports
enum) and the like are imported where a rare path needs them.
"""
import sys

FLAG = "flag"        # --name alone sets True
MANY = "many"        # --name VALUE, as often as given: a list
REQUIRED = object()   # as a default: the option must be given


class Namespace:
    """The parsed options, as attributes (dashes become underscores)."""

    def __init__(self, **values):
        self.__dict__.update(values)


class Command:
    """One subcommand. target: "module:function" run with the Namespace;
    positional: ((name, type), ...); options: {"--name": (kind, default)}
    where kind is int, float, str, FLAG, MANY or a tuple of the allowed words;
    rest: a command line follows (as the list `command`)."""

    def __init__(self, target, positional=(), options=None, rest=False):
        self.target = target
        self.positional = positional
        self.options = options or {}
        self.rest = rest


def dest(name):
    return name.lstrip("-").replace("-", "_")


class Parser:
    def __init__(self, prog, doc, common, commands):
        self.prog, self.doc, self.common, self.commands = prog, doc, common, commands

    def error(self, message):
        print("usage: %s [options] {%s} ...  (%s --help)\n%s: error: %s"
              % (self.prog, ",".join(self.commands), self.prog, self.prog, message),
              file=sys.stderr)
        sys.exit(2)

    def parse(self, argv):
        """(Namespace, Command) for argv, or exit 2 with the reason."""
        ns = Namespace()
        self.defaults(ns, self.common)
        i = 0
        while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
            i = self.take(argv, i, self.common, ns)
        if i == len(argv):
            self.error("a command is required: one of %s" % ", ".join(self.commands))
        ns.cmd = argv[i]
        cmd = self.commands.get(ns.cmd)
        if cmd is None:
            self.error("invalid command %r (choose from %s)" % (ns.cmd, ", ".join(self.commands)))
        self.defaults(ns, cmd.options)
        if cmd.rest:
            ns.command = []
        self.take_command(argv, i + 1, cmd, ns)
        missing = [name for name, (_, default) in cmd.options.items()
                   if getattr(ns, dest(name)) is REQUIRED]
        if missing:
            self.error("the following arguments are required: %s" % ", ".join(missing))
        return ns, cmd

    def take_command(self, argv, i, cmd, ns):
        """The command's own options, positionals and command line."""
        values = []
        while i < len(argv):
            a = argv[i]
            if a == "--" and cmd.rest and len(values) == len(cmd.positional):
                ns.command = argv[i + 1:]
                break
            if a.startswith("-") and len(a) > 1 and not looks_numeric(a):
                i = self.take(argv, i, cmd.options, ns)
            elif len(values) < len(cmd.positional):
                values.append(a)
                i += 1
            elif cmd.rest:
                ns.command = argv[i:]
                break
            else:
                self.error("unrecognized arguments: %s" % " ".join(argv[i:]))
        if len(values) < len(cmd.positional):
            self.error("the following arguments are required: %s"
                       % ", ".join(name for name, _ in cmd.positional[len(values):]))
        for (name, kind), text in zip(cmd.positional, values):
            setattr(ns, name, self.convert(name, kind, text))

    def take(self, argv, i, options, ns):
        """One option at argv[i] (and its value); returns the next index."""
        if argv[i] in ("-h", "--help"):
            print(self.doc.strip())
            sys.exit(0)
        name, eq, value = argv[i].partition("=")
        if name not in options:
            near = [o for o in options if o.startswith(name)]
            if len(near) != 1:
                self.error(("ambiguous option: %s could match %s" % (name, ", ".join(near)))
                           if near else "unrecognized arguments: %s" % argv[i])
            name = near[0]
        kind = options[name][0]
        if kind is FLAG:
            if eq:
                self.error("argument %s: ignored explicit argument %r" % (name, value))
            setattr(ns, dest(name), True)
            return i + 1
        if not eq:
            if i + 1 >= len(argv):
                self.error("argument %s: expected one argument" % name)
            i += 1
            value = argv[i]
        value = self.convert(name, str if kind is MANY else kind, value)
        if kind is MANY:
            getattr(ns, dest(name)).append(value)
        else:
            setattr(ns, dest(name), value)
        return i + 1

    def convert(self, name, kind, text):
        if isinstance(kind, tuple):
            if text not in kind:
                self.error("argument %s: invalid choice: %r (choose from %s)"
                           % (name, text, ", ".join(kind)))
            return text
        try:
            return kind(text)
        except ValueError:
            self.error("argument %s: invalid %s value: %r" % (name, kind.__name__, text))

    @staticmethod
    def defaults(ns, options):
        for name, (kind, default) in options.items():
            setattr(ns, dest(name), [] if kind is MANY else False if kind is FLAG else default)


def looks_numeric(word):
    """-1, -0.5: a value, not an option."""
    try:
        float(word)
        return True
    except ValueError:
        return False


def call(cmd, args):
    """Runs the command's function (imported now: only the command run pays
    for its modules) with the parsed arguments; returns its exit status."""
    module, function = cmd.target.split(":")
    return getattr(__import__(module, fromlist=[function]), function)(args)


def environ(name, default):
    """An environment variable, read without importing os."""
    import posix
    value = posix.environ.get(name.encode())
    return default if value is None else value.decode()


def arm_deadline(seconds, message, status=3):
    """After `seconds`, print `message` on stderr and exit `status` at once,
    whatever the probe is doing (a blocked thread included)."""
    import _signal  # the signal module would import enum: a tenth of a start

    def expired(signo, frame):
        print(message, file=sys.stderr, flush=True)
        import os
        os._exit(status)

    _signal.signal(_signal.SIGALRM, expired)
    _signal.alarm(int(seconds))
