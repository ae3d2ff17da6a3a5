/* acceptor: one thread accepts, and hands each client to the least loaded
 * of N epoll loops.
 *
 * memcached's design, Netty's "boss" and "workers", nginx's before
 * SO_REUSEPORT. The main thread does nothing but accept: it waits on the one
 * listening socket (and the signals), admits the client under --max-clients
 * and hands it to one of --workers threads (default: one per online CPU).
 * Each worker runs the epoll model's loop (epoll_serve in models/epoll.c, the
 * very same function reuseport runs), over a hand-off queue instead of a
 * listener: a ring of descriptors under a mutex and an eventfd that its
 * epoll set watches. A hand-off costs one write to the eventfd, and the
 * worker one read of it per wake-up (loop_intake in common/loop.h). Sibling:
 * models/reuseport.c, where the kernel's hash deals instead; the two line up
 * function for function.
 *
 * "Least loaded" means the fewest connections handed to the worker and not
 * yet closed: those it serves and those still waiting in its queue. Why that
 * measure: the choice is made once, at accept, and a connection never moves
 * afterwards, so what matters is what the worker will have to carry, and the
 * one thing known about a new client is that it is one more connection (its
 * traffic is not known yet). Counting the queued ones too means a burst of
 * connects is dealt out at once, not all to the worker that was least
 * loaded when the burst began. It costs one atomic add at the hand-off and
 * one subtract at the close (loop_intake's closed()). Ties go round robin
 * (memcached deals round robin always), so equal workers take turns. What it
 * cannot see: a busy connection and an idle one weigh the same, so two heavy
 * clients may still share a worker while a dozen light ones share the other;
 * the bench's skewed cell measures what is left (docs/models/acceptor.md).
 *
 * Why no accept_fit_max_clients (reuseport needs it): only the main thread
 * opens descriptors once the workers run (they only close theirs), so the
 * spare descriptor that survives EMFILE (common/accept.h) stays sound: the
 * slot it frees cannot be taken by a sibling's accept.
 *
 * Stopping: the server's signalfd is in the main thread's poll and in every
 * worker's epoll set; a stop is left pending, so all see it. The main thread
 * stops accepting, joins the workers (each closes its own connections),
 * closes what was handed but never taken, and prints the one summary.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "epoll.h"
#include "log.h"
#include "loop.h"
#include "server.h"

struct handed {
	int fd;
	struct peer peer;
};

struct worker {
	pthread_t thread;
	struct loop loop;
	struct loop_intake intake; /* the eventfd, and take/closed below */
	pthread_mutex_t lock;      /* guards the ring */
	struct handed *ring;       /* handed over, not yet taken by the loop */
	unsigned cap, head, queued;
	atomic_uint load;          /* handed and not yet closed: "least loaded" */
	pthread_barrier_t *ready;  /* where it says its epoll instance is open */
};

/* The main thread: queue the client for worker w, then wake it. There is
 * room: every queued client holds a place under --max-clients, the ring's
 * size. */
static void hand_off(struct worker *w, int fd, const struct peer *peer)
{
	uint64_t one = 1;

	atomic_fetch_add_explicit(&w->load, 1, memory_order_relaxed);
	pthread_mutex_lock(&w->lock);
	w->ring[(w->head + w->queued) % w->cap] = (struct handed){fd, *peer};
	w->queued++;
	pthread_mutex_unlock(&w->lock);
	if (write(w->intake.fd, &one, sizeof one) < 0)
		die("cannot wake worker (eventfd): %s", error_text(errno));
}

static bool pop(struct worker *w, struct handed *h)
{
	bool got;

	pthread_mutex_lock(&w->lock);
	got = w->queued > 0;
	if (got) {
		*h = w->ring[w->head];
		w->head = (w->head + 1) % w->cap;
		w->queued--;
	}
	pthread_mutex_unlock(&w->lock);
	return got;
}

/* A worker's loop_accept: the next client handed over, or -1. When the ring
 * is empty the eventfd is read (reset to 0) before a last look: a client
 * handed over after that look writes to it again and wakes the loop, so
 * none is ever left waiting unseen. */
static int take(struct loop_intake *in, struct peer *peer)
{
	struct worker *w = container_of(in, struct worker, intake);
	struct handed h;
	uint64_t count;

	if (!pop(w, &h)) {
		if (read(in->fd, &count, sizeof count) < 0 && errno != EAGAIN)
			die("cannot read worker's eventfd: %s", error_text(errno));
		if (!pop(w, &h))
			return -1;
	}
	*peer = h.peer;
	return h.fd;
}

