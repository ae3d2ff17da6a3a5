/* load_worker: see load_worker.h.
 *
 * Cost per message is what decides whether the client or the server is being
 * measured, so the loop is built to do as little as possible:
 *
 *   - Sockets are registered once, edge-triggered, for input and output: no
 *     epoll_ctl while running. A read shorter than the buffer means the socket
 *     is drained and a write shorter than asked means it is full (epoll(7)), so
 *     there is no extra call just to collect EAGAIN.
 *   - Messages are sent straight out of the payload table (see payload.h), all
 *     that a connection may send in one sendmsg; nothing is copied to send.
 *   - Echoes are read into one large per-thread buffer and compared with the
 *     table in place; a connection keeps no buffer of its own, only counters
 *     and the send times of what it has in flight.
 *
 * A connection's stream position is counted in messages:
 *
 *     rx_seq <= tx_seq <= stamped <= released
 *     echoed    written   given a    allowed by
 *     and       to the    send time  the schedule
 *     checked   socket
 *
 * and at most `depth` messages are stamped but not yet echoed.
 */
#include "load_worker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"
#include "log.h"
#include "mismatch.h"

#define RX_BUFFER_SIZE (256 * 1024)
#define MAX_EVENTS 512
#define IOV_BATCH 64
/* Longest sleep, so a stop requested by the main thread is seen promptly. */
#define MAX_WAIT_MS 100
/* Shortest gap between two wake-ups of the open-loop timer: above ~50,000
 * messages a second per thread each wake-up releases several messages (their
 * latency still counts from when each was due), rather than the client
 * spinning on its timer and measuring itself. */
#define MIN_TIMER_GAP_NS 20000

struct load_conn {
	int fd;          /* -1 once closed after an error */
	uint64_t id;     /* which connection of the run: picks its messages and schedule */
	uint64_t released, stamped, tx_seq, rx_seq;
	size_t tx_off;   /* bytes of message tx_seq already written */
	size_t rx_off;   /* bytes of message rx_seq already echoed and checked */
	int64_t *sent_at; /* ring of depth: when each message in flight was sent or due */
	bool dirty;      /* released more messages this round (open loop) */
};

struct loop {
	struct load_worker *w;
	const struct load_plan *plan;
	const struct payload *payload;
	size_t size;
	unsigned depth;
	bool open_loop;
	struct load_conn *conns;
	size_t count;
	size_t open_count;      /* connections not closed by an error */
	int64_t *sent_at_storage;
	char *rx_buf;
	int epoll_fd, timer_fd;
	int64_t window_end;     /* measure_until, or earlier when stopped */
	bool stopping;          /* the window is over: nothing new is sent */
	int64_t drain_deadline;
	uint64_t completed;
	/* Open loop: the next message due on this thread is message `round` of
	 * conns[next_local], at next_due_ns. */
	double ns_per_message;
	uint64_t round;
	size_t next_local;
	int64_t next_due_ns;
	int64_t timer_armed_for;
	struct load_conn **dirty;
	size_t dirty_count;
	bool owns_fds; /* conns[] holds the sockets (else they are still in w->fds) */
};

