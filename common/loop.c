#include "loop.h"

/* The sanitizers replace malloc (gcc says so with __SANITIZE_*__, clang with
 * __has_feature). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ECHOLAB_SANITIZED_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ECHOLAB_SANITIZED_HEAP 1
#endif
#endif
#if defined(__GLIBC__) && !defined(ECHOLAB_SANITIZED_HEAP)
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "protocol.h"
#include "stats.h"

#define conn_of_idle(link) container_of(link, struct conn, idle)

void loop_init_worker(struct loop *l, struct server *srv, struct listener *listener,
                      unsigned worker)
{
	l->srv = srv;
	l->listener = listener;
	l->intake = NULL;
	l->worker = worker;
	l->rbuf = NULL;
	idle_init(&l->idle, srv->opts.idle_timeout);
	l->heap_dirty = false;
	loop_tick(l);
}

void loop_init_handed(struct loop *l, struct server *srv, struct loop_intake *in,
                      unsigned worker)
{
	loop_init_worker(l, srv, &srv->listener, worker);
	l->intake = in;
}

int loop_intake_fd(const struct loop *l)
{
	return l->intake != NULL ? l->intake->fd : l->listener->fd;
}

void loop_barrier_wait(pthread_barrier_t *b)
{
	int rc = pthread_barrier_wait(b);

	if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
		die("pthread_barrier_wait: %s", error_text(rc));
}

void loop_name_worker(pthread_t thread, unsigned i)
{
	char name[32]; /* "worker 4095" at most: the kernel keeps 15 characters */
	int rc;

	snprintf(name, sizeof name, "worker %u", i);
	if ((rc = pthread_setname_np(thread, name)) != 0)
		log_error("cannot name worker %u: %s", i, error_text(rc));
}

void loop_init(struct loop *l, struct server *srv)
{
	loop_init_worker(l, srv, &srv->listener, 0);
}

void loop_mark_busy(struct loop *l)
{
	l->last_busy_ms = l->now_ms;
	l->heap_dirty = true;
}

void loop_tick(struct loop *l)
{
	l->now_ms = monotonic_ms();
	if (l->heap_dirty && l->now_ms - l->last_busy_ms >= LOOP_TRIM_AFTER_MS) {
		/* glibc keeps freed memory in its heap for reuse; after a burst that
		 * is the burst's peak, for ever. malloc_trim returns the free pages
		 * (the top of the heap and whole free pages inside it). It walks the
		 * heap, so it runs once per quiet spell, never while busy. Not
		 * under a sanitizer: the heap is then the sanitizer's, glibc's
		 * malloc_trim walks arenas no thread of ours allocated from, and
		 * glibc aborts when such a thread exits ("malloc assertion failure
		 * in __malloc_arena_thread_freeres": reuseport's workers, ASan). */
#if defined(__GLIBC__) && !defined(ECHOLAB_SANITIZED_HEAP)
		malloc_trim(0);
#endif
		l->heap_dirty = false;
	}
}

int loop_timeout_ms(const struct loop *l)
{
	int ms = idle_wait_ms(&l->idle, l->now_ms);

	if (l->heap_dirty) {
		int64_t left = l->last_busy_ms + LOOP_TRIM_AFTER_MS - l->now_ms;
		int trim_ms = left < 0 ? 0 : (int)left;

		if (ms < 0 || trim_ms < ms)
			ms = trim_ms;
	}
	return ms;
}

/* A client that holds a place under --max-clients is gone: the place goes
 * back, and an intake hears that its loop holds one fewer. */
static void let_go(struct loop *l)
{
	accept_release(l->listener);
	if (l->intake != NULL)
		l->intake->closed(l->intake);
}

/* An admitted client (it holds a place) as a new connection. */
static struct conn *adopt_conn(struct loop *l, int fd, const struct peer *peer, size_t size)
{
	struct echo_stats *st = l->srv->stats;
	struct conn *c;

