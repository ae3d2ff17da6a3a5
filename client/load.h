/* load: the load generator (--load).
 *
 * Opens every connection first, then runs the load for a warm-up that is not
 * counted and a measured window that is, then stops sending and waits (a
 * bounded time) for the echoes still in flight. Every echoed byte is checked.
 *
 *   closed loop (rate 0): each connection keeps `depth` messages in flight and
 *       sends a new one as soon as an echo completes; latency is from send to
 *       echo.
 *   open loop (rate N): message k of the run is due at start + k/N seconds,
 *       spread round robin over the connections, whatever the server does. A
 *       connection that already has `depth` messages in flight sends late, but
 *       latency still counts from when the message was due, so a server that
 *       stalls cannot hide the stall by slowing the client down (no
 *       "coordinated omission").
 *
 * The connections are shared out over `threads` threads, each with its own
 * epoll loop and latency histogram; nothing is shared while the load runs.
 *
 * This file's module is the main thread's part: it sets the run up (the
 * connections: connect.h; --hold: hold.h), starts the threads
 * (load_worker.h), supervises them and collects what they counted into one
 * load_result for the report (report.h). The map of client/ and its include
 * arrows, which run one way: docs/ARCHITECTURE.md.
 */
#ifndef ECHOLAB_CLIENT_LOAD_H
#define ECHOLAB_CLIENT_LOAD_H

#include "load_opts.h"

/* Runs the load and prints the report on stdout. Returns the exit status: 0,
 * or 1 after any error (connect failure, mismatch, unexpected close). */
int load_run(const char *host, const char *port, const struct load_opts *o);

#endif