static void record_error(struct loop *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void record_error(struct loop *l, const char *fmt, ...)
{
	if (l->w->errors++ > 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(l->w->first_error, sizeof l->w->first_error, fmt, ap);
	va_end(ap);
}

static void conn_close(struct loop *l, struct load_conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	l->open_count--;
}

/* An error ends the connection; the others carry on, and the run reports it. */
static void conn_fail(struct loop *l, struct load_conn *c, const char *why)
{
	record_error(l, "connection %llu: %s", (unsigned long long)c->id, why);
	conn_close(l, c);
}

static const char *message_at(const struct loop *l, uint64_t id, uint64_t seq)
{
	return payload_message(l->payload, payload_entry(l->payload, id, seq));
}

/* ---- sending ---------------------------------------------------------- */

/* The send time latency is measured from: when the schedule said (open loop),
 * or now, when it is actually handed to the kernel (closed loop). */
static int64_t due_time(const struct loop *l, const struct load_conn *c, uint64_t seq, int64_t now)
{
	if (!l->open_loop)
		return now;
	uint64_t k = seq * l->plan->opts->connections + c->id;
	return l->plan->start_ns + (int64_t)((double)k * l->ns_per_message);
}

static void stamp_new_messages(struct loop *l, struct load_conn *c, int64_t now)
{
	uint64_t limit = c->rx_seq + l->depth;
	if (limit > c->released)
		limit = c->released;
	for (; c->stamped < limit; c->stamped++)
		c->sent_at[c->stamped % l->depth] = due_time(l, c, c->stamped, now);
}

/* Consecutive messages are consecutive in the table until it wraps, so a
 * pipeline is one or two iovecs however deep it is. */
static int gather(const struct loop *l, const struct load_conn *c, struct iovec *iov,
                  size_t *bytes)
{
	const struct payload *p = l->payload;
	uint64_t seq = c->tx_seq;
	size_t skip = c->tx_off;
	int n = 0;
	*bytes = 0;
	while (seq < c->stamped && n < IOV_BATCH) {
		size_t entry = payload_entry(p, c->id, seq);
		uint64_t span = p->count - entry; /* consecutive in the table */
		if (span > c->stamped - seq)
			span = c->stamped - seq;
		iov[n].iov_base = (char *)payload_message(p, entry) + skip;
		iov[n].iov_len = (size_t)span * p->size - skip;
		*bytes += iov[n].iov_len;
		seq += span;
		skip = 0;
		n++;
	}
	return n;
}

static void advance_tx(struct load_conn *c, size_t bytes, size_t size)
{
	uint64_t offset = c->tx_off + bytes;
	c->tx_seq += offset / size;
	c->tx_off = (size_t)(offset % size);
}

/* Writes everything this connection may send now. A short write means the
 * socket buffer is full; the edge-triggered EPOLLOUT brings us back. */
static void conn_flush(struct loop *l, struct load_conn *c, int64_t now)
{
	stamp_new_messages(l, c, now);
	while (c->tx_seq < c->stamped) {
		struct iovec iov[IOV_BATCH];
		size_t want;
		struct msghdr msg = { .msg_iov = iov };
		msg.msg_iovlen = (size_t)gather(l, c, iov, &want);
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(l, c, socket_error_text(errno));
			return;
		}
		advance_tx(c, (size_t)n, l->size);
		if ((size_t)n < want)
			return;
	}
}

/* ---- receiving -------------------------------------------------------- */

static void complete_message(struct loop *l, struct load_conn *c, int64_t now)
{
	int64_t sent = c->sent_at[c->rx_seq % l->depth];
	if (now >= l->plan->measure_from_ns && now < l->window_end) {
		histogram_record(&l->w->latency, (uint64_t)(now > sent ? now - sent : 0));
		l->w->messages++;
	}
	l->completed++;
	c->rx_seq++;
	c->rx_off = 0;
}

static void explain_mismatch(struct loop *l, struct load_conn *c, const char *got, size_t len)
{
	char why[160];
	mismatch_text(why, sizeof why, got, len, message_at(l, c->id, c->rx_seq) + c->rx_off,
	              c->rx_off, c->rx_seq);
	conn_fail(l, c, why);
}

/* Checks received bytes against the messages in flight, completing each one
 * whose last byte arrives. */
static void check_echo(struct loop *l, struct load_conn *c, const char *got, size_t len,
                       int64_t now)
{
	while (len > 0) {
		if (c->rx_seq == c->stamped) {
			conn_fail(l, c, "server sent bytes beyond the messages sent");
			return;
		}
		size_t take = l->size - c->rx_off;
		if (take > len)
			take = len;
		if (memcmp(got, message_at(l, c->id, c->rx_seq) + c->rx_off, take) != 0) {
			explain_mismatch(l, c, got, take);
			return;
		}
		got += take;
		len -= take;
		c->rx_off += take;
		if (c->rx_off == l->size)
			complete_message(l, c, now);
	}
}

/* Reads and checks until the socket is drained; returns the time the last
 * bytes were in our hands, which is when their echoes count as complete. */
static int64_t conn_receive(struct loop *l, struct load_conn *c, bool until_eof)
{
	int64_t now = clock_now_ns();
	for (;;) {
		ssize_t n = recv(c->fd, l->rx_buf, RX_BUFFER_SIZE, 0);
		if (n > 0) {
			now = clock_now_ns();
			check_echo(l, c, l->rx_buf, (size_t)n, now);
			if (c->fd < 0 || ((size_t)n < RX_BUFFER_SIZE && !until_eof))
				break;
		} else if (n == 0) {
			conn_fail(l, c, "server closed the connection");
			break;
		} else if (errno != EINTR) {
			if (errno != EAGAIN)
				conn_fail(l, c, socket_error_text(errno));
			break;
		}
	}
	atomic_store_explicit(&l->w->completed, l->completed, memory_order_relaxed);
	return now;
}

/* Latency runs from just before a message is handed to the kernel (or from
 * when it was due) to just after its echo is read: the send and receive calls
 * are part of what the caller of a server waits for. */
static void conn_on_event(struct loop *l, struct load_conn *c, uint32_t events)
{
	int64_t now;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* With a hang-up pending there is no later edge to come back on: read
		 * on to the end so the close is seen now. */
		now = conn_receive(l, c, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
		if (c->fd < 0)
			return;
	} else {
		now = clock_now_ns();
	}
	conn_flush(l, c, now);
}

/* ---- the open-loop schedule -------------------------------------------- */

/* This thread's connections have ids in increasing order and all share one
 * period, so their due times come round in the same order every round: the
 * next message due is always at a cursor that walks the connection list. */
static void compute_next_due(struct loop *l)
{
	uint64_t k = l->round * l->plan->opts->connections + l->conns[l->next_local].id;
	l->next_due_ns = l->plan->start_ns + (int64_t)((double)k * l->ns_per_message);
}

static void advance_schedule(struct loop *l)
{
	if (++l->next_local == l->count) {
		l->next_local = 0;
		l->round++;
	}
	compute_next_due(l);
}

static bool arm_timer(struct loop *l, int64_t now)
{
	int64_t at = l->next_due_ns;

	if (at < now + MIN_TIMER_GAP_NS)
		at = now + MIN_TIMER_GAP_NS;
	if (l->timer_armed_for > now && l->timer_armed_for <= at)
		return true; /* already set to wake us in time */
	struct itimerspec when = {
		.it_value = { .tv_sec = at / NS_PER_SEC, .tv_nsec = at % NS_PER_SEC },
	};
	if (timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &when, NULL) < 0) {
		record_error(l, "timerfd_settime: %s", error_text(errno));
		return false;
	}
	l->timer_armed_for = at;
	return true;
}