static void closed(struct loop_intake *in)
{
	struct worker *w = container_of(in, struct worker, intake);

	atomic_fetch_sub_explicit(&w->load, 1, memory_order_relaxed);
}

/* The fewest connections; ties round robin, starting after the last choice. */
static struct worker *least_loaded(struct worker *workers, unsigned n, unsigned *turn)
{
	unsigned best = *turn % n;
	unsigned best_load = atomic_load_explicit(&workers[best].load, memory_order_relaxed);

	for (unsigned k = 1; k < n; k++) {
		unsigned i = (*turn + k) % n;
		unsigned load = atomic_load_explicit(&workers[i].load, memory_order_relaxed);

		if (load < best_load) {
			best = i;
			best_load = load;
		}
	}
	*turn = best + 1;
	return &workers[best];
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;

	epoll_serve(&w->loop, w->ready);
	return NULL;
}

/* Its queue, its eventfd, its loop over them, and its thread. */
static void start_worker(struct worker *w, struct server *srv, unsigned i,
                         pthread_barrier_t *ready)
{
	int rc;

	w->cap = srv->opts.max_clients;
	w->ring = calloc(w->cap, sizeof *w->ring);
	if (w->ring == NULL)
		die("out of memory for worker %u's queue of %u", i, w->cap);
	if ((rc = pthread_mutex_init(&w->lock, NULL)) != 0)
		die("pthread_mutex_init: %s", error_text(rc));
	w->intake = (struct loop_intake){.take = take, .closed = closed};
	w->intake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->intake.fd < 0)
		die("eventfd: %s", error_text(errno));
	atomic_init(&w->load, 0);
	loop_init_handed(&w->loop, srv, &w->intake, i);
	w->ready = ready;
	if ((rc = pthread_create(&w->thread, NULL, run_worker, w)) != 0)
		die("cannot start worker %u: %s", i, error_text(rc));
	loop_name_worker(w->thread, i);
}

/* After the join: clients handed over but never taken are closed unserved. */
static void stop_worker(struct worker *w, struct server *srv)
{
	struct handed h;

	while (pop(w, &h)) {
		close(h.fd);
		accept_release(&srv->listener);
	}
	close(w->intake.fd);
	pthread_mutex_destroy(&w->lock);
	free(w->ring);
}

static const struct model_info model = {
	.name = "acceptor",
	.summary = "one thread accepts and hands each client to the least loaded of the "
	           "worker threads' epoll loops",
	.flags = MODEL_WORKERS,
	.default_workers = WORKERS_ONLINE_CPUS,
};

int main(int argc, char **argv)
{
	struct server srv;
	struct worker *workers;
	pthread_barrier_t ready;
	struct peer peer;
	unsigned n, turn = 0;
	int fd, rc;

	server_prepare(&srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	server_bind(&srv, SERVER_EVENT_DRIVEN);
	n = srv.opts.workers;
	workers = calloc(n, sizeof *workers);
	if (workers == NULL)
		die("out of memory for %u workers", n);
	stats_track_workers(srv.stats, n);

	/* The threads inherit main's signal mask: SIGINT/SIGTERM blocked, for
	 * the signalfd to report (signals_install did that). */
	if ((rc = pthread_barrier_init(&ready, NULL, n + 1)) != 0)
		die("pthread_barrier_init: %s", error_text(rc));
	for (unsigned i = 0; i < n; i++)
		start_worker(&workers[i], &srv, i, &ready);
	/* Announced once every worker has its epoll instance and is about to
	 * wait: every descriptor the server keeps is open by then. */
	loop_barrier_wait(&ready);
	listener_announce(&srv.listener);

	/* The whole job of this thread. */
	while ((fd = accept_or_signal(&srv.listener, &srv.signals, &peer)) >= 0)
		if (accept_admit(&srv.listener, fd, srv.opts.max_clients, ACCEPT_ANY_FD))
			hand_off(least_loaded(workers, n, &turn), fd, &peer);

	/* Each worker returns once it has seen the stop. */
	for (unsigned i = 0; i < n; i++)
		if ((rc = pthread_join(workers[i].thread, NULL)) != 0)
			die("cannot wait for worker %u: %s", i, error_text(rc));
	for (unsigned i = 0; i < n; i++)
		stop_worker(&workers[i], &srv);
	if ((rc = pthread_barrier_destroy(&ready)) != 0)
		die("pthread_barrier_destroy: %s", error_text(rc));
	free(workers);
	return server_finish(&srv);
}
