/* churn: see churn.h.
 *
 * A loop ("slot") goes CONNECTING -> SENDING -> READING -> closed, then starts
 * over with a new socket. The socket is registered once, edge-triggered, for
 * both directions: the first EPOLLOUT says the handshake is done (or failed,
 * which the send then reports), EPOLLIN that echo bytes arrived.
 */
#include "churn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "connect.h"
#include "io.h"
#include "mismatch.h"
#include "single_loop.h"

#define RX_BUFFER_SIZE (64 * 1024)
#define MAX_WAIT_MS 100

enum slot_state { SLOT_IDLE, SLOT_CONNECTING, SLOT_SENDING, SLOT_READING };

struct slot {
	int fd;
	enum slot_state state;
	bool failed;      /* stopped after an error */
	uint64_t id;      /* which loop: picks its messages */
	uint64_t seq;     /* connections this loop has made: message seq of the current one */
	size_t tx_off, rx_off;
	int64_t began_ns; /* when connect was called */
};

struct churn {
	struct single_loop run; /* options, messages, result, errors, epoll, window */
	struct endpoint ep;
	struct slot *slots;
	size_t running;   /* slots with a connection open */
	char *rx_buf;
};

static const char *message_of(const struct churn *c, const struct slot *s)
{
	return payload_message(&c->run.payload, payload_entry(&c->run.payload, s->id, s->seq));
}

static void end_connection(struct churn *c, struct slot *s)
{
	close(s->fd); /* also drops its epoll registration */
	s->fd = -1;
	s->state = SLOT_IDLE;
	c->running--;
}

/* An error stops that loop; the others carry on, and the run reports it. */
static void slot_fail(struct churn *c, struct slot *s, const char *why)
{
	load_errors_add(&c->run.errors, "loop %llu, connection %llu: %s",
	                (unsigned long long)s->id, (unsigned long long)s->seq, why);
	if (s->fd >= 0)
		end_connection(c, s);
	s->failed = true;
}

static void slot_send(struct churn *c, struct slot *s)
{
	const char *msg = message_of(c, s);
	while (s->tx_off < c->run.o->size) {
		ssize_t n = send(s->fd, msg + s->tx_off, c->run.o->size - s->tx_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				slot_fail(c, s, socket_error_text(errno));
			return; /* EAGAIN: connecting, or the buffer is full; EPOLLOUT brings us back */
		}
		s->state = SLOT_SENDING;
		s->tx_off += (size_t)n;
	}
	s->state = SLOT_READING;
}

static void slot_start(struct churn *c, struct slot *s, int64_t now)
{
	s->fd = socket(c->ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		slot_fail(c, s, strerror(errno));
		return;
	}
	c->running++;
	s->state = SLOT_CONNECTING;
	s->tx_off = s->rx_off = 0;
	s->began_ns = now;
	int rc = connect(s->fd, (const struct sockaddr *)&c->ep.addr, c->ep.len);
	if (rc < 0 && errno != EINPROGRESS) {
		char why[160];
		snprintf(why, sizeof why, "cannot connect: %s", strerror(errno));
		slot_fail(c, s, why);
		return;
	}
	/* Registered after connect: a socket not yet connecting polls as hung up. */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	                          .data.ptr = s };
	if (epoll_ctl(c->run.epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		slot_fail(c, s, strerror(errno));
	else if (rc == 0)
		slot_send(c, s);
}

static void slot_done(struct churn *c, struct slot *s, int64_t now)
{
	c->run.result->verified++;
	if (window_counts(&c->run.win, now)) {
		histogram_record(&c->run.result->latency, (uint64_t)(now - s->began_ns));
		c->run.result->messages++;
	}
	end_connection(c, s);
	s->seq++;
	if (!c->run.win.closed)
		slot_start(c, s, now);
}

static void slot_receive(struct churn *c, struct slot *s)
{
	for (;;) {
		ssize_t n = recv(s->fd, c->rx_buf, RX_BUFFER_SIZE, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			slot_fail(c, s, n == 0 ? "server closed the connection before the echo"
			                       : socket_error_text(errno));
			return;
		}
		const char *want = message_of(c, s) + s->rx_off;
		if ((size_t)n > c->run.o->size - s->rx_off) {
			slot_fail(c, s, "server sent bytes beyond the message sent");
			return;
		}
		if (memcmp(c->rx_buf, want, (size_t)n) != 0) {
			char why[160];
			mismatch_text(why, sizeof why, c->rx_buf, (size_t)n, want, s->rx_off, s->seq);
			slot_fail(c, s, why);
			return;
		}
		s->rx_off += (size_t)n;
		if (s->rx_off == c->run.o->size) {
			slot_done(c, s, clock_now_ns());
			return;
		}
	}
}

static void on_event(struct churn *c, struct slot *s, uint32_t events)
{
	if (s->state == SLOT_CONNECTING || s->state == SLOT_SENDING) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		slot_send(c, s); /* a failed connect shows here as the send's error */
		if (s->fd < 0 || s->state != SLOT_READING)
			return;
	}
	if (s->state == SLOT_READING && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		slot_receive(c, s);
}

/* Connections that never completed are errors: the server lost or withheld them. */
static void count_unfinished(struct churn *c)
{
	for (unsigned long i = 0; i < c->run.o->connections; i++) {
		struct slot *s = &c->slots[i];
		if (s->fd >= 0)
			slot_fail(c, s, s->state == SLOT_CONNECTING
			                ? "connect still pending at the end of the drain"
			                : "echo still missing at the end of the drain");
	}
}

/* ---- the callbacks of single_loop -------------------------------------- */

static void start(void *ctx, unsigned long i, int64_t now)
{
	struct churn *c = ctx;
	slot_start(c, &c->slots[i], now);
}

static bool go_on(void *ctx, int64_t now)
{
	const struct churn *c = ctx;
	const struct window *win = &c->run.win;
	if (c->running == 0 && (win->closed || c->run.errors.count >= c->run.o->connections))
		return false;
	return !(win->closed && now >= win->drain_until_ns);
}

static void dispatch(void *ctx, void *ptr, uint32_t events)
{
	struct slot *s = ptr;
	if (s->fd >= 0)
		on_event(ctx, s, events);
}

static void at_end(void *ctx)
{
	count_unfinished(ctx);
}

/* The first connection finds which of the host's addresses accepts (and says
 * so if none does); every loop then connects straight to that address. */
static bool find_server(struct churn *c, const char *host, const char *port)
{
	int fd = connect_to(host, port, &c->ep);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int churn_run(const char *host, const char *port, const struct load_opts *o)
{
	struct churn c = { 0 };
	int status = 1;
	if (single_loop_open(&c.run, o, "messages")) {
		c.slots = calloc(o->connections, sizeof *c.slots);
		c.rx_buf = malloc(RX_BUFFER_SIZE);
		if (!c.slots || !c.rx_buf) {
			fprintf(stderr, "echo-client: out of memory\n");
		} else if (find_server(&c, host, port)) {
			for (unsigned long i = 0; i < o->connections; i++)
				c.slots[i] = (struct slot){ .fd = -1, .id = i };
			const struct single_loop_mode mode = {
				.ctx = &c, .max_wait_ms = MAX_WAIT_MS, .start = start, .go_on = go_on,
				.on_event = dispatch, .at_end = at_end,
			};
			status = single_loop_run(&c.run, &mode);
		}
	}
	free(c.rx_buf);
	free(c.slots);
	single_loop_close(&c.run);
	return status;
}
