/* single_loop: what the single-threaded load modes share (--churn, --udp).
 *
 * Both run one thread and one epoll loop over `connections` loops or
 * sockets, one message in flight each, and differ only in what a loop does.
 * The frame around that is here, once: the messages (payload.h), the result
 * and the errors counted, the epoll set with the stop signal in it, the
 * window (window.h), the loop that waits and dispatches, and the report.
 *
 * A mode embeds a struct single_loop, opens it, sets up its sockets in
 * s->epfd (with a non-NULL data pointer: NULL is the stop signal), and calls
 * single_loop_run with its callbacks.
 */
#ifndef ECHOLAB_CLIENT_SINGLE_LOOP_H
#define ECHOLAB_CLIENT_SINGLE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "load_opts.h"
#include "load_result.h"
#include "payload.h"
#include "window.h"

struct single_loop {
	const struct load_opts *o;
	struct payload payload;
	struct load_result *result;
	struct load_errors errors;
	int epfd;
	struct window win;
};

/* What the mode does in the loop. */
struct single_loop_mode {
	void *ctx;            /* passed back to each callback */
	int max_wait_ms;      /* longest sleep in one wait */
	/* Once the window is open: starts loop or socket i (of o->connections). */
	void (*start)(void *ctx, unsigned long i, int64_t now);
	/* After the window moved on to `now`: false ends the run. */
	bool (*go_on)(void *ctx, int64_t now);
	/* epoll reported `events` for the socket whose data pointer is `ptr`. */
	void (*on_event)(void *ctx, void *ptr, uint32_t events);
	/* May be NULL: at the end, counts what never finished as errors. */
	void (*at_end)(void *ctx);
};

/* The messages (of o->size bytes; `unit` names them in the out-of-memory
 * message), the result and the epoll set. False after saying why on stderr;
 * single_loop_close is needed either way. */
bool single_loop_open(struct single_loop *s, const struct load_opts *o, const char *unit);

/* Starts the window, runs warm-up, window and drain, and prints the report.
 * Returns the exit status: 0, or 1 after any error. */
int single_loop_run(struct single_loop *s, const struct single_loop_mode *mode);

void single_loop_close(struct single_loop *s);

#endif