/* Marks a connection as having messages to send this round. */
static void mark_dirty(struct loop *l, struct load_conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		l->dirty[l->dirty_count++] = c;
	}
}

/* When a full round or more of the schedule fell due since the last wake-up
 * (a rate faster than the client can wake, or a stall), walking the cursor
 * message by message would cost O(messages due), and at a huge --rate the
 * client would spend its time counting instead of sending. Jump instead: the
 * run's message k is due at start + k * ns_per_message and belongs to
 * connection k mod connections, so each connection's due count is one
 * division, and the cursor moves straight past the last message due. */
static void catch_up(struct loop *l, int64_t now)
{
	uint64_t n = l->plan->opts->connections;
	uint64_t last = (uint64_t)((double)(now - l->plan->start_ns) / l->ns_per_message);
	uint64_t next = l->round * n + l->conns[l->next_local].id;

	if (now < l->plan->start_ns || last < next + n)
		return; /* less than a round behind: the cursor walk is as cheap */
	for (size_t i = 0; i < l->count; i++) {
		struct load_conn *c = &l->conns[i];
		uint64_t due = last >= c->id ? (last - c->id) / n + 1 : 0;
		if (c->fd >= 0 && due > c->released) {
			c->released = due;
			mark_dirty(l, c);
		}
	}
	/* The cursor: the first of our connections after `last` in its round. */
	l->round = last / n;
	l->next_local = 0;
	while (l->next_local < l->count && l->conns[l->next_local].id <= last % n)
		l->next_local++;
	if (l->next_local == l->count) {
		l->next_local = 0;
		l->round++;
	}
	compute_next_due(l);
}

