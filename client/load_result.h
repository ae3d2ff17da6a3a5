/* load_result: what a load run measured, as reported (report.h), and the
 * errors every load mode counts on the way. */
#ifndef ECHOLAB_CLIENT_LOAD_RESULT_H
#define ECHOLAB_CLIENT_LOAD_RESULT_H

#include <stdint.h>

#include "histogram.h"

/* Errors as a run counts them: how many, and the text of the first (a run
 * can fail on thousands of connections; the first says why). */
struct load_errors {
	uint64_t count;
	char first[200];
};

/* Counts one error; only the first one's text is kept. */
void load_errors_add(struct load_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Adds another thread's errors: its count, and its first text if ours has none. */
void load_errors_merge(struct load_errors *into, const struct load_errors *from);

struct load_result {
	double duration_s;         /* the window actually measured (shorter if interrupted) */
	uint64_t messages;         /* echoes completed inside the window */
	uint64_t verified;         /* every echo completed and checked: warm-up,
	                              window and drain (what the server echoed) */
	struct histogram latency;  /* nanoseconds, for those echoes */
	uint64_t errors;
	char error_detail[256];    /* the first error, and how many more; "" if none */
	/* Open loop only (0 in closed loop; see schedule.h): */
	uint64_t scheduled;        /* messages the schedule made due in the window */
	int64_t behind_ns;         /* how far sending lagged the schedule at its end */
	uint64_t lost;             /* --udp: datagrams whose echo did not come in time */
	uint64_t late;             /* --udp: echoes that came after being counted lost */
};

/* Sets errors and error_detail from the errors counted, and makes a window in
 * which nothing completed an error of its own: whatever the reason, it must
 * not pass for a result. */
void load_result_errors(struct load_result *r, const struct load_errors *e);

#endif
