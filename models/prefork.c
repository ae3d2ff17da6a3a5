/* prefork: a pool of processes forked once, taking turns at accept (UNP
 * serv02-serv04, §30.6-30.8; Apache's prefork MPM).
 *
 * The fork model pays a fork, an exit and a wait per connection. Here the
 * parent forks --workers children up front, before any client; each child
 * loops: accept, serve that client with the shared blocking echo loop, close.
 * The parent serves nobody: it only keeps the pool full, replacing a child
 * that dies, and at SIGINT/SIGTERM stops the children and prints the summary
 * with their counts and CPU time, as fork does.
 *
 * At most --workers clients are served at once; the next one waits in the
 * kernel's listen backlog until a child is free. How the idle children take
 * turns at accept() is ECHOLAB_ACCEPT_LOCK (models/prefork/accept_lock.h): all asleep
 * in accept() together (none), or one at a time behind an fcntl record lock
 * or a robust process-shared mutex.
 *
 * No SIGCHLD handler: SIGCHLD reaches the parent through the signalfd it
 * sleeps on (signals.h), so a child that dies is reaped and replaced on the
 * parent's next wake-up, and no handler can interrupt anything.
 *
 * A parent that dies without stopping its children (SIGKILL, the OOM killer,
 * a crash) must not leave them listening: each holds the listening socket,
 * and the port would stay taken by orphans nobody manages. See
 * follow_the_master.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prefork/accept_lock.h"
#include "children.h"
#include "echo_blocking.h"
#include "log.h"
#include "server.h"
#include "signals.h"

struct pool {
	struct server *srv;
	struct accept_lock lock;
	/* [worker]: serving a client, in a page shared with the children. A
	 * worker that dies while serving still holds a place under
	 * --max-clients (accept_admit took it in the child, in the server's
	 * shared stats); the parent gives it back when it reaps the worker. */
	atomic_bool *serving;
	size_t serving_size;
	struct children ch; /* slot i: worker i */
	bool hold_off;      /* a worker failed by itself: replace it after a pause */
	pid_t master;       /* the parent, as its children must find it */
};

/* The signal a worker gets when its master dies (PR_SET_PDEATHSIG). Not
 * SIGTERM: that is the master's "stop now", which ends a client at the next
 * message boundary; a master's death must let the client finish. SIGHUP,
 * the hang-up of whoever held the other end, says "the master is gone". */
#define MASTER_GONE SIGHUP

/* The worker's listening descriptor, for its MASTER_GONE handler: a handler
 * has no other way to reach it. -1 once closed. */
static volatile sig_atomic_t listener_to_drop = -1;

/* The master is gone: stop listening at once, here in the handler. A flag
 * alone would not do: set just before the worker enters accept(), it would
 * leave the worker asleep there for good, holding the port (there is no
 * master any more to signal again). Closed, the descriptor holds the port
 * no longer, even while the worker finishes a client; an accept() entered
 * after this fails at once (EBADF), and one asleep now returns EINTR and
 * then fails the same way. The client being served is not touched: recv
 * and send go on after EINTR, as stop_requested is not set. */
static void on_master_gone(int signo)
{
	int fd = listener_to_drop;

	(void)signo;
	listener_to_drop = -1;
	if (fd >= 0)
		close(fd);
}

/* A worker outlives its master only to finish the client it is serving.
 * PR_SET_PDEATHSIG rather than a pipe whose write end the master holds: the
 * pipe would have to be polled next to the listener, which takes the worker
 * out of accept() (where the kernel wakes one sleeper per connection: with
 * poll every idle worker wakes, the thundering herd) and cannot wake one
 * asleep in the fcntl lock or the mutex; a signal reaches it wherever it
 * sleeps. The death signal follows the thread that forked, which is the
 * master's only thread, so it comes when the master dies. Then getppid: a
 * master that died between fork() and the prctl sent nothing. */
static void follow_the_master(const struct pool *p)
{
	struct sigaction sa = {.sa_handler = on_master_gone, .sa_flags = 0};
	sigset_t gone;

	listener_to_drop = p->srv->listener.fd;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&gone);
	sigaddset(&gone, MASTER_GONE);
	/* No SA_RESTART: accept() and fcntl(F_SETLKW) return EINTR. */
	if (sigaction(MASTER_GONE, &sa, NULL) < 0 || sigprocmask(SIG_UNBLOCK, &gone, NULL) < 0 ||
	    prctl(PR_SET_PDEATHSIG, MASTER_GONE) < 0) {
		log_error("worker: cannot follow the master's death: %s", error_text(errno));
		children_exit(1);
	}
	if (getppid() != p->master)
		raise(MASTER_GONE);
}

static bool take_seat(struct pool *p, unsigned id, int fd)
{
	if (!accept_admit(&p->srv->listener, fd, p->srv->opts.max_clients, ACCEPT_ANY_FD))
		return false;
	atomic_store(&p->serving[id], true);
	return true;
}

