/* threads: a thread per connection.
 *
 * The fork model with threads instead of processes: the main thread accepts,
 * each client gets a detached thread running the blocking echo loop. A thread
 * is far cheaper to start than a process and shares the address space, which
 * is also the danger: anything shared (here only the connection table and
 * the atomic counters) must be guarded.
 *
 * --max-clients is accept_admit's, as in every model: the main thread takes a
 * place before it starts a thread, the thread gives it back as it leaves. The
 * connection table has a slot per place, so an admitted client always finds
 * one; on shutdown the main thread finds every open socket there to wake its
 * thread with shutdown(), then waits for the last one to leave.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_blocking.h"
#include "log.h"
#include "server.h"

struct table {
	pthread_mutex_t lock;
	pthread_cond_t emptied;
	int *fd;        /* fd[slot], -1 when free */
	unsigned slots, live;
};

struct worker {
	const struct server *srv;
	struct table *table;
	unsigned slot;
	int fd;
	struct peer peer;
};

static bool table_take(struct table *t, int fd, unsigned *slot)
{
	bool taken = false;

	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < t->slots && !taken; i++) {
		if (t->fd[i] < 0) {
			t->fd[i] = fd;
			t->live++;
			*slot = i;
			taken = true;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return taken;
}

/* Closing under the lock means the main thread never calls shutdown() on a
 * descriptor number that has meanwhile been closed and reused. The place
 * under --max-clients goes back under it too, after the slot is free (the
 * next client admitted takes it) and before `live` drops: at shutdown the
 * main thread waits for live == 0 and then tears the listener down. */
static void table_release(struct table *t, unsigned slot, const struct listener *l)
{
	pthread_mutex_lock(&t->lock);
	close(t->fd[slot]);
	t->fd[slot] = -1;
	accept_release(l);
	if (--t->live == 0)
		pthread_cond_signal(&t->emptied);
	pthread_mutex_unlock(&t->lock);
}

static void table_shutdown_all(struct table *t)
{
	pthread_mutex_lock(&t->lock);
	/* shutdown() makes a blocked read or write in the owning thread return
	 * at once, without closing the descriptor under its feet. */
	for (unsigned i = 0; i < t->slots; i++)
		if (t->fd[i] >= 0)
			shutdown(t->fd[i], SHUT_RDWR);
	while (t->live > 0)
		pthread_cond_wait(&t->emptied, &t->lock);
	pthread_mutex_unlock(&t->lock);
}

static void *serve(void *arg)
{
	struct worker *w = arg;

	echo_blocking(w->srv, w->fd, &w->peer);
	table_release(w->table, w->slot, &w->srv->listener);
	free(w);
	return NULL;
}

static void start_worker(struct server *srv, struct table *t, const pthread_attr_t *attr,
                         int fd, const struct peer *peer)
{
	struct worker *w;
	unsigned slot;
	pthread_t tid;
	int err;

	if (!accept_admit(&srv->listener, fd, srv->opts.max_clients, ACCEPT_ANY_FD))
		return;
	if ((w = malloc(sizeof *w)) == NULL || !table_take(t, fd, &slot)) {
		free(w);
		accept_withdraw(&srv->listener, fd);
		return;
	}
	*w = (struct worker){srv, t, slot, fd, *peer};
	err = pthread_create(&tid, attr, serve, w);
	if (err != 0) {
		/* Out of threads or memory is a busy server, not a dead one. */
		log_error("pthread_create: %s", error_text(err));
		pthread_mutex_lock(&t->lock);
		t->fd[slot] = -1;
		t->live--;
		pthread_mutex_unlock(&t->lock);
		free(w);
		accept_withdraw(&srv->listener, fd);
	}
}

static const struct model_info model = {
	.name = "threads",
	.summary = "a thread per connection",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct table table = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};
	pthread_attr_t attr;
	struct peer peer;
	int fd;

	/* Threads inherit the signal mask, and server_start blocks the stop
	 * signals, so no worker is ever interrupted by one: the main thread
	 * sees them through the signalfd in accept's wait (signals.h). */
	server_start(&srv, &model, SERVER_BLOCKING, argc, argv);
	table.slots = srv.opts.max_clients;
	table.fd = malloc(table.slots * sizeof *table.fd);
	if (table.fd == NULL)
		die("out of memory for %u connection slots", table.slots);
	memset(table.fd, -1, table.slots * sizeof *table.fd);
	if (pthread_attr_init(&attr) != 0 ||
	    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
	    pthread_attr_setstacksize(&attr, ECHO_BLOCKING_STACK_SIZE) != 0)
		die("cannot set up thread attributes");

	while ((fd = accept_or_signal(&srv.listener, &srv.signals, &peer)) >= 0)
		start_worker(&srv, &table, &attr, fd, &peer);

	table_shutdown_all(&table);
	pthread_attr_destroy(&attr);
	free(table.fd);
	return server_finish(&srv);
}
