#include "loop.h"

#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"

#define conn_of_idle(link) \
	((struct conn *)((char *)(link) - offsetof(struct conn, idle)))

void loop_init_worker(struct loop *l, struct server *srv, struct listener *listener,
                      unsigned worker)
{
	l->srv = srv;
	l->listener = listener;
	l->worker = worker;
	idle_init(&l->idle, srv->opts.idle_timeout);
	loop_tick(l);
}

void loop_init(struct loop *l, struct server *srv)
{
	loop_init_worker(l, srv, &srv->listener, 0);
}

void loop_tick(struct loop *l)
{
	l->now_ms = monotonic_ms();
}

int loop_timeout_ms(const struct loop *l)
{
	return idle_wait_ms(&l->idle, l->now_ms);
}

struct conn *loop_accept(struct loop *l, size_t size, int fd_limit)
{
	struct echo_stats *st = l->srv->stats;
	struct peer peer;
	struct conn *c;
	int fd;

	while ((fd = accept_nonblocking(l->listener, &peer)) >= 0) {
		if (fd >= fd_limit || !stats_admit(st, l->srv->opts.max_clients)) {
			refuse_busy(fd, st);
			continue;
		}
		if ((c = malloc(size)) == NULL) {
			stats_release(st);
			refuse_busy(fd, st);
			continue;
		}
		conn_init(c, fd, l->srv->opts.max_line, &peer);
		idle_touch(&l->idle, &c->idle, l->now_ms);
		stats_add(&st->connections, 1);
		stats_worker_served(st, l->worker);
		log_open(l->srv->opts.verbose, &peer);
		return c;
	}
	return NULL;
}

enum conn_want loop_serve(struct loop *l, struct conn *c, bool readable, bool writable)
{
	enum conn_want want = c->waiting_for;

	/* Any readiness is activity: the client sent something, or it read
	 * enough of its echo to make room for more. */
	idle_touch(&l->idle, &c->idle, l->now_ms);
	if (readable)
		want = conn_on_readable(c, l->srv->stats);
	/* The read may already have written everything; only write again if
	 * the connection still owes echo. */
	if (writable && (want & CONN_WANT_WRITE))
		want = conn_on_writable(c, l->srv->stats);
	return want;
}

void loop_close(struct loop *l, struct conn *c)
{
	idle_remove(&c->idle);
	conn_close(c, l->srv->opts.verbose);
	stats_release(l->srv->stats);
	free(c);
}

/* A connection rejected with "ERR line too long" is being drained: whatever
 * ends the drain (the idle timeout, the server stopping), it closes because
 * of the line, and the blocking models log it so too. */
static void set_close_reason(struct conn *c, const char *why)
{
	if (c->phase != CONN_REJECTING && c->phase != CONN_DRAINING)
		c->close_reason = why;
}

struct conn *loop_next_expired(struct loop *l)
{
	struct idle_link *link = idle_first_expired(&l->idle, l->now_ms);
	struct conn *c;

	if (link == NULL)
		return NULL;
	c = conn_of_idle(link);
	set_close_reason(c, "idle timeout");
	return c;
}

void loop_close_all(struct loop *l)
{
	struct idle_link *link;

	while ((link = idle_first(&l->idle)) != NULL) {
		struct conn *c = conn_of_idle(link);

		set_close_reason(c, "server stopping");
		loop_close(l, c);
	}
}
