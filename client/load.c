/* load: see load.h. This file sets a run up, supervises it and collects the
 * results; the load itself is in load_worker.c. */
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "connect.h"
#include "hold.h"
#include "load_worker.h"
#include "log.h"
#include "payload.h"
#include "report.h"

/* Connections attempted at once. All at once would overflow the server's
 * listen backlog, and a dropped SYN costs a one-second retransmission. */
#define CONNECT_BATCH 256
#define CONNECT_TIMEOUT_MS 10000
/* Descriptors besides the connections: stdio, epoll and timer fds, slack. */
#define SPARE_DESCRIPTORS 64
/* How often the supervisor looks at the workers and the signals. */
#define SUPERVISE_TICK_NS (100 * 1000000L)

/* 10,000 connections need more than the usual soft limit of 1024. */
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
		fprintf(stderr, "echo-client: %lu connections need more descriptors than the "
		        "limit of %llu (see ulimit -n)\n", connections,
		        (unsigned long long)lim.rlim_cur);
		return false;
	}
	return true;
}

/* Small messages must leave at once, not wait for Nagle's algorithm to batch
 * them with the next ones, or every latency would include its delay. */
static bool tune_socket(int fd)
{
	int one = 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

/* connect_to gives a blocking socket; the event loops need non-blocking ones. */
static bool prepare_first(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || !tune_socket(fd)) {
		fprintf(stderr, "echo-client: setting up the first connection: %s\n", error_text(errno));
		return false;
	}
	return true;
}

struct connecting {
	const char *host, *port;
	const struct endpoint *ep;
	unsigned long total;
	int *fds;
};

static void connect_failed(const struct connecting *c, unsigned long i, const char *why)
{
	char where[300];
	format_host_port(where, sizeof where, c->host, c->port);
	fprintf(stderr, "echo-client: cannot connect to %s: %s (connection %lu of %lu)\n",
	        where, why, i + 1, c->total);
}

/* Starts a non-blocking connect of fds[i]; completion shows as EPOLLOUT. */
static bool start_connect(const struct connecting *c, int epfd, unsigned long i)
{
	int fd = socket(c->ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		connect_failed(c, i, error_text(errno));
		return false;
	}
	c->fds[i] = fd;
	if (connect(fd, (const struct sockaddr *)&c->ep->addr, c->ep->len) < 0
	    && errno != EINPROGRESS) {
		connect_failed(c, i, error_text(errno));
		return false;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = i };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 || !tune_socket(fd)) {
		connect_failed(c, i, error_text(errno));
		return false;
	}
	return true;
}

static bool finish_connect(const struct connecting *c, int epfd, unsigned long i)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fds[i], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		connect_failed(c, i, error_text(err));
		return false;
	}
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fds[i], NULL);
	return true;
}

static bool connect_batch(const struct connecting *c, int epfd, unsigned long first,
                          unsigned long end)
{
	for (unsigned long i = first; i < end; i++)
		if (!start_connect(c, epfd, i))
			return false;
	struct epoll_event events[CONNECT_BATCH];
	for (unsigned long pending = end - first; pending > 0;) {
		int n = epoll_wait(epfd, events, CONNECT_BATCH, CONNECT_TIMEOUT_MS);
		if (n == 0) {
			char where[300];
			format_host_port(where, sizeof where, c->host, c->port);
			fprintf(stderr, "echo-client: cannot connect to %s: timed out (%lu of "
			        "connections %lu to %lu of %lu still pending)\n", where, pending,
			        first + 1, end, c->total);
			return false;
		}
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "echo-client: epoll_wait: %s\n", error_text(errno));
			return false;
		}
		for (int k = 0; k < n; k++)
			if (!finish_connect(c, epfd, events[k].data.u64))
				return false;
		pending -= n > 0 ? (unsigned long)n : 0;
	}
	return true;
}

/* The first connection is made the ordinary way, which also finds which of the
 * host's addresses accepts; the rest go straight to that address, in batches. */
static bool connect_rest(const struct connecting *c)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		fprintf(stderr, "echo-client: epoll_create1: %s\n", error_text(errno));
		return false;
	}
	bool ok = true;
	for (unsigned long first = 1; ok && first < c->total; first += CONNECT_BATCH) {
		unsigned long end = first + CONNECT_BATCH < c->total ? first + CONNECT_BATCH : c->total;
		ok = connect_batch(c, epfd, first, end);
	}
	close(epfd);
	return ok;
}

/* Returns total connected non-blocking sockets, or NULL after saying why. */
static int *connect_all(const char *host, const char *port, unsigned long total)
{
	int *fds = malloc(total * sizeof *fds);
	if (!fds) {
		fprintf(stderr, "echo-client: out of memory\n");
		return NULL;
	}
	for (unsigned long i = 0; i < total; i++)
		fds[i] = -1;
	struct endpoint ep;
	struct connecting c = { .host = host, .port = port, .ep = &ep, .total = total, .fds = fds };
	fds[0] = connect_to(host, port, &ep);
	bool ok = fds[0] >= 0 && prepare_first(fds[0]) && connect_rest(&c);
	if (ok)
		return fds;
	for (unsigned long i = 0; i < total; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return NULL;
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
	result->scheduled = (uint64_t)((double)plan->opts->rate * result->duration_s);
	const char *first = "";
	for (unsigned i = 0; i < r->started; i++) {
		const struct load_worker *w = &r->workers[i];
		histogram_merge(&result->latency, &w->latency);
		result->messages += w->messages;
		result->verified += atomic_load(&w->completed);
		result->errors += w->errors;
		if (w->behind_ns > result->behind_ns)
			result->behind_ns = w->behind_ns;
		if (!*first && w->errors)
			first = w->first_error;
	}
	load_result_errors(result, result->errors, first);
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
		sigemptyset(&stop_signals);
		sigaddset(&stop_signals, SIGINT);
		sigaddset(&stop_signals, SIGTERM);
		/* Left blocked afterwards: a second Ctrl-C must not kill the report. */
		pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
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

void load_result_errors(struct load_result *r, uint64_t errors, const char *first)
{
	if (r->messages == 0 && errors == 0) {
		errors = 1;
		first = "no echo completed in the measured window";
	}
	r->errors = errors;
	if (errors > 1)
		snprintf(r->error_detail, sizeof r->error_detail, "%s (and %llu more)", first,
		         (unsigned long long)(errors - 1));
	else
		snprintf(r->error_detail, sizeof r->error_detail, "%s", first);
}

int load_run(const char *host, const char *port, const struct load_opts *o)
{
	if (!raise_descriptor_limit(o->connections + o->hold))
		return 1;
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
