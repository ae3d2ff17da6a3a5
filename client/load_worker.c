/* load_worker: see load_worker.h.
 *
 * Sockets are registered once, edge-triggered, for input and output: no
 * epoll_ctl while running. The timer of the open-loop schedule is in the same
 * epoll set, so one wait serves echoes, sending room and due messages alike.
 */
#include "load_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "schedule.h"
#include "window.h"

#define MAX_EVENTS 512
/* Longest sleep, so a stop requested by the main thread is seen promptly. */
#define MAX_WAIT_MS 100

struct load_loop {
	struct load_worker *w;
	const struct load_plan *plan;
	struct load_conns conns;
	struct window window;      /* warm-up, window (ended early by plan->stop_ns), drain */
	int epoll_fd;
	/* Open loop only: */
	bool open_loop;
	struct schedule schedule;
	struct load_conn **dirty;  /* connections given messages since the last send */
	size_t dirty_count;
};

static void record_error(struct load_loop *l, const char *what)
{
	load_errors_add(&l->w->tally.errors, "%s: %s", what, error_text(errno));
}

/* ---- the open-loop schedule -------------------------------------------- */

/* Gives a connection `due` messages in all, and marks it to be sent to. */
static void release_to(struct load_loop *l, struct load_conn *c, uint64_t due)
{
	if (c->fd < 0 || due <= c->released)
		return;
	c->released = due;
	if (!c->dirty) {
		c->dirty = true;
		l->dirty[l->dirty_count++] = c;
	}
}

/* Releases every message whose time has come, then sends them: one write per
 * connection however many became due since the last wake-up, and O(1) per
 * connection however many that is (schedule_catch_up). */
static bool release_due(struct load_loop *l, int64_t now)
{
	struct load_conns *cs = &l->conns;
	if (schedule_catch_up(&l->schedule, now))
		for (size_t i = 0; i < cs->count; i++)
			release_to(l, &cs->list[i], schedule_due_by(&l->schedule, cs->list[i].id, now));
	size_t local;
	while (schedule_take_due(&l->schedule, now, &local))
		release_to(l, &cs->list[local], cs->list[local].released + 1);
	for (size_t i = 0; i < l->dirty_count; i++) {
		struct load_conn *c = l->dirty[i];
		c->dirty = false;
		if (c->fd >= 0)
			load_conn_flush(cs, c, now);
	}
	l->dirty_count = 0;
	if (schedule_arm(&l->schedule, now))
		return true;
	record_error(l, "timerfd_settime");
	return false;
}

/* Open loop, at the end of the window: how long the oldest message due by
 * then has been waiting to be written (its due time to the window's end).
 * Near zero when the schedule was kept; large when the client could not
 * wake often enough, or the server held `depth` echoes so long that the
 * connection could not send. */
static int64_t behind_schedule(const struct load_loop *l)
{
	int64_t worst = 0;
	if (!l->open_loop)
		return 0;
	for (size_t i = 0; i < l->conns.count; i++) {
		const struct load_conn *c = &l->conns.list[i];
		int64_t late = c->fd < 0 ? 0 : schedule_lateness(&l->schedule, c->id, c->tx_seq,
		                                                  l->window.end_ns);
		if (late > worst)
			worst = late;
	}
	return worst;
}

/* ---- the loop ----------------------------------------------------------- */

/* The window is over: nothing new is released, what was stamped is awaited. */
static void begin_drain(struct load_loop *l)
{
	l->w->behind_ns = behind_schedule(l);
	for (size_t i = 0; i < l->conns.count; i++)
		l->conns.list[i].released = l->conns.list[i].stamped;
}

static bool anything_in_flight(const struct load_loop *l)
{
	for (size_t i = 0; i < l->conns.count; i++)
		if (load_conn_waiting(&l->conns.list[i]))
			return true;
	return false;
}

/* Moves the run on to `now`: closes the window when its time has come (or a
 * stop was asked for) and, in open loop, sends what has fallen due. False once
 * the run is over: the echoes in flight are back, or the drain time is up. */
static bool advance(struct load_loop *l, int64_t now)
{
	window_end_at(&l->window, atomic_load_explicit(&l->plan->stop_ns, memory_order_relaxed));
	if (window_advance(&l->window, now))
		begin_drain(l);
	if (l->conns.open_count == 0)
		return false; /* every connection failed: nothing left to measure */
	if (l->window.closed)
		return now < l->window.drain_until_ns && anything_in_flight(l);
	return !l->open_loop || release_due(l, now);
}

