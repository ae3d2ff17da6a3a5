"""probelib: the modules of the Python test tools (standard library only).

tests/probe.py runs main (the commands, parsed by cli). Its stream
commands: harness (connections, bounded waits), oracle (the protocol
written down independently), transcript with steps_flow and steps_crowd
(the script steps), commands, terminal (pty). Its scale commands:
scale_driver (the epoll loop), scale_load, scale_refuse, scale_push,
scale_slowloris. Its datagram commands: udp. Shared with tests/soak.py,
bench/, docs/tour/models_table.py and the checker (check/): procfs
(everything read from /proc), summary (a server's summary line read
back).

A probe start imports only its command's modules, and none that the
standard library's heavier ones (socket, signal, argparse, threading,
subprocess) would pull in unless that command needs them: the suite starts
the probes about a thousand times.
"""
