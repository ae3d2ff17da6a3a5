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
#include "payload.h"
#include "report.h"
#include "window.h"

#define RX_BUFFER_SIZE (64 * 1024)
#define MAX_EVENTS 64
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
	const struct load_opts *o;
	const struct payload *payload;
	struct endpoint ep;
	struct slot *slots;
	size_t running;   /* slots with a connection open */
	int epfd;
	char *rx_buf;
	struct window win;
	struct load_result *result;
	uint64_t errors;
	char first_error[200];
};

static const char *message_of(const struct churn *c, const struct slot *s)
{
	return payload_message(c->payload, payload_entry(c->payload, s->id, s->seq));
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
	if (c->errors++ == 0)
		snprintf(c->first_error, sizeof c->first_error, "loop %llu, connection %llu: %s",
		         (unsigned long long)s->id, (unsigned long long)s->seq, why);
	if (s->fd >= 0)
		end_connection(c, s);
	s->failed = true;
}

static void slot_send(struct churn *c, struct slot *s)
{
	const char *msg = message_of(c, s);
	while (s->tx_off < c->o->size) {
		ssize_t n = send(s->fd, msg + s->tx_off, c->o->size - s->tx_off, MSG_NOSIGNAL);
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
	if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		slot_fail(c, s, strerror(errno));
	else if (rc == 0)
		slot_send(c, s);
}

static void slot_done(struct churn *c, struct slot *s, int64_t now)
{
	c->result->verified++;
	if (window_counts(&c->win, now)) {
		histogram_record(&c->result->latency, (uint64_t)(now - s->began_ns));
		c->result->messages++;
	}
	end_connection(c, s);
	s->seq++;
	if (!c->win.closed)
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
		if ((size_t)n > c->o->size - s->rx_off) {
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
		if (s->rx_off == c->o->size) {
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
	for (unsigned long i = 0; i < c->o->connections; i++) {
		struct slot *s = &c->slots[i];
		if (s->fd >= 0)
			slot_fail(c, s, s->state == SLOT_CONNECTING
			                ? "connect still pending at the end of the drain"
			                : "echo still missing at the end of the drain");
	}
}

static void run(struct churn *c)
{
	struct epoll_event events[MAX_EVENTS];
	int64_t now = clock_now_ns();
	for (unsigned long i = 0; i < c->o->connections; i++)
		slot_start(c, &c->slots[i], now);
	for (;;) {
		window_advance(&c->win, now);
		if (c->running == 0 && (c->win.closed || c->errors >= c->o->connections))
			break;
		if (c->win.closed && now >= c->win.drain_until_ns)
			break;
		int n = epoll_wait(c->epfd, events, MAX_EVENTS, window_wait_ms(&c->win, now, MAX_WAIT_MS));
		if (n < 0 && errno != EINTR) {
			slot_fail(c, &c->slots[0], strerror(errno));
			break;
		}
		now = clock_now_ns();
		for (int i = 0; i < n; i++) {
			struct slot *s = events[i].data.ptr;
			if (!s)
				window_stop(&c->win, now);
			else if (s->fd >= 0)
				on_event(c, s, events[i].events);
		}
	}
	c->result->duration_s = window_measured_s(&c->win, now);
	count_unfinished(c);
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
	struct payload payload;
	if (!payload_init(&payload, o->size)) {
		fprintf(stderr, "echo-client: out of memory for %zu-byte messages\n", o->size);
		return 1;
	}
	struct load_result *result = calloc(1, sizeof *result);
	struct churn c = { .o = o, .payload = &payload, .result = result, .epfd = -1,
	                   .win = { .signal_fd = -1 } };
	c.slots = calloc(o->connections, sizeof *c.slots);
	c.rx_buf = malloc(RX_BUFFER_SIZE);
	int status = 1;
	if (!result || !c.slots || !c.rx_buf) {
		fprintf(stderr, "echo-client: out of memory\n");
	} else if (find_server(&c, host, port)) {
		for (unsigned long i = 0; i < o->connections; i++)
			c.slots[i] = (struct slot){ .fd = -1, .id = i };
		c.epfd = epoll_create1(EPOLL_CLOEXEC);
		if (c.epfd < 0) {
			fprintf(stderr, "echo-client: epoll_create1: %s\n", strerror(errno));
		} else if (window_open(&c.win, o, c.epfd)) {
			run(&c);
			load_result_errors(result, c.errors, c.first_error);
			report_print(o, result);
			status = result->errors ? 1 : 0;
		}
	}
	window_close(&c.win);
	if (c.epfd >= 0)
		close(c.epfd);
	free(c.rx_buf);
	free(c.slots);
	free(result);
	payload_destroy(&payload);
	return status;
}
