/* udp_load: see udp_load.h. One thread, one epoll loop, one datagram in
 * flight per socket. */
#include "udp_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "connect.h"
#include "mismatch.h"
#include "payload.h"
#include "report.h"
#include "window.h"

#define MAX_EVENTS 64
#define MAX_WAIT_MS 20
/* How far back an echo may be recognised as late: this many datagrams. */
#define LATE_WINDOW 8
#define LOSS_TIMEOUT_NS ((int64_t)UDP_LOSS_TIMEOUT_MS * 1000000)

struct dgram_sock {
	int fd;             /* -1 once stopped by an error */
	uint64_t id;        /* which socket: picks its datagrams */
	uint64_t seq;       /* the datagram in flight, or the next to send */
	bool in_flight;
	int64_t sent_ns;
};

struct udp_load {
	const struct load_opts *o;
	const struct payload *payload;
	struct dgram_sock *socks;
	size_t open_count;
	int epfd;
	char *rx_buf;       /* one byte more than a datagram can hold */
	struct window win;
	struct load_result *result;
	uint64_t errors;
	char first_error[200];
};

static const char *datagram(const struct udp_load *u, const struct dgram_sock *s, uint64_t seq)
{
	return payload_message(u->payload, payload_entry(u->payload, s->id, seq));
}

static void sock_fail(struct udp_load *u, struct dgram_sock *s, const char *why)
{
	if (u->errors++ == 0)
		snprintf(u->first_error, sizeof u->first_error, "socket %llu, datagram %llu: %s",
		         (unsigned long long)s->id, (unsigned long long)s->seq, why);
	close(s->fd);
	s->fd = -1;
	s->in_flight = false;
	u->open_count--;
}

static const char *udp_error_text(int err)
{
	/* On a connected UDP socket, ICMP "port unreachable" comes back as this. */
	return err == ECONNREFUSED ? "connection refused (nothing listens on that UDP port)"
	                           : strerror(err);
}

static void sock_send(struct udp_load *u, struct dgram_sock *s, int64_t now)
{
	if (u->win.closed)
		return;
	s->sent_ns = now;
	s->in_flight = true;
	if (send(s->fd, datagram(u, s, s->seq), u->o->size, 0) < 0 && errno != EAGAIN
	    && errno != ENOBUFS)
		sock_fail(u, s, udp_error_text(errno));
	/* EAGAIN/ENOBUFS: the datagram was dropped before leaving; the loss
	 * timeout counts it like any other loss. */
}

/* The datagram in flight is given up on (or its echo came): next one. */
static void sock_next(struct udp_load *u, struct dgram_sock *s, int64_t now)
{
	s->seq++;
	s->in_flight = false;
	sock_send(u, s, now);
}

/* An echo of one of this socket's recent datagrams, already counted lost? */
static bool is_late(const struct udp_load *u, const struct dgram_sock *s, const char *got,
                    size_t len)
{
	for (uint64_t k = 1; k <= LATE_WINDOW && k <= s->seq; k++)
		if (len == u->o->size && memcmp(got, datagram(u, s, s->seq - k), len) == 0)
			return true;
	return false;
}

static void on_echo(struct udp_load *u, struct dgram_sock *s, size_t len, int64_t now)
{
	const char *want = datagram(u, s, s->seq);
	if (s->in_flight && len == u->o->size && memcmp(u->rx_buf, want, len) == 0) {
		u->result->verified++;
		if (window_counts(&u->win, now)) {
			histogram_record(&u->result->latency, (uint64_t)(now - s->sent_ns));
			u->result->messages++;
		}
		sock_next(u, s, now);
	} else if (is_late(u, s, u->rx_buf, len)) {
		u->result->late++;
	} else {
		char why[160];
		if (len != u->o->size && !(len >= 4 && memcmp(u->rx_buf, "ERR ", 4) == 0))
			snprintf(why, sizeof why, "echo is %zu bytes, the datagram was %zu", len,
			         u->o->size);
		else
			mismatch_text(why, sizeof why, u->rx_buf, len, want, 0, s->seq);
		sock_fail(u, s, why);
	}
}

static void sock_receive(struct udp_load *u, struct dgram_sock *s)
{
	while (s->fd >= 0) {
		ssize_t n = recv(s->fd, u->rx_buf, UDP_MAX_DATAGRAM + 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				sock_fail(u, s, udp_error_text(errno));
			return;
		}
		on_echo(u, s, (size_t)n, clock_now_ns());
	}
}

