#!/usr/bin/env python3
"""probe: the socket driver behind the echolab tests; `probe.py --help` lists
its commands. It is all in tests/probelib/, main.py first: the probe starts
about a thousand times a run, and the modules' bytecode is cached where this
script's would not be."""

import sys

# The suite may run with PYTHONDONTWRITEBYTECODE set; then every start would
# compile probelib anew, which costs more than the rest of a start. Its
# cached bytecode goes to tests/probelib/__pycache__ (ignored by git).
sys.dont_write_bytecode = False

from probelib.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
