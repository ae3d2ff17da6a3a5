/* epoll: one thread, every client registered once with the kernel.
 *
 * The loop: wait in epoll_wait() until some sockets are ready, give each ready
 * one to its connection's state machine (common/conn.c), and record what that
 * connection wants to wait for next. Nothing ever blocks except epoll_wait,
 * so one slow client cannot stall the others.
 *
 * Unlike select and poll, the set of watched sockets lives in the kernel: a
 * client is registered once (epoll_ctl ADD), changed only when what it waits
 * for changes (MOD), and each wait returns only the ready ones. A wake-up
 * costs O(ready clients), not O(all clients), which is why this loop scales
 * to tens of thousands of mostly idle connections.
 *
 * Trigger mode: level-triggered, the same semantics as select and poll, so
 * the connection code is shared unchanged. A connection reads once per
 * wake-up (up to 64 KiB) and, if more is waiting, is simply reported again
 * next round, which keeps one busy client from starving the rest. Edge-
 * triggered mode would force reading until EAGAIN (an extra failing read per
 * message) and a ready list of our own to stay fair. Write interest (EPOLLOUT)
 * is registered only while echo is owed; otherwise a writable socket would
 * wake the loop on every round.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "epoll.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "signals.h"

#define MAX_EVENTS 256
#define WHY_UNWATCHED "cannot watch it (epoll_ctl failed)"

/* A connection and what epoll has been told to watch for it: loop_accept
 * allocates the whole struct (it is told its size), container_of gets back
 * to it. */
struct client {
	struct conn conn;           /* first: loop_accept and loop_close see only this */
	enum conn_want waiting_for; /* the interest registered with epoll_ctl */
};

/* The kernel holds the registrations; data.ptr is the client, or the
 * address of one of the two marks for the listening socket (or the intake a
 * loop is handed its clients through: loop_intake_fd) and the signals
 * (signals.h): those are never used as clients, only compared. */
struct wait_set {
	int epfd;
	struct client listener_mark, signals_mark;
};

static uint32_t epoll_events(enum conn_want want)
{
	return ((want & CONN_WANT_READ) ? EPOLLIN : 0) | ((want & CONN_WANT_WRITE) ? EPOLLOUT : 0);
}

/* Fails only when the kernel is out of memory for registrations (ENOMEM,
 * or ENOSPC past fs.epoll.max_user_watches): that costs the one client its
 * connection, never the server, and its close line says why. */
static bool watch(struct wait_set *ws, int fd, struct client *cl, enum conn_want want)
{
	struct epoll_event ev = {.events = epoll_events(want), .data.ptr = cl};

	if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_error("epoll_ctl ADD: %s", error_text(errno));
		conn_fail(&cl->conn, WHY_UNWATCHED);
		return false;
	}
	cl->waiting_for = want;
	return true;
}

/* One system call, and only when what the client waits for really changes. */
static bool rewatch(struct wait_set *ws, struct client *cl, enum conn_want want)
{
	struct epoll_event ev = {.events = epoll_events(want), .data.ptr = cl};

	if (want == cl->waiting_for)
		return true;
	if (epoll_ctl(ws->epfd, EPOLL_CTL_MOD, cl->conn.fd, &ev) < 0) {
		log_error("epoll_ctl MOD: %s", error_text(errno));
		conn_fail(&cl->conn, WHY_UNWATCHED);
		return false;
	}
	cl->waiting_for = want;
	return true;
}

/* close() drops the registration by itself; the events already returned in
 * this round for other clients are unaffected, since each carries its own
 * pointer. */
static void forget(struct wait_set *ws, struct loop *loop, struct client *cl)
{
	(void)ws;
	loop_close(loop, &cl->conn);
}

static void accept_clients(struct loop *loop, struct wait_set *ws)
{
	struct conn *c;

	while ((c = loop_accept(loop, sizeof(struct client), LOOP_ANY_FD)) != NULL) {
		struct client *cl = container_of(c, struct client, conn);

		if (!watch(ws, c->fd, cl, conn_wants(c)))
			forget(ws, loop, cl);
	}
}

/* One ready client: one read (level-triggered: if more is waiting, the next
 * epoll_wait says so again), the writes, and the new interest. */
static void serve(struct loop *loop, struct wait_set *ws, struct client *cl, uint32_t ev)
{
	/* EPOLLERR and EPOLLHUP are always reported, asked for or not; treat
	 * them as readable: the read returns the error or EOF and the
	 * connection decides. */
	enum conn_want want = loop_serve(loop, &cl->conn, ev & (EPOLLIN | EPOLLERR | EPOLLHUP),
	                                 ev & EPOLLOUT, LOOP_READS_LEVEL, NULL);

	if (want == CONN_CLOSE || !rewatch(ws, cl, want))
		forget(ws, loop, cl);
}

/* The whole loop, over the loop's listening socket, until a stop is
 * requested; every connection is closed on the way out. main() below runs it
 * once; models/reuseport.c runs this same function in each of its threads,
 * each over a listening socket of its own (hence a parameter, not main), as
 * models/acceptor.c does over the intake each thread is handed clients by,
 * and passes `ready`, a barrier to wait at once the epoll instance is open
 * (main passes NULL). */
void epoll_serve(struct loop *loop, pthread_barrier_t *ready)
{
	struct signals *signals = &loop->srv->signals;
	struct wait_set ws;
	struct conn *expired;
	struct epoll_event events[MAX_EVENTS];

	ws.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ws.epfd < 0)
		die("epoll_create1: %s", error_text(errno));
	if (!watch(&ws, loop_intake_fd(loop), &ws.listener_mark, CONN_WANT_READ) ||
	    !watch(&ws, signals->fd, &ws.signals_mark, CONN_WANT_READ))
		die("cannot watch the listening socket and the signals");
	if (ready != NULL)
		loop_barrier_wait(ready); /* reuseport announces once all got here */

	while (!stop_requested) {
		/* Not epoll_pwait with a signal mask: that delivers a signal only if
		 * the call sleeps, and a busy client keeps it from ever sleeping.
		 * The signals are one more registration, reported like a socket. */
		int n = epoll_wait(ws.epfd, events, MAX_EVENTS, loop_timeout_ms(loop));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", error_text(errno));
		}
		loop_tick(loop);

		for (int i = 0; i < n; i++) {
			struct client *cl = events[i].data.ptr;

			if (cl == &ws.signals_mark) {
				if (signals_take(signals) & SIGNALS_STOP)
					break;
				continue;
			}
			if (cl == &ws.listener_mark) {
				accept_clients(loop, &ws);
				continue;
			}
			serve(loop, &ws, cl, events[i].events);
		}
		while ((expired = loop_next_expired(loop)) != NULL)
			forget(&ws, loop, container_of(expired, struct client, conn));
	}
	loop_close_all(loop);
	close(ws.epfd);
}

static const struct model_info model = {
	.name = "epoll",
	.summary = "one thread; epoll keeps the clients in the kernel and returns the ready ones",
};

/* Weak: bin/echo-reuseport links this file too, for epoll_serve, and
 * brings a main of its own, which the linker then takes instead. */
__attribute__((weak)) int main(int argc, char **argv)
{
	struct server srv;
	struct loop loop;

	server_start(&srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&loop, &srv);
	epoll_serve(&loop, NULL);
	return server_finish(&srv);
}
