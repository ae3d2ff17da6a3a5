/* window: the timetable of a single-threaded load run (--churn, --udp).
 *
 * The multi-threaded stream load keeps its own plan (load_worker.h); the churn
 * and datagram loads run in one thread with one epoll loop, and share this:
 * warm-up, measured window, a bounded drain, and SIGINT/SIGTERM taken through
 * a signalfd in that same epoll set, so a stop needs no handler and no global
 * flag, and a second Ctrl-C cannot kill the report.
 */
#ifndef ECHOLAB_CLIENT_WINDOW_H
#define ECHOLAB_CLIENT_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "load.h"

struct window {
	int64_t start_ns;
	int64_t measure_from_ns;  /* end of the warm-up */
	int64_t end_ns;           /* end of the measured window, or earlier when stopped */
	int64_t drain_until_ns;   /* set when the window closes */
	bool closed;              /* nothing new may start */
	int signal_fd;            /* readable when SIGINT or SIGTERM arrived */
};

/* Blocks SIGINT/SIGTERM, opens the signalfd and adds it to epfd (with a NULL
 * data pointer), and starts the clock. False after saying why on stderr. */
bool window_open(struct window *w, const struct load_opts *o, int epfd);
void window_close(struct window *w);

/* The signalfd was readable: the window ends now. */
void window_stop(struct window *w, int64_t now);
/* Closes the window when its time has come; true the first time it does. */
bool window_advance(struct window *w, int64_t now);
/* Whether an event at `now` counts. */
static inline bool window_counts(const struct window *w, int64_t now)
{
	return now >= w->measure_from_ns && now < w->end_ns;
}
/* How long epoll may sleep: until the next deadline, at most `cap_ms`. */
int window_wait_ms(const struct window *w, int64_t now, int cap_ms);
/* The seconds actually measured, the run having ended at `finished_ns`. */
double window_measured_s(const struct window *w, int64_t finished_ns);

#endif
