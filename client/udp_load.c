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
#include "single_loop.h"

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
	struct single_loop run; /* options, datagrams, result, errors, epoll, window */
	struct dgram_sock *socks;
	size_t open_count;
	char *rx_buf;       /* one byte more than a datagram can hold */
};

static const char *datagram(const struct udp_load *u, const struct dgram_sock *s, uint64_t seq)
{
	return payload_message(&u->run.payload, payload_entry(&u->run.payload, s->id, seq));
}

static void sock_fail(struct udp_load *u, struct dgram_sock *s, const char *why)
{
	load_errors_add(&u->run.errors, "socket %llu, datagram %llu: %s",
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
	if (u->run.win.closed)
		return;
	s->sent_ns = now;
	s->in_flight = true;
	if (send(s->fd, datagram(u, s, s->seq), u->run.o->size, 0) < 0 && errno != EAGAIN
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
		if (len == u->run.o->size && memcmp(got, datagram(u, s, s->seq - k), len) == 0)
			return true;
	return false;
}

static void on_echo(struct udp_load *u, struct dgram_sock *s, size_t len, int64_t now)
{
	const char *want = datagram(u, s, s->seq);
	if (s->in_flight && len == u->run.o->size && memcmp(u->rx_buf, want, len) == 0) {
		u->run.result->verified++;
		if (window_counts(&u->run.win, now)) {
			histogram_record(&u->run.result->latency, (uint64_t)(now - s->sent_ns));
			u->run.result->messages++;
		}
		sock_next(u, s, now);
	} else if (is_late(u, s, u->rx_buf, len)) {
		u->run.result->late++;
	} else {
		char why[160];
		if (len != u->run.o->size && !(len >= 4 && memcmp(u->rx_buf, "ERR ", 4) == 0))
			snprintf(why, sizeof why, "echo is %zu bytes, the datagram was %zu", len,
			         u->run.o->size);
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
	for (unsigned long i = 0; i < u->run.o->connections; i++) {
		struct dgram_sock *s = &u->socks[i];
		if (s->fd < 0 || !s->in_flight || now - s->sent_ns < LOSS_TIMEOUT_NS)
			continue;
		if (s->sent_ns >= u->run.win.measure_from_ns)
			u->run.result->lost++;
		sock_next(u, s, now);
	}
}

static bool any_in_flight(const struct udp_load *u)
{
	for (unsigned long i = 0; i < u->run.o->connections; i++)
		if (u->socks[i].fd >= 0 && u->socks[i].in_flight)
			return true;
	return false;
}

/* ---- the callbacks of single_loop -------------------------------------- */

static void start(void *ctx, unsigned long i, int64_t now)
{
	struct udp_load *u = ctx;
	sock_send(u, &u->socks[i], now);
}

static bool go_on(void *ctx, int64_t now)
{
	struct udp_load *u = ctx;
	expire(u, now);
	return u->open_count > 0 && !(u->run.win.closed && !any_in_flight(u));
}

static void dispatch(void *ctx, void *ptr, uint32_t events)
{
	(void)events; /* only EPOLLIN is asked for */
	sock_receive(ctx, ptr);
}

static bool open_sockets(struct udp_load *u, const char *host, const char *port)
{
	/* Socket 0 resolves the host (its first address: see connect_datagram);
	 * the others go straight to the same address. */
	struct endpoint ep;
	int first = connect_datagram(host, port, 0, &ep);
	if (first < 0)
		return false;
	close(first);
	for (unsigned long i = 0; i < u->run.o->connections; i++) {
		struct dgram_sock *s = &u->socks[i];
		*s = (struct dgram_sock){ .fd = connect_endpoint(&ep, SOCK_DGRAM | SOCK_NONBLOCK, 0),
		                          .id = i };
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
		if (s->fd < 0 || epoll_ctl(u->run.epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
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
	for (unsigned long i = 0; i < u->run.o->connections; i++)
		if (u->socks[i].fd >= 0)
			close(u->socks[i].fd);
}

int udp_load_run(const char *host, const char *port, const struct load_opts *o)
{
	struct udp_load u = { 0 };
	int status = 1;
	if (single_loop_open(&u.run, o, "datagrams")) {
		u.socks = calloc(o->connections, sizeof *u.socks);
		for (unsigned long i = 0; u.socks && i < o->connections; i++)
			u.socks[i].fd = -1;
		u.rx_buf = malloc(UDP_MAX_DATAGRAM + 1);
		if (!u.socks || !u.rx_buf) {
			fprintf(stderr, "echo-client: out of memory\n");
		} else if (open_sockets(&u, host, port)) {
			const struct single_loop_mode mode = {
				.ctx = &u, .max_wait_ms = MAX_WAIT_MS, .start = start, .go_on = go_on,
				.on_event = dispatch,
			};
			status = single_loop_run(&u.run, &mode);
		}
	}
	if (u.socks)
		close_sockets(&u);
	free(u.rx_buf);
	free(u.socks);
	single_loop_close(&u.run);
	return status;
}
