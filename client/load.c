/* load: see load.h. This file sets a run up, supervises it and collects the
 * results; the load itself is in load_worker.c, the connecting in connect.c. */
#include "load.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "connect.h"
#include "hold.h"
#include "load_worker.h"
#include "log.h"
#include "load_result.h"
#include "payload.h"
#include "report.h"
#include "schedule.h"
#include "window.h"

/* Descriptors besides the connections: stdio, epoll and timer fds, slack. */
#define SPARE_DESCRIPTORS 64
/* How often the supervisor looks at the workers and the signals. */
#define SUPERVISE_TICK_NS (100 * 1000000L)

/* 10,000 connections need more than the usual soft limit of 1024: the soft
 * limit goes up to the hard one, which only an administrator can raise. A run
 * that needs more than that is refused before it opens anything, with how to
 * raise it, rather than failing half-way with EMFILE. */
static bool raise_descriptor_limit(unsigned long connections)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0) {
		fprintf(stderr, "echo-client: getrlimit: %s\n", error_text(errno));
		return false;
	}
	if (lim.rlim_cur < lim.rlim_max) {
		struct rlimit raised = { .rlim_cur = lim.rlim_max, .rlim_max = lim.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			lim = raised;
	}
	if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < connections + SPARE_DESCRIPTORS) {
		fprintf(stderr, "echo-client: %lu connections (--connections + --hold) and %d spare "
		        "descriptors are more than this process may open: %llu (ulimit -Hn, the hard "
		        "limit; the soft limit is raised to it). To allow more: raise the hard limit "
		        "(root: ulimit -Hn N, or nofile in /etc/security/limits.conf), at most "
		        "fs.nr_open (sysctl fs.nr_open); the server needs as many\n", connections,
		        SPARE_DESCRIPTORS, (unsigned long long)lim.rlim_cur);
		return false;
	}
	return true;
}

/* ---- running ------------------------------------------------------------ */

struct run {
	struct load_plan plan;
	struct load_worker *workers;
	pthread_t *threads;
	unsigned started;
	bool progress;   /* a live progress line on stderr (a terminal) */
	int64_t finished_ns; /* when the last worker finished */
	int64_t last_progress_ns;
	uint64_t last_completed;
};

static uint64_t completed_so_far(const struct run *r)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < r->started; i++)
		sum += atomic_load_explicit(&r->workers[i].completed, memory_order_relaxed);
	return sum;
}

static bool all_finished(const struct run *r)
{
	for (unsigned i = 0; i < r->started; i++)
		if (!atomic_load(&r->workers[i].finished))
			return false;
	return true;
}

static void show_progress(struct run *r, int64_t now)
{
	if (!r->progress || now - r->last_progress_ns < NS_PER_SEC)
		return;
	uint64_t completed = completed_so_far(r);
	double rate = (double)(completed - r->last_completed) * NS_PER_SEC
	              / (double)(now - r->last_progress_ns);
	double elapsed = (double)(now - r->plan.start_ns) / NS_PER_SEC;
	const char *phase = now < r->plan.measure_from_ns ? "warm-up" : "measuring";
	fprintf(stderr, "\r%-9s %6.1f s  %12.0f msg/s", phase, elapsed, rate);
	r->last_progress_ns = now;
	r->last_completed = completed;
}

/* SIGINT and SIGTERM are blocked in every thread and collected here with
 * sigtimedwait, so a stop needs no handler and no global flag: it just moves
 * the end of the window, and the workers see it within their next wait. */
static void supervise(struct run *r, const sigset_t *stop_signals)
{
	const struct timespec tick = { .tv_nsec = SUPERVISE_TICK_NS };
	while (!all_finished(r)) {
		if (sigtimedwait(stop_signals, NULL, &tick) > 0)
			atomic_store(&r->plan.stop_ns, clock_now_ns());
		show_progress(r, clock_now_ns());
	}
	r->finished_ns = clock_now_ns();
	if (r->progress)
		fputs("\r\033[K", stderr); /* erase the progress line */
}

static void assign_connections(struct run *r, const int *fds, unsigned long total, int *by_thread)
{
	unsigned threads = r->plan.opts->threads;
	int *next = by_thread;
	for (unsigned t = 0; t < threads; t++) {
		struct load_worker *w = &r->workers[t];
		w->plan = &r->plan;
		w->index = t;
		w->fds = next;
		for (unsigned long i = t; i < total; i += threads)
			w->fds[w->count++] = fds[i];
		next += w->count;
	}
}

static void start_clock(struct load_plan *plan)
{
	const struct load_opts *o = plan->opts;
	plan->start_ns = clock_now_ns();
	plan->measure_from_ns = plan->start_ns + (int64_t)(o->warmup_s * NS_PER_SEC);
	plan->measure_until_ns = plan->measure_from_ns + (int64_t)(o->duration_s * NS_PER_SEC);
	atomic_init(&plan->stop_ns, INT64_MAX);
}

