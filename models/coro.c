/* coro: one thread, a coroutine per connection over one epoll instance.
 *
 * What Go's net package does for a goroutine per connection, in C. Each
 * client gets a coroutine (models/coro/: a small stack of its own) that
 * runs the very loop the threads model runs in a thread: echo_waiting, the
 * blocking driver of the core, written as if recv and send simply waited.
 * Where they would wait, the driver calls park() below, which tells epoll
 * what this connection waits for and switches back to the loop. The loop is
 * epoll.c's: wait for ready sockets, and for each ready one resume its
 * coroutine, which carries on exactly where it parked. Blocking-style code,
 * as in threads.c; one thread and one epoll wait, as in epoll.c.
 *
 * Laid out like epoll.c, function for function: watch, rewatch, forget,
 * accept_clients, serve, the loop, main. The sockets are non-blocking, so a
 * coroutine never blocks the thread; the idle timeout is the loop's (the
 * idle list, as in every event loop), and a stop resumes every coroutine,
 * whose driver then sees it and ends its connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "coro/coro.h"
#include "echo_blocking.h"
#include "idle.h"
#include "log.h"
#include "loop.h"
#include "protocol.h"
#include "server.h"
#include "signals.h"

#define MAX_EVENTS 256
#define WHY_UNWATCHED "cannot watch it (epoll_ctl failed)"

struct sched;

/* A connection: its coroutine, and what the loop keeps about it. The whole
 * struct lives at the top of the coroutine's own stack (coro_create). */
struct client {
	struct coro co;             /* first: coro_create places the whole client */
	struct echo_waiter waiter;  /* echo_waiting's hook: park() */
	struct sched *sched;
	int fd;
	struct peer peer;
	enum conn_want waiting_for; /* the interest registered with epoll_ctl */
	enum conn_want parked_for;  /* what the parked coroutine waits for */
	bool expired;               /* the idle timeout ran out: park() says so */
	struct idle_link idle;      /* every client is on the idle list */
};

/* The loop: struct loop (common/loop.h) for the clock, the idle list, the
 * heap's trim and the one read buffer; its connections are coroutines, so
 * loop_accept, loop_serve and loop_close are not used. */
struct sched {
	struct server *srv;
	struct loop loop;
	struct coro_runtime rt;
	int epfd;
	char listener_mark, signals_mark; /* epoll data for the two non-clients */
};

static uint32_t epoll_events(enum conn_want want)
{
	return ((want & CONN_WANT_READ) ? EPOLLIN : 0) | ((want & CONN_WANT_WRITE) ? EPOLLOUT : 0);
}

/* One system call, and only when what the client waits for changes: ADD the
 * first time, MOD after. Level-triggered, as in epoll.c. */
static bool rewatch(struct sched *s, struct client *cl, enum conn_want want)
{
	struct epoll_event ev = {.events = epoll_events(want), .data.ptr = cl};
	int op = cl->waiting_for == CONN_CLOSE ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;

	if (want == cl->waiting_for)
		return true;
	if (epoll_ctl(s->epfd, op, cl->fd, &ev) < 0) {
		log_error("epoll_ctl: %s", error_text(errno));
		return false;
	}
	cl->waiting_for = want;
	return true;
}

static void watch(struct sched *s, int fd, void *mark)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = mark};

	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl ADD: %s", error_text(errno));
}

/* The coroutine has returned: its connection is over. close() drops the
 * registration; the stack goes back to the system at once. */
static void forget(struct sched *s, struct client *cl)
{
	loop_mark_busy(&s->loop);
	idle_remove(&cl->idle);
	close(cl->fd);
	accept_release(&s->srv->listener);
	coro_destroy(&cl->co);
}

/* echo_waiting's wait, run inside the coroutine: note what it waits for and
 * go back to the loop. The loop resumes it when the socket is ready (true),
 * when a stop is requested (true: the driver checks), when it has been idle
 * too long (false), or when epoll cannot watch it (false, with the reason). */
static bool park(struct echo_waiter *w, enum conn_want want)
{
	struct client *cl = container_of(w, struct client, waiter);

	cl->parked_for = want;
	coro_park(&cl->co);
	return !cl->expired && w->why == NULL;
}