/* Releases every message whose time has come, then sends them: one write per
 * connection however many became due since the last wake-up, and O(1) per
 * connection however many that is (catch_up). */
static bool release_due(struct loop *l, int64_t now)
{
	catch_up(l, now);
	while (l->next_due_ns <= now) {
		struct load_conn *c = &l->conns[l->next_local];
		if (c->fd >= 0) {
			c->released++;
			mark_dirty(l, c);
		}
		advance_schedule(l);
	}
	for (size_t i = 0; i < l->dirty_count; i++) {
		struct load_conn *c = l->dirty[i];
		c->dirty = false;
		if (c->fd >= 0)
			conn_flush(l, c, now);
	}
	l->dirty_count = 0;
	return arm_timer(l, now);
}

/* ---- the loop ----------------------------------------------------------- */

/* Open loop, at the end of the window: how long the oldest message due by
 * then has been waiting to be written (its due time to the window's end).
 * Near zero when the schedule was kept; large when the client could not
 * wake often enough, or the server held `depth` echoes so long that the
 * connection could not send. */
static int64_t behind_schedule(const struct loop *l)
{
	uint64_t n = l->plan->opts->connections;
	int64_t end = l->window_end, worst = 0;

	if (!l->open_loop || end <= l->plan->start_ns)
		return 0;
	uint64_t last = (uint64_t)((double)(end - l->plan->start_ns) / l->ns_per_message);
	for (size_t i = 0; i < l->count; i++) {
		const struct load_conn *c = &l->conns[i];
		uint64_t due = last >= c->id ? (last - c->id) / n + 1 : 0;
		if (c->fd < 0 || c->tx_seq >= due)
			continue;
		int64_t late = end - due_time(l, c, c->tx_seq, end);
		if (late > worst)
			worst = late;
	}
	return worst;
}

static void begin_drain(struct loop *l, int64_t now)
{
	l->w->behind_ns = behind_schedule(l);
	l->stopping = true;
	l->drain_deadline = now + LOAD_DRAIN_SECONDS * NS_PER_SEC;
	for (size_t i = 0; i < l->count; i++)
		l->conns[i].released = l->conns[i].stamped;
}

static bool anything_in_flight(const struct loop *l)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->conns[i].fd >= 0 && l->conns[i].rx_seq < l->conns[i].stamped)
			return true;
	return false;
}

static int wait_ms(const struct loop *l, int64_t now)
{
	int64_t deadline = l->stopping ? l->drain_deadline : l->window_end;
	int64_t ms = (deadline - now + 999999) / 1000000;
	if (ms < 0)
		return 0;
	return ms > MAX_WAIT_MS ? MAX_WAIT_MS : (int)ms;
}

/* Moves the run on to `now`: closes the window when its time has come (or a
 * stop was asked for) and, in open loop, sends what has fallen due. False once
 * the run is over: the echoes in flight are back, or the drain time is up. */
static bool advance(struct loop *l, int64_t now)
{
	int64_t stop = atomic_load_explicit(&l->plan->stop_ns, memory_order_relaxed);
	if (stop < l->window_end)
		l->window_end = stop;
	if (!l->stopping && now >= l->window_end)
		begin_drain(l, now);
	if (l->open_count == 0)
		return false; /* every connection failed: nothing left to measure */
	if (l->stopping)
		return now < l->drain_deadline && anything_in_flight(l);
	return !l->open_loop || release_due(l, now);
}

