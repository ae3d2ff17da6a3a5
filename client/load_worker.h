/* load_worker: one load thread: its connections (load_conn.h), its epoll
 * loop, its share of the open-loop schedule (schedule.h), and the drain.
 *
 * The main thread (load.c) connects everything, fills in a load_worker per
 * thread and starts load_worker_main on each. A worker touches nothing but its
 * own struct and the read-only plan until it finishes; the main thread reads
 * only the atomics while it runs, and the rest after joining it.
 */
#ifndef ECHOLAB_CLIENT_LOAD_WORKER_H
#define ECHOLAB_CLIENT_LOAD_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "load_conn.h"
#include "load_opts.h"
#include "payload.h"

/* The run's timetable and content, shared read-only by every worker. */
struct load_plan {
	const struct load_opts *opts;
	const struct payload *payload;
	int64_t start_ns;         /* origin of the open-loop schedule */
	int64_t measure_from_ns;  /* end of the warm-up */
	int64_t measure_until_ns; /* end of the measured window */
	atomic_llong stop_ns;     /* earlier end on SIGINT/SIGTERM; INT64_MAX if none */
};

struct load_worker {
	/* Set by the main thread before the start. */
	const struct load_plan *plan;
	unsigned index;     /* this worker's connections are index, index + threads, ... */
	int *fds;           /* connected non-blocking sockets; the worker closes them */
	size_t count;

	/* Written by the worker; read by the main thread after joining. */
	struct load_tally tally;
	int64_t behind_ns;        /* open loop: how far sending lagged the schedule at the end */

	/* Read by the main thread while the worker runs (progress line, end). */
	atomic_ullong completed;  /* echoes completed so far, warm-up included */
	atomic_bool finished;
};

/* pthread entry point; the argument is a struct load_worker. */
void *load_worker_main(void *worker);

#endif