	loop_mark_busy(l);
	if ((c = malloc(size)) == NULL) {
		let_go(l);
		accept_refuse(l->listener, fd);
		return NULL;
	}
	conn_init(c, fd, l->srv->opts.max_line, peer);
	idle_touch(&l->idle, &c->idle, l->now_ms);
	stats_add(&st->connections, 1);
	stats_worker_served(st, l->worker);
	log_open(l->srv->opts.verbose, peer);
	return c;
}

struct conn *loop_open_conn(struct loop *l, int fd, const struct peer *peer, size_t size,
                            int fd_limit)
{
	loop_mark_busy(l);
	if (!accept_admit(l->listener, fd, l->srv->opts.max_clients, fd_limit))
		return NULL;
	return adopt_conn(l, fd, peer, size);
}

struct conn *loop_accept(struct loop *l, size_t size, int fd_limit)
{
	struct peer peer;
	int fd;

	/* Handed over: already admitted by the thread that accepted it. */
	if (l->intake != NULL) {
		while ((fd = l->intake->take(l->intake, &peer)) >= 0) {
			struct conn *c = adopt_conn(l, fd, &peer, size);

			if (c != NULL)
				return c;
		}
		return NULL;
	}
	while ((fd = accept_nonblocking(l->listener, &peer)) >= 0) {
		struct conn *c = loop_open_conn(l, fd, &peer, size, fd_limit);

		if (c != NULL)
			return c;
	}
	return NULL;
}

void loop_touch(struct loop *l, struct conn *c)
{
	idle_touch(&l->idle, &c->idle, l->now_ms);
	loop_mark_busy(l);
}

char *loop_read_buffer(struct loop *l)
{
	if (l->rbuf == NULL && (l->rbuf = malloc(PROTOCOL_READ_CHUNK)) == NULL)
		die("out of memory for the read buffer");
	return l->rbuf;
}

enum conn_want loop_serve(struct loop *l, struct conn *c, bool readable, bool writable,
                          unsigned reads, bool *drained)
{
	enum conn_want want = conn_wants(c);

	/* Any readiness is activity: the client sent something, or it read
	 * enough of its echo to make room for more. */
	loop_touch(l, c);
	if (drained != NULL)
		*drained = false;
	if (readable)
		want = conn_on_readable(c, l->srv->stats, loop_read_buffer(l), PROTOCOL_READ_CHUNK, reads,
		                        drained);
	/* The read may already have written everything; only write again if
	 * the connection still owes echo. */
	if (writable && (want & CONN_WANT_WRITE))
		want = conn_on_writable(c, l->srv->stats);
	return want;
}

void loop_release(struct loop *l, struct conn *c)
{
	loop_mark_busy(l);
	idle_remove(&c->idle);
	stats_worker_echoed(l->srv->stats, l->worker, c->messages);
	conn_end(c, l->srv->opts.verbose);
	let_go(l);
}

void loop_close(struct loop *l, struct conn *c)
{
	/* The descriptor goes before the place is given back (as with libuv,
	 * whose uv_close closes it at once). */
	close(c->fd);
	loop_release(l, c);
	free(c);
}

struct conn *loop_next_expired(struct loop *l)
{
	struct idle_link *link = idle_first_expired(&l->idle, l->now_ms);
	struct conn *c;

	if (link == NULL)
		return NULL;
	c = conn_of_idle(link);
	conn_give_up(c, "idle timeout");
	return c;
}

struct conn *loop_next_to_stop(struct loop *l)
{
	struct idle_link *link = idle_first(&l->idle);
	struct conn *c;

	if (link == NULL)
		return NULL;
	c = conn_of_idle(link);
	conn_give_up(c, "server stopping");
	return c;
}

void loop_close_all(struct loop *l)
{
	struct conn *c;

	while ((c = loop_next_to_stop(l)) != NULL)
		loop_close(l, c);
	free(l->rbuf);
	l->rbuf = NULL;
}
