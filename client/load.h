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
 */
#ifndef ECHOLAB_CLIENT_LOAD_H
#define ECHOLAB_CLIENT_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"

struct load_opts {
	unsigned long connections;
	size_t size;           /* bytes per message, LF included */
	unsigned depth;        /* messages in flight per connection */
	double duration_s;     /* the measured window */
	double warmup_s;       /* load before the window, not counted */
	unsigned long rate;    /* messages per second in total; 0: closed loop */
	unsigned threads;
	unsigned long hold;    /* idle connections held open beside the load (hold.h) */
	bool json;
	bool churn;            /* a new connection per message (churn.h) */
	bool udp;              /* datagram round trips (udp_load.h) */
};

#define LOAD_DEFAULT_CONNECTIONS 10
#define LOAD_DEFAULT_SIZE 64
#define LOAD_DEFAULT_DEPTH 1
#define LOAD_DEFAULT_DURATION 5.0
#define LOAD_DEFAULT_WARMUP 1.0
#define LOAD_DEFAULT_THREADS 1

/* What a run measured, as reported. */
struct load_result {
	double duration_s;         /* the window actually measured (shorter if interrupted) */
	uint64_t messages;         /* echoes completed inside the window */
	uint64_t verified;         /* every echo completed and checked: warm-up,
	                              window and drain (what the server echoed) */
	struct histogram latency;  /* nanoseconds, for those echoes */
	uint64_t errors;
	char error_detail[256];    /* the first error, and how many more; "" if none */
	/* Open loop only (0 in closed loop): */
	uint64_t scheduled;        /* messages the schedule made due in the window */
	int64_t behind_ns;         /* how far sending lagged the schedule at its end */
	uint64_t lost;             /* --udp: datagrams whose echo did not come in time */
	uint64_t late;             /* --udp: echoes that came after being counted lost */
};

/* The open-loop schedule counts as kept when the echoes completed in the
 * window are at least this share of the messages it made due there. Below
 * it the rate measured is what the client and server managed together, not
 * the rate asked, and the report says so. */
#define LOAD_SCHEDULE_KEPT_SHARE 0.9

/* Sets errors and error_detail from a count and the first error's text, and
 * makes a window in which nothing completed an error of its own: whatever the
 * reason, it must not pass for a result. */
void load_result_errors(struct load_result *r, uint64_t errors, const char *first);

/* Runs the load and prints the report on stdout. Returns the exit status: 0,
 * or 1 after any error (connect failure, mismatch, unexpected close). */
int load_run(const char *host, const char *port, const struct load_opts *o);

#endif
