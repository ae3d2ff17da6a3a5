/* reuseport: one epoll loop per CPU, and the kernel deals out the clients.
 *
 * The epoll model with N threads (--workers, default: one per online CPU).
 * Each thread has a listening socket of its own, all bound to the same
 * address and port with SO_REUSEPORT, and runs the epoll model's loop
 * (epoll_serve in models/epoll.c, the very same function) over it: its own
 * epoll instance, its own connections, its own idle list. The threads share
 * nothing but the stop flag and the statistics (counters and the number of
 * connections open, which --max-clients bounds across all of them). This is
 * how nginx (`listen ... reuseport`), Envoy and Seastar scale past one core:
 * no lock, no shared accept queue, no connection ever moves between threads.
 *
 * How the kernel spreads connections: each listening socket of the group has
 * its own accept queue; for each incoming SYN the kernel hashes the 4-tuple
 * (client address and port, server address and port) and picks the socket
 * hash % N. That is a hash, not a load balancer: it never looks at how busy
 * a worker is, so a few connections can land on one worker while another
 * idles, and a long-lived busy connection stays where it landed. Over many
 * connections the counts even out (the summary's spread=MIN/MAX and, under
 * --verbose, one line per worker show how well).
 *
 * Why every socket is bound before "listening on": that line promises the
 * port is served. Binding all first means a failure (out of descriptors, a
 * kernel without SO_REUSEPORT) exits 1 before anything was promised, and
 * that from the first client on the hash deals over all N queues. The line
 * waits for the threads too (each says when its epoll instance is open), so
 * a failure to start one also exits before any promise, and a script that
 * reads the line finds every worker in `ps -L` and every descriptor the
 * server keeps already open.
 *
 * What happens to connections queued on a listener that closes: they are
 * reset, not handed to the siblings (unless net.ipv4.tcp_migrate_req=1,
 * Linux 5.14+). So no worker closes its socket while the others serve: all
 * close together at shutdown, where every model drops its backlog anyway.
 *
 * Why --max-clients is fitted to the descriptors (accept_fit_max_clients):
 * every event loop survives running out of descriptors with a spare one
 * (common/accept.h): close the spare, accept into the freed slot, refuse,
 * reopen the spare. That is sound only while one thread opens descriptors.
 * Here N workers share one descriptor table, and the slot one worker frees
 * is taken by another worker's accept or spare before it can use it: the
 * worker is left with no spare and no slot, and the clients in its own
 * SO_REUSEPORT queue, which no other worker can accept, wait for ever
 * (scale.bats under ulimit -n 64 saw 16 to 22 of 100 with neither an echo
 * nor a refusal, in 4 of 6 runs). So the table must never fill with our own
 * connections: once every listener, spare and the signalfd are open,
 * --max-clients is lowered to the descriptors still free, less one epoll
 * instance and one client being refused per worker, and the exact busy
 * refusal (stats_admit) turns clients away while every worker still has
 * room to accept them. The spare stays, for descriptors someone else takes.
 *
 * Stopping: the server's signalfd (common/signals.h) is in every worker's
 * epoll set, beside its listener. A stop is left pending, so the descriptor
 * stays readable in all N sets until each worker has seen it and left its
 * loop; the main thread only waits for them (pthread_join), then prints the
 * one summary.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "epoll.h"
#include "log.h"
#include "loop.h"
#include "server.h"

struct worker {
	pthread_t thread;
	struct listener own; /* its listening socket; worker 0 uses the server's */
	struct loop loop;
	pthread_barrier_t *ready; /* where it says its epoll instance is open */
};

static void *run_worker(void *arg)
{
	struct worker *w = arg;

	epoll_serve(&w->loop, w->ready);
	return NULL;
}

static const struct model_info model = {
	.name = "reuseport",
	.summary = "one epoll loop per worker thread, each over its own SO_REUSEPORT listener "
	           "on the one port",
	.flags = MODEL_WORKERS,
	.default_workers = WORKERS_ONLINE_CPUS,
};

int main(int argc, char **argv)
{
	struct server srv;
	struct worker *workers;
	pthread_barrier_t ready;
	unsigned n;
	int rc;

	server_start(&srv, &model, SERVER_REUSEPORT, argc, argv);
	n = srv.opts.workers;
	workers = calloc(n, sizeof *workers);
	if (workers == NULL)
		die("out of memory for %u workers", n);
	stats_track_workers(srv.stats, n);

	/* Every socket bound before the announcement (see the top). */
	for (unsigned i = 1; i < n; i++)
		if (!listener_join(&workers[i].own, &srv.listener))
			exit(1);
	/* Each worker still opens its epoll instance, and holds one client at a
	 * time while refusing it (see the top). */
	accept_fit_max_clients(&srv.opts, 2 * n);

	/* The threads inherit main's signal mask: SIGINT/SIGTERM blocked, for
	 * the signalfd to report (signals_install did that). */
	if ((rc = pthread_barrier_init(&ready, NULL, n + 1)) != 0)
		die("pthread_barrier_init: %s", error_text(rc));
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &workers[i];

		loop_init_worker(&w->loop, &srv, i == 0 ? &srv.listener : &w->own, i);
		w->ready = &ready;
		rc = pthread_create(&w->thread, NULL, run_worker, w);
		if (rc != 0)
			die("cannot start worker %u: %s", i, error_text(rc));
		loop_name_worker(w->thread, i);
	}
	/* Announced once every worker has its epoll instance and is about to
	 * wait (epoll_serve's barrier): the server's descriptors are all open by then, and
	 * every worker is in ps -L under its name. */
	loop_barrier_wait(&ready);
	listener_announce(&srv.listener);

	/* Each worker returns once it has seen the stop. */
	for (unsigned i = 0; i < n; i++)
		if ((rc = pthread_join(workers[i].thread, NULL)) != 0)
			die("cannot wait for worker %u: %s", i, error_text(rc));

	for (unsigned i = 1; i < n; i++)
		listener_close(&workers[i].own);
	if ((rc = pthread_barrier_destroy(&ready)) != 0)
		die("pthread_barrier_destroy: %s", error_text(rc));
	free(workers);
	return server_finish(&srv);
}
