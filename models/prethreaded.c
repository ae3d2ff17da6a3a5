/* prethreaded: a pool of threads created once, fed by the main thread (UNP
 * serv08, §30.12).
 *
 * The threads model starts a thread per connection; here --workers threads
 * are started once, before the first client, and each waits for work. The
 * main thread only accepts and puts each connection in a bounded queue; a
 * worker takes it out, runs the shared blocking echo loop, closes it and
 * comes back for the next. A connection costs a queue slot and two condition
 * variable hand-offs instead of a pthread_create.
 *
 * At most --workers clients are served at once; the next ones wait in the
 * queue until a worker is free. A client takes its place under
 * --max-clients (accept_admit) before it is queued and gives it back when its
 * worker is done with it, so served + queued never exceeds --max-clients, the
 * queue's size, and one more gets "ERR server busy".
 *
 * Everything shared (the queue, who serves which descriptor) sits behind one
 * mutex; the counters are atomics (common/stats.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_blocking.h"
#include "log.h"
#include "server.h"
#include "signals.h"

struct queued {
	int fd;
	struct peer peer;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t work;  /* a connection was queued, or the pool is stopping */
	struct queued *ring;  /* accepted, not yet taken by a worker */
	unsigned cap;         /* --max-clients, which bounds served + queued */
	unsigned head, queued;
	unsigned serving;     /* workers busy with a client */
	int *serving_fd;      /* [worker]: the client it serves, or -1 */
	bool stopping;
};

struct worker {
	const struct server *srv;
	struct pool *pool;
	unsigned id;
	pthread_t tid;
};

/* The main thread: queue an admitted connection for the next free worker.
 * There is room: accept_admit keeps served + queued within the queue's size. */
static void pool_offer(struct pool *p, int fd, const struct peer *peer)
{
	pthread_mutex_lock(&p->lock);
	p->ring[(p->head + p->queued) % p->cap] = (struct queued){fd, *peer};
	p->queued++;
	pthread_mutex_unlock(&p->lock);
	/* One connection, one worker: signal, not broadcast, so the other idle
	 * workers sleep on (no herd). After unlocking, so the worker it wakes
	 * does not go straight back to sleep waiting for our lock. */
	pthread_cond_signal(&p->work);
}

/* A worker: wait for a connection; false once the pool is stopping. */
static bool pool_take(struct pool *p, unsigned id, struct queued *q)
{
	bool got;

	pthread_mutex_lock(&p->lock);
	/* A loop, not an if: a wake-up can be spurious, or another worker may
	 * have taken the connection first. */
	while (p->queued == 0 && !p->stopping)
		pthread_cond_wait(&p->work, &p->lock);
	got = !p->stopping;
	if (got) {
		*q = p->ring[p->head];
		p->head = (p->head + 1) % p->cap;
		p->queued--;
		p->serving++;
		p->serving_fd[id] = q->fd;
	}
	pthread_mutex_unlock(&p->lock);
	return got;
}

/* Closing under the lock means pool_stop never calls shutdown() on a
 * descriptor number that has meanwhile been closed and reused. */
static void pool_done(struct pool *p, unsigned id)
{
	pthread_mutex_lock(&p->lock);
	close(p->serving_fd[id]);
	p->serving_fd[id] = -1;
	p->serving--;
	pthread_mutex_unlock(&p->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct queued q;

	while (pool_take(w->pool, w->id, &q)) {
		stats_worker_served(w->srv->stats, w->id);
		stats_worker_echoed(w->srv->stats, w->id, echo_blocking(w->srv, q.fd, &q.peer));
		pool_done(w->pool, w->id);
		accept_release(&w->srv->listener); /* after: the queue has room again */
	}
	return NULL;
}

static void pool_init(struct pool *p, unsigned cap, unsigned workers)
{
	*p = (struct pool){.cap = cap};
	p->ring = calloc(cap, sizeof *p->ring);
	p->serving_fd = malloc(workers * sizeof *p->serving_fd);
	if (p->ring == NULL || p->serving_fd == NULL)
		die("out of memory for a queue of %u and %u workers", cap, workers);
	memset(p->serving_fd, -1, workers * sizeof *p->serving_fd);
	if (pthread_mutex_init(&p->lock, NULL) != 0 || pthread_cond_init(&p->work, NULL) != 0)
		die("cannot initialise the queue's lock");
}

/* Threads inherit the signal mask: server_start has blocked the stop signals,
 * so no worker is ever interrupted by one; the main thread sees them in
 * accept's wait. */
static struct worker *start_workers(const struct server *srv, struct pool *p, unsigned n)
{
	struct worker *w = calloc(n, sizeof *w);
	pthread_attr_t attr;

	if (w == NULL)
		die("out of memory for %u workers", n);
	if (pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setstacksize(&attr, ECHO_BLOCKING_STACK_SIZE) != 0)
		die("cannot set up thread attributes");
	for (unsigned i = 0; i < n; i++) {
		w[i] = (struct worker){.srv = srv, .pool = p, .id = i};
		int err = pthread_create(&w[i].tid, &attr, worker_main, &w[i]);

		if (err != 0)
			die("cannot start worker %u of %u: %s", i + 1, n, error_text(err));
	}
	pthread_attr_destroy(&attr);
	return w;
}

/* Wake every worker: the idle ones from the condition variable, the busy ones
 * from a blocked recv or send with shutdown(); connections still queued are
 * closed unserved. Then wait for all of them. */
static void pool_stop(struct pool *p, struct worker *w, unsigned n)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	for (unsigned i = 0; i < n; i++)
		if (p->serving_fd[i] >= 0)
			shutdown(p->serving_fd[i], SHUT_RDWR);
	for (; p->queued > 0; p->queued--, p->head = (p->head + 1) % p->cap)
		close(p->ring[p->head].fd);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->serving_fd);
	free(p->ring);
	free(w);
}

static const struct model_info model = {
	.name = "prethreaded",
	.summary = "a pool of threads created once, fed by the main thread through a queue",
	.flags = MODEL_WORKERS,
	.default_workers = 16,
};

int main(int argc, char **argv)
{
	struct server srv;
	struct pool pool;
	struct worker *workers;
	struct peer peer;
	int fd;

	server_start(&srv, &model, SERVER_BLOCKING, argc, argv);
	stats_track_workers(srv.stats, srv.opts.workers);
	pool_init(&pool, srv.opts.max_clients, srv.opts.workers);
	workers = start_workers(&srv, &pool, srv.opts.workers);

	while ((fd = accept_or_signal(&srv.listener, &srv.signals, &peer)) >= 0)
		if (accept_admit(&srv.listener, fd, srv.opts.max_clients, ACCEPT_ANY_FD))
			pool_offer(&pool, fd, &peer);

	pool_stop(&pool, workers, srv.opts.workers);
	return server_finish(&srv);
}
