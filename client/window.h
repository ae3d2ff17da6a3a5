/* window: the timetable of one load loop: warm-up, measured window, a
 * bounded drain.
 *
 * Every load loop keeps one: each thread of the stream load (load_worker.c,
 * its times taken from the run's plan, a stop seen through the plan) and the
 * single-threaded churn and datagram loads (single_loop.h), which also take
 * SIGINT/SIGTERM through a signalfd in their epoll set (window_open), so a
 * stop needs no handler and no global flag, and a second Ctrl-C cannot kill
 * the report.
 */
#ifndef ECHOLAB_CLIENT_WINDOW_H
#define ECHOLAB_CLIENT_WINDOW_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "load_opts.h"

struct window {
	int64_t start_ns;
	int64_t measure_from_ns;  /* end of the warm-up */
	int64_t end_ns;           /* end of the measured window, or earlier when stopped */
	int64_t drain_until_ns;   /* set when the window closes */
	bool closed;              /* nothing new may start */
	int signal_fd;            /* readable when SIGINT or SIGTERM arrived */
};

/* Blocks SIGINT and SIGTERM in the calling thread (and in the threads it
 * starts afterwards) and fills *set with them: a stop is then taken with a
 * signalfd or sigtimedwait, with no handler and no global flag, and they stay
 * blocked, so a second Ctrl-C cannot kill the report. False after saying why. */
bool window_block_stop_signals(sigset_t *set);

/* Blocks SIGINT/SIGTERM (window_block_stop_signals), opens the signalfd and adds it to epfd (with a NULL
 * data pointer), and starts the clock. False after saying why on stderr. */
bool window_open(struct window *w, const struct load_opts *o, int epfd);
void window_close(struct window *w);

/* The signalfd was readable: the window ends now. */
void window_stop(struct window *w, int64_t now);
/* The window ends at `at` if that is sooner than planned (a stop). */
void window_end_at(struct window *w, int64_t at);
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