static void run(struct load_loop *l)
{
	struct epoll_event events[MAX_EVENTS];
	int64_t now = clock_now_ns();
	if (!l->open_loop)
		for (size_t i = 0; i < l->conns.count; i++)
			load_conn_flush(&l->conns, &l->conns.list[i], now);
	while (advance(l, now)) {
		int n = epoll_wait(l->epoll_fd, events, MAX_EVENTS,
		                   window_wait_ms(&l->window, now, MAX_WAIT_MS));
		if (n < 0 && errno != EINTR) {
			record_error(l, "epoll_wait");
			return;
		}
		for (int i = 0; i < n; i++) {
			struct load_conn *c = events[i].data.ptr;
			/* The timer only wakes us; advance() sends what is due. */
			if (c && c->fd >= 0)
				load_conn_on_event(&l->conns, c, events[i].events);
		}
		/* For the progress line: one store per wake-up, not per echo. */
		atomic_store_explicit(&l->w->completed, l->w->tally.completed, memory_order_relaxed);
		now = clock_now_ns();
	}
}

/* Echoes that never came back are errors: the server lost or withheld them. */
static void count_missing(struct load_loop *l)
{
	for (size_t i = 0; i < l->conns.count; i++) {
		struct load_conn *c = &l->conns.list[i];
		if (!load_conn_waiting(c))
			continue;
		char why[120];
		uint64_t missing = c->stamped - c->rx_seq;
		snprintf(why, sizeof why, "%llu echo%s still missing %d s after the end",
		         (unsigned long long)missing, missing == 1 ? "" : "es", LOAD_DRAIN_SECONDS);
		load_conn_fail(&l->conns, c, why);
	}
}

/* ---- setup and teardown ------------------------------------------------- */

/* Edge-triggered, both directions, once for the whole run. */
static bool epoll_add(struct load_loop *l, int fd, void *ptr)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = ptr,
	};
	if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return true;
	record_error(l, "epoll_ctl");
	return false;
}

static bool setup_schedule(struct load_loop *l)
{
	const struct load_opts *o = l->plan->opts;
	l->dirty = calloc(l->w->count, sizeof *l->dirty);
	if (!l->dirty) {
		load_errors_add(&l->w->tally.errors, "out of memory");
		return false;
	}
	if (!schedule_open(&l->schedule, l->plan->start_ns, o->rate, o->connections,
	                   l->w->index, o->threads, l->w->count)) {
		record_error(l, "timerfd_create");
		return false;
	}
	/* A NULL pointer marks the timer: it only wakes the loop. */
	return epoll_add(l, l->schedule.timer_fd, NULL);
}

static bool setup(struct load_loop *l, struct load_worker *w)
{
	const struct load_plan *plan = w->plan;
	*l = (struct load_loop){
		.w = w, .plan = plan, .epoll_fd = -1, .open_loop = plan->opts->rate > 0,
		.window = { .start_ns = plan->start_ns, .measure_from_ns = plan->measure_from_ns,
		            .end_ns = plan->measure_until_ns, .signal_fd = -1 },
		.schedule = { .timer_fd = -1 },
	};
	if (!load_conns_init(&l->conns, w->fds, w->count, w->index, plan->opts->threads,
	                     plan->opts->depth, plan->payload, l->open_loop ? &l->schedule : NULL,
	                     &l->window, &w->tally)) {
		load_errors_add(&w->tally.errors, "out of memory");
		return false;
	}
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epoll_fd < 0) {
		record_error(l, "epoll_create1");
		return false;
	}
	for (size_t i = 0; i < l->conns.count; i++)
		if (!epoll_add(l, l->conns.list[i].fd, &l->conns.list[i]))
			return false;
	return !l->open_loop || setup_schedule(l);
}

static void teardown(struct load_loop *l)
{
	load_conns_destroy(&l->conns);
	schedule_close(&l->schedule);
	if (l->epoll_fd >= 0)
		close(l->epoll_fd);
	free(l->dirty);
}

void *load_worker_main(void *worker)
{
	struct load_worker *w = worker;
	struct load_loop l;
	if (setup(&l, w)) {
		run(&l);
		count_missing(&l);
	}
	teardown(&l);
	atomic_store(&w->completed, w->tally.completed);
	atomic_store(&w->finished, true);
	return NULL;
}