/* The coroutine's whole life: the threads model's, with park() for waits. */
static void converse(struct coro *co)
{
	struct client *cl = container_of(co, struct client, co);

	echo_waiting(cl->sched->srv, cl->fd, &cl->peer, &cl->waiter);
}

/* Runs the client's coroutine until it parks again, then waits for what it
 * waits for; or, once it has returned, forgets it. Any wake-up is activity. */
static void serve(struct sched *s, struct client *cl)
{
	idle_touch(&s->loop.idle, &cl->idle, s->loop.now_ms);
	loop_mark_busy(&s->loop);
	coro_resume(&cl->co);
	if (coro_done(&cl->co))
		forget(s, cl);
	else if (!rewatch(s, cl, cl->parked_for)) {
		cl->waiter.why = WHY_UNWATCHED; /* its wait fails: it ends */
		serve(s, cl);
	}
}

static void accept_clients(struct sched *s)
{
	struct listener *l = &s->srv->listener;
	struct client *cl;
	struct peer peer;
	int fd;

	while ((fd = accept_nonblocking(l, &peer)) >= 0) {
		if (!accept_admit(l, fd, s->srv->opts.max_clients, ACCEPT_ANY_FD))
			continue;
		cl = (struct client *)coro_create(&s->rt, sizeof *cl, converse, peer_text(&peer));
		if (cl == NULL) {
			log_error("cannot make a coroutine: %s", error_text(errno));
			accept_withdraw(l, fd);
			continue;
		}
		cl->waiter = (struct echo_waiter){park, s->loop.rbuf, NULL};
		cl->sched = s;
		cl->fd = fd;
		cl->peer = peer;
		cl->waiting_for = CONN_CLOSE; /* not registered yet */
		cl->expired = false;
		cl->idle.prev = cl->idle.next = NULL;
		serve(s, cl); /* runs until its first wait */
	}
}

/* A ready client: resume it if it waits for what is ready. EPOLLERR and
 * EPOLLHUP come unasked; its recv or send meets the error. */
static void wake(struct sched *s, struct client *cl, uint32_t ev)
{
	uint32_t ready = (ev & (EPOLLERR | EPOLLHUP)) ? EPOLLIN | EPOLLOUT : ev;

	if (ready & epoll_events(cl->parked_for))
		serve(s, cl);
}

static void run(struct sched *s)
{
	struct epoll_event events[MAX_EVENTS];
	struct idle_link *link;

	while (!stop_requested) {
		int n = epoll_wait(s->epfd, events, MAX_EVENTS, loop_timeout_ms(&s->loop));

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", error_text(errno));
		loop_tick(&s->loop);
		for (int i = 0; i < n; i++) {
			void *p = events[i].data.ptr;

			if (p == &s->signals_mark) {
				if (signals_take(&s->srv->signals) & SIGNALS_STOP)
					break;
			} else if (p == &s->listener_mark) {
				accept_clients(s);
			} else {
				wake(s, p, events[i].events);
			}
		}
		while ((link = idle_first_expired(&s->loop.idle, s->loop.now_ms)) != NULL) {
			struct client *cl = container_of(link, struct client, idle);

			cl->expired = true;
			serve(s, cl);
		}
	}
	/* The stop: every coroutine resumed once more; its driver sees the
	 * stop, ends its connection and returns. */
	while ((link = idle_first(&s->loop.idle)) != NULL)
		serve(s, container_of(link, struct client, idle));
}

static const struct model_info model = {
	.name = "coro",
	.summary = "one thread; a coroutine per connection runs blocking-style code over epoll",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct sched s = {.srv = &srv};

	server_start(&srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&s.loop, &srv);
	/* One read buffer for every coroutine: a driver uses it only within a
	 * read, and only one coroutine runs at a time. */
	if ((s.loop.rbuf = malloc(PROTOCOL_READ_CHUNK)) == NULL)
		die("out of memory for the read buffer");
	if ((s.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", error_text(errno));
	watch(&s, srv.listener.fd, &s.listener_mark);
	watch(&s, srv.signals.fd, &s.signals_mark);
	coro_runtime_init(&s.rt, ECHO_BLOCKING_STACK_SIZE);

	run(&s);

	coro_runtime_destroy(&s.rt);
	close(s.epfd);
	free(s.loop.rbuf);
	return server_finish(&srv);
}