/* Datagrams whose echo is overdue are lost; a loss in the drain ends the wait. */
static void expire(struct udp_load *u, int64_t now)
{
	for (unsigned long i = 0; i < u->o->connections; i++) {
		struct dgram_sock *s = &u->socks[i];
		if (s->fd < 0 || !s->in_flight || now - s->sent_ns < LOSS_TIMEOUT_NS)
			continue;
		if (s->sent_ns >= u->win.measure_from_ns)
			u->result->lost++;
		sock_next(u, s, now);
	}
}

static bool any_in_flight(const struct udp_load *u)
{
	for (unsigned long i = 0; i < u->o->connections; i++)
		if (u->socks[i].fd >= 0 && u->socks[i].in_flight)
			return true;
	return false;
}

static void run(struct udp_load *u)
{
	struct epoll_event events[MAX_EVENTS];
	int64_t now = clock_now_ns();
	for (unsigned long i = 0; i < u->o->connections; i++)
		sock_send(u, &u->socks[i], now);
	for (;;) {
		window_advance(&u->win, now);
		expire(u, now);
		if (u->open_count == 0 || (u->win.closed && !any_in_flight(u)))
			break;
		int n = epoll_wait(u->epfd, events, MAX_EVENTS, window_wait_ms(&u->win, now, MAX_WAIT_MS));
		if (n < 0 && errno != EINTR) {
			snprintf(u->first_error, sizeof u->first_error, "epoll_wait: %s", strerror(errno));
			u->errors++;
			break;
		}
		now = clock_now_ns();
		for (int i = 0; i < n; i++) {
			struct dgram_sock *s = events[i].data.ptr;
			if (!s)
				window_stop(&u->win, now);
			else
				sock_receive(u, s);
		}
	}
	u->result->duration_s = window_measured_s(&u->win, now);
}

/* Socket 0 resolves the host (its first address: see connect_datagram);
 * the others go straight to the same address. */
static int open_one(const struct endpoint *ep)
{
	int fd = socket(ep->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)&ep->addr, ep->len) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static bool open_sockets(struct udp_load *u, const char *host, const char *port)
{
	struct endpoint ep;
	int first = connect_datagram(host, port, 0, &ep);
	if (first < 0)
		return false;
	close(first);
	for (unsigned long i = 0; i < u->o->connections; i++) {
		struct dgram_sock *s = &u->socks[i];
		*s = (struct dgram_sock){ .fd = open_one(&ep), .id = i };
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
		if (s->fd < 0 || epoll_ctl(u->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
			fprintf(stderr, "echo-client: setting up UDP socket %lu: %s\n", i + 1,
			        strerror(errno));
			return false;
		}
		u->open_count++;
	}
	return true;
}

static void close_sockets(struct udp_load *u)
{
	for (unsigned long i = 0; i < u->o->connections; i++)
		if (u->socks[i].fd >= 0)
			close(u->socks[i].fd);
}

int udp_load_run(const char *host, const char *port, const struct load_opts *o)
{
	struct payload payload;
	if (!payload_init(&payload, o->size)) {
		fprintf(stderr, "echo-client: out of memory for %zu-byte datagrams\n", o->size);
		return 1;
	}
	struct load_result *result = calloc(1, sizeof *result);
	struct udp_load u = { .o = o, .payload = &payload, .result = result,
	                      .win = { .signal_fd = -1 } };
	u.socks = calloc(o->connections, sizeof *u.socks);
	for (unsigned long i = 0; u.socks && i < o->connections; i++)
		u.socks[i].fd = -1;
	u.rx_buf = malloc(UDP_MAX_DATAGRAM + 1);
	u.epfd = epoll_create1(EPOLL_CLOEXEC);
	int status = 1;
	if (!result || !u.socks || !u.rx_buf || u.epfd < 0) {
		fprintf(stderr, "echo-client: %s\n", u.epfd < 0 ? strerror(errno) : "out of memory");
	} else if (open_sockets(&u, host, port) && window_open(&u.win, o, u.epfd)) {
		run(&u);
		load_result_errors(result, u.errors, u.first_error);
		report_print(o, result);
		status = result->errors ? 1 : 0;
	}
	window_close(&u.win);
	if (u.socks)
		close_sockets(&u);
	if (u.epfd >= 0)
		close(u.epfd);
	free(u.rx_buf);
	free(u.socks);
	free(result);
	payload_destroy(&payload);
	return status;
}