static void leave_seat(struct pool *p, unsigned id)
{
	if (atomic_exchange(&p->serving[id], false))
		accept_release(&p->srv->listener);
}

/* A child's whole life. The stop signals are unblocked in it, so the parent's
 * SIGTERM interrupts whatever it sleeps in: accept, the lock, recv, send.
 * Should the parent die instead, the worker finishes its client (if any) and
 * accepts no more: its accept fails on the descriptor the handler closed. */
_Noreturn static void worker(struct pool *p, unsigned id)
{
	struct server *srv = p->srv;
	struct peer peer;

	signals_in_child(&srv->signals);
	follow_the_master(p);
	while (accept_lock_take(&p->lock)) {
		int fd = accept_sleeping(&srv->listener, &peer);

		accept_lock_give(&p->lock);
		if (fd < 0)
			break; /* stopped, or the master is gone */
		if (!take_seat(p, id, fd))
			continue; /* refused: every place is taken */
		stats_worker_served(srv->stats, id);
		stats_worker_echoed(srv->stats, id, echo_blocking(srv, fd, &peer));
		close(fd);
		leave_seat(p, id);
	}
	children_exit(0);
}

static void spawn(struct pool *p, unsigned id)
{
	pid_t pid = fork();

	if (pid == 0)
		worker(p, id);
	if (pid < 0) {
		log_error("fork: %s (the pool is one worker short; trying again)", error_text(errno));
		return;
	}
	children_add(&p->ch, id, pid);
}

static void fill(struct pool *p)
{
	for (unsigned id = 0; id < p->ch.slots; id++)
		if (p->ch.pid[id] == 0)
			spawn(p, id);
}

/* Reaps every worker that has exited, without waiting, and frees its seat
 * (it may have died serving). */
static void reap(struct pool *p)
{
	int status, id;

	while ((id = children_reap(&p->ch, &status)) >= 0) {
		leave_seat(p, (unsigned)id);
		if (stop_requested)
			continue;
		if (WIFSIGNALED(status)) {
			log_error("worker %d killed by signal %d; starting another", id,
			          WTERMSIG(status));
		} else {
			log_error("worker %d exited with status %d; starting another", id,
			          WEXITSTATUS(status));
			p->hold_off = true; /* it failed by itself: do not spin */
		}
	}
}

/* The parent's loop: sleep until a signal, reap, refill. */
static void keep_pool_full(struct pool *p)
{
	struct pollfd pfd = {.fd = p->srv->signals.fd, .events = POLLIN};

	while (!stop_requested) {
		int n = poll(&pfd, 1, p->ch.live < p->ch.slots ? 1000 : -1);

		if (n < 0 && errno != EINTR)
			die("poll: %s", error_text(errno));
		if (n > 0)
			signals_take(&p->srv->signals);
		reap(p);
		if (n == 0)
			p->hold_off = false; /* a second has passed */
		if (!stop_requested && !p->hold_off)
			fill(p);
	}
}

static void pool_init(struct pool *p, struct server *srv, enum accept_lock_kind kind)
{
	unsigned workers = srv->opts.workers;

	*p = (struct pool){.srv = srv, .master = getpid()};
	accept_lock_init(&p->lock, kind);
	children_init(&p->ch, workers);
	p->serving_size = workers * sizeof *p->serving;
	p->serving = mmap(NULL, p->serving_size, PROT_READ | PROT_WRITE,
	                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p->serving == MAP_FAILED)
		die("mmap: no memory for the seats of %u workers", workers);
}

static void pool_destroy(struct pool *p)
{
	accept_lock_destroy(&p->lock);
	munmap(p->serving, p->serving_size);
}

static const struct model_info model = {
	.name = "prefork",
	.summary = "a pool of processes forked once, taking turns at accept",
	.flags = MODEL_WORKERS,
	.default_workers = 16,
	.env_help = "  " ACCEPT_LOCK_ENV "=none|fcntl|mutex\n"
	            "                       how the children take turns at accept (default none)\n",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct pool pool;
	enum accept_lock_kind kind = accept_lock_from_env(); /* before anything listens */

	server_prepare(&srv, &model, SERVER_FORKING, argc, argv);
	server_bind(&srv, SERVER_FORKING);
	/* The children sleep in accept() itself (see accept_lock.h). */
	listener_make_blocking(&srv.listener);
	stats_track_workers(srv.stats, srv.opts.workers);
	signals_watch_children(&srv.signals);
	pool_init(&pool, &srv, kind);

	/* "listening on" once the whole pool is forked: a script that reads the
	 * line finds every worker in ps, and the workers do not inherit the
	 * line in an unflushed stdout. */
	fill(&pool);
	listener_announce(&srv.listener);
	keep_pool_full(&pool);
	children_stop_all(&pool.ch); /* their counts and CPU time in the summary */
	pool_destroy(&pool);
	return server_finish(&srv);
}