static void run(struct loop *l)
{
	struct epoll_event events[MAX_EVENTS];
	int64_t now = clock_now_ns();
	if (!l->open_loop)
		for (size_t i = 0; i < l->count; i++)
			conn_flush(l, &l->conns[i], now);
	while (advance(l, now)) {
		int n = epoll_wait(l->epoll_fd, events, MAX_EVENTS, wait_ms(l, now));
		if (n < 0 && errno != EINTR) {
			record_error(l, "epoll_wait: %s", error_text(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct load_conn *c = events[i].data.ptr;
			/* The timer only wakes us; advance() sends what is due. */
			if (c && c->fd >= 0)
				conn_on_event(l, c, events[i].events);
		}
		now = clock_now_ns();
	}
}

/* Echoes that never came back are errors: the server lost or withheld them. */
static void count_missing(struct loop *l)
{
	for (size_t i = 0; i < l->count; i++) {
		struct load_conn *c = &l->conns[i];
		if (c->fd < 0 || c->rx_seq == c->stamped)
			continue;
		char why[120];
		uint64_t missing = c->stamped - c->rx_seq;
		snprintf(why, sizeof why, "%llu echo%s still missing %d s after the end",
		         (unsigned long long)missing, missing == 1 ? "" : "es", LOAD_DRAIN_SECONDS);
		conn_fail(l, c, why);
	}
}

/* ---- setup and teardown ------------------------------------------------- */

static bool watch(struct loop *l, int fd, void *ptr)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = ptr,
	};
	if (epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return true;
	record_error(l, "epoll_ctl: %s", error_text(errno));
	return false;
}

static bool setup_conns(struct loop *l)
{
	const struct load_opts *o = l->plan->opts;
	for (size_t i = 0; i < l->count; i++) {
		struct load_conn *c = &l->conns[i];
		c->fd = l->w->fds[i];
		c->id = l->w->index + (uint64_t)i * o->threads;
		c->released = l->open_loop ? 0 : UINT64_MAX;
		c->sent_at = l->sent_at_storage + i * l->depth;
	}
	l->owns_fds = true;
	l->open_count = l->count;
	for (size_t i = 0; i < l->count; i++)
		if (!watch(l, l->conns[i].fd, &l->conns[i]))
			return false;
	return true;
}

static bool setup_schedule(struct loop *l)
{
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->timer_fd < 0) {
		record_error(l, "timerfd_create: %s", error_text(errno));
		return false;
	}
	l->ns_per_message = (double)NS_PER_SEC / (double)l->plan->opts->rate;
	l->timer_armed_for = -1;
	compute_next_due(l);
	/* The timer is never read: each expiry is a fresh edge, and re-arming it
	 * resets its count. */
	return watch(l, l->timer_fd, NULL);
}

static bool setup(struct loop *l, struct load_worker *w)
{
	const struct load_plan *plan = w->plan;
	*l = (struct loop){
		.w = w, .plan = plan, .payload = plan->payload,
		.size = plan->opts->size, .depth = plan->opts->depth,
		.open_loop = plan->opts->rate > 0, .count = w->count,
		.epoll_fd = -1, .timer_fd = -1, .window_end = plan->measure_until_ns,
	};
	l->conns = calloc(w->count, sizeof *l->conns);
	l->sent_at_storage = calloc(w->count * l->depth, sizeof *l->sent_at_storage);
	l->dirty = calloc(w->count, sizeof *l->dirty);
	l->rx_buf = malloc(RX_BUFFER_SIZE);
	if (!l->conns || !l->sent_at_storage || !l->dirty || !l->rx_buf) {
		record_error(l, "out of memory");
		return false;
	}
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epoll_fd < 0) {
		record_error(l, "epoll_create1: %s", error_text(errno));
		return false;
	}
	return setup_conns(l) && (!l->open_loop || setup_schedule(l));
}

static void teardown(struct loop *l)
{
	if (l->owns_fds)
		for (size_t i = 0; i < l->count; i++)
			conn_close(l, &l->conns[i]);
	else
		for (size_t i = 0; i < l->w->count; i++)
			close(l->w->fds[i]);
	if (l->timer_fd >= 0)
		close(l->timer_fd);
	if (l->epoll_fd >= 0)
		close(l->epoll_fd);
	free(l->conns);
	free(l->sent_at_storage);
	free(l->dirty);
	free(l->rx_buf);
}

void *load_worker_main(void *worker)
{
	struct load_worker *w = worker;
	struct loop l;
	if (setup(&l, w)) {
		run(&l);
		count_missing(&l);
	}
	teardown(&l);
	atomic_store(&w->finished, true);
	return NULL;
}
