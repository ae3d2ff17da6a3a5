/* stats: the counters behind the shutdown summary.
 *
 * Counters are C11 atomics so the thread model can update them without a lock;
 * the fork model puts them in a MAP_SHARED page so children count into the same
 * place. Single-threaded models pay one uncontended atomic add per read.
 *
 * Models with a fixed set of workers (a pool of processes or threads, one
 * event loop per worker) also count the connections each worker served:
 *
 *     stats_track_workers(srv.stats, srv.opts.workers);  // once, before fork
 *     stats_worker_served(srv.stats, i);                 // worker i took one
 *     stats_worker_echoed(srv.stats, i, n);              // ... and echoed n messages
 *
 * Then the summary line ends in " spread=MIN/MAX" (the fewest and the most
 * connections any one worker served: how evenly the kernel, a lock or a queue
 * shared the work out) and stats_log_workers prints one line per worker,
 * "worker I: connections=N messages=M", which server_finish does under
 * --verbose: connections say how the clients were dealt, messages how the
 * work was (a few busy clients can load one worker with most of it).
 */
#ifndef ECHOLAB_STATS_H
#define ECHOLAB_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct echo_stats {
	atomic_ullong connections; /* connections served (refused ones not counted) */
	atomic_ullong refused;     /* connections turned away with "ERR server busy" */
	atomic_ullong messages;    /* complete messages echoed */
	atomic_ullong bytes;       /* bytes echoed, trailing partial messages included */
	atomic_uint open;          /* clients served now, every model (--max-clients: accept_admit) */
	bool shared;               /* MAP_SHARED: forked children count here too */
	unsigned workers;          /* 0 unless stats_track_workers was called */
	atomic_ullong *served_by;  /* [workers]: connections each worker served */
	atomic_ullong *echoed_by;  /* [workers]: messages each worker echoed */
};

struct echo_stats *stats_create(bool shared_with_children);
void stats_destroy(struct echo_stats *st);
void stats_add(atomic_ullong *counter, unsigned long long n);
/* Per-worker counts for workers 0..workers-1, in memory shared with children
 * when the stats are (so call it before forking). Exits 1 if out of memory. */
void stats_track_workers(struct echo_stats *st, unsigned workers);
/* Worker `worker` (0-based, below the tracked count) served one more connection. */
void stats_worker_served(struct echo_stats *st, unsigned worker);
/* Worker `worker` echoed n more messages (a connection's, when it closes). */
void stats_worker_echoed(struct echo_stats *st, unsigned worker, unsigned long long n);
/* One line per tracked worker on stderr: "worker I: connections=N messages=M". */
void stats_log_workers(const struct echo_stats *st);
/* Takes one of `max` places for a new connection, or returns false when all are
 * taken. Exact even when several loops admit at once (reuseport's workers):
 * the count never passes max, and a client is refused only when max
 * connections really were open at that moment. stats_release gives it back. */
bool stats_admit(struct echo_stats *st, unsigned max);
void stats_release(struct echo_stats *st);
/* One line on stderr: the counters, user and system CPU seconds of the
 * server and its reaped children (getrusage), the peak resident memory of
 * the server (its VmHWM) or of its largest reaped child, whichever is
 * larger, and spread=MIN/MAX when workers are tracked. */
void stats_print_summary(const struct echo_stats *st, const char *model);

#endif