/* Starts the workers. Should a thread fail to start, the run is stopped at
 * once and the failure reported as an error; the connections of the workers
 * that never started are closed here. */
static bool start_workers(struct run *r)
{
	unsigned threads = r->plan.opts->threads;
	for (; r->started < threads; r->started++) {
		int err = pthread_create(&r->threads[r->started], NULL, load_worker_main,
		                         &r->workers[r->started]);
		if (err != 0) {
			fprintf(stderr, "echo-client: cannot start a thread: %s\n", error_text(err));
			atomic_store(&r->plan.stop_ns, INT64_MIN);
			for (unsigned t = r->started; t < threads; t++)
				for (size_t i = 0; i < r->workers[t].count; i++)
					close(r->workers[t].fds[i]);
			return false;
		}
	}
	return true;
}

static void collect(const struct run *r, struct load_result *result)
{
	const struct load_plan *plan = &r->plan;
	/* The window ends on time, or earlier if stopped, or if every connection
	 * failed and the workers gave up before its end. */
	int64_t end = atomic_load(&plan->stop_ns);
	if (plan->measure_until_ns < end)
		end = plan->measure_until_ns;
	if (r->finished_ns < end)
		end = r->finished_ns;
	result->duration_s = end > plan->measure_from_ns
	                     ? (double)(end - plan->measure_from_ns) / NS_PER_SEC : 0.0;
	result->scheduled = schedule_due_in(plan->opts->rate, result->duration_s);
	struct load_errors errors = { 0 };
	for (unsigned i = 0; i < r->started; i++) {
		const struct load_worker *w = &r->workers[i];
		histogram_merge(&result->latency, &w->tally.latency);
		result->messages += w->tally.messages;
		result->verified += w->tally.completed;
		load_errors_merge(&errors, &w->tally.errors);
		if (w->behind_ns > result->behind_ns)
			result->behind_ns = w->behind_ns;
	}
	load_result_errors(result, &errors);
}

/* Runs the connected sockets through warm-up, window and drain. */
static void run_load(const struct load_opts *o, const struct payload *payload, int *fds,
                     struct load_result *result)
{
	struct run r = { .plan = { .opts = o, .payload = payload } };
	r.workers = calloc(o->threads, sizeof *r.workers);
	r.threads = calloc(o->threads, sizeof *r.threads);
	int *by_thread = malloc(o->connections * sizeof *by_thread);
	if (!r.workers || !r.threads || !by_thread) {
		fprintf(stderr, "echo-client: out of memory\n");
		for (unsigned long i = 0; i < o->connections; i++)
			close(fds[i]);
		result->errors = 1;
		snprintf(result->error_detail, sizeof result->error_detail, "out of memory");
	} else {
		assign_connections(&r, fds, o->connections, by_thread);
		r.progress = isatty(STDERR_FILENO);
		sigset_t stop_signals;
		/* Blocked before the workers start, so they inherit it; it cannot
		 * fail with these arguments. */
		window_block_stop_signals(&stop_signals);
		start_clock(&r.plan);
		r.last_progress_ns = r.plan.start_ns;
		bool all_started = start_workers(&r);
		supervise(&r, &stop_signals);
		for (unsigned i = 0; i < r.started; i++)
			pthread_join(r.threads[i], NULL);
		collect(&r, result);
		if (!all_started && result->errors++ == 0)
			snprintf(result->error_detail, sizeof result->error_detail,
			         "cannot start a thread");
	}
	free(by_thread);
	free(r.threads);
	free(r.workers);
}

int load_run(const char *host, const char *port, const struct load_opts *o)
{
	if (!raise_descriptor_limit(o->connections + o->hold))
		return 2; /* refused before it began: not a failure of the run */
	struct payload payload;
	if (!payload_init(&payload, o->size)) {
		fprintf(stderr, "echo-client: out of memory for %zu-byte messages\n", o->size);
		return 1;
	}
	struct hold held = { 0 };
	if (o->hold > 0 && !hold_open(&held, host, port, o->hold)) {
		payload_destroy(&payload);
		return 1;
	}
	int *fds = connect_all(host, port, o->connections);
	if (!fds) {
		hold_close(&held);
		payload_destroy(&payload);
		return 1;
	}
	struct load_result *result = calloc(1, sizeof *result);
	if (!result) {
		fprintf(stderr, "echo-client: out of memory\n");
		for (unsigned long i = 0; i < o->connections; i++)
			close(fds[i]);
		free(fds);
		hold_close(&held);
		payload_destroy(&payload);
		return 1;
	}
	run_load(o, &payload, fds, result);
	report_print(o, result);
	int status = result->errors ? 1 : 0;
	free(result);
	free(fds);
	hold_close(&held);
	payload_destroy(&payload);
	return status;
}
