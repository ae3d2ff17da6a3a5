/* epoll-et: the epoll model, edge-triggered.
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
 * Trigger mode: edge-triggered (EPOLLET). epoll reports a socket when it
 * becomes ready (new bytes arrived, room was made to send), not for as long
 * as it is ready: input left unread is never reported again. Hence the
 * rules, each a pitfall of edge-triggering (models/epoll.c, level-triggered,
 * needs none of them):
 *   - read until EAGAIN: a connection reads up to READ_BUDGET times per
 *     wake-up (64 KiB each), and only a read that found the socket empty
 *     ("drained", conn.h) means the next bytes bring a new edge;
 *   - the budget keeps one fast sender from starving the rest: every byte
 *     read is echoed in the same turn, so what one connection may read per
 *     turn is how long the others wait. A connection that used it up, or
 *     whose reads backpressure stopped (too much echo owed to a client
 *     that does not read), still has input that no edge will announce: it
 *     goes on the ready list, and the next round serves it after the
 *     others, without waiting (epoll_wait with timeout 0);
 *   - re-arming: EPOLL_CTL_MOD makes the kernel look at the socket again,
 *     so interest added while the socket is already ready (EPOLLIN once the
 *     echo is out, EPOLLOUT once echo is owed) is reported at once, and a
 *     change of interest never misses a wake-up;
 *   - a send that ended short or with EAGAIN filled the socket buffer: the
 *     EPOLLOUT edge comes when the client's ACKs make room. EPOLLHUP and
 *     EPOLLERR come once too: they are served as readable, and the read
 *     meets the EOF or the error;
 *   - the listener and the signals stay level-triggered (watch), and echo
 *     still owed re-arms every round (rewatch).
 * The cost: one more read per wake-up (the one that finds EAGAIN), and the
 * ready list; the gain: the kernel never reports a socket we have already
 * been told about. Write interest (EPOLLOUT) is registered only while echo
 * is owed, as in epoll.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "server.h"
#include "signals.h"

#define MAX_EVENTS 256
#define WHY_UNWATCHED "cannot watch it (epoll_ctl failed)"
/* Reads per wake-up: the one level-triggered epoll makes (up to 64 KiB) and
 * the one that finds EAGAIN. A wake-up that brought one buffer or less (a
 * ping-pong client, most pipelined ones) is drained in one turn; a fast
 * sender reads at most 128 KiB a turn and then waits its turn on the ready
 * list. libuv's 32 reads let it hold the loop for 2 MiB a turn. */
#define READ_BUDGET 2

/* A place on the ready list (next NULL: not on it). */
struct ready_link {
	struct ready_link *prev, *next;
};

/* A connection and what epoll has been told to watch for it: loop_accept
 * allocates the whole struct (it is told its size), container_of gets back
 * to it. */
struct client {
	struct conn conn;           /* first: loop_accept and loop_close see only this */
	enum conn_want waiting_for; /* the interest registered with epoll_ctl */
	bool unread;                /* its last reads stopped before EAGAIN */
	struct ready_link ready;    /* served next round without an edge */
};

/* The kernel holds the registrations; data.ptr is the client, or the
 * address of one of the two marks for the listening socket and the signals
 * (signals.h): those are never used as clients, only compared. `ready` is
 * the head of the ready list (a circle through the clients on it). */
struct wait_set {
	int epfd;
	struct client listener_mark, signals_mark;
	struct ready_link ready;
};

static uint32_t epoll_events(enum conn_want want)
{
	return ((want & CONN_WANT_READ) ? EPOLLIN : 0) | ((want & CONN_WANT_WRITE) ? EPOLLOUT : 0) |
	       EPOLLET;
}

static void ready_init(struct ready_link *head)
{
	head->prev = head->next = head;
}

static void ready_add(struct wait_set *ws, struct client *cl)
{
	cl->ready.prev = ws->ready.prev;
	cl->ready.next = &ws->ready;
	ws->ready.prev->next = &cl->ready;
	ws->ready.prev = &cl->ready;
}

static void ready_remove(struct client *cl)
{
	if (cl->ready.next == NULL)
		return;
	cl->ready.prev->next = cl->ready.next;
	cl->ready.next->prev = cl->ready.prev;
	cl->ready.next = NULL;
}

/* The clients on the ready list move to `due`, this round's; any client
 * queued while they are served waits for the next round. */
static void ready_take(struct wait_set *ws, struct ready_link *due)
{
	ready_init(due);
	if (ws->ready.next == &ws->ready)
		return;
	*due = ws->ready;
	due->next->prev = due->prev->next = due;
	ready_init(&ws->ready);
}

/* Fails only when the kernel is out of memory for registrations (ENOMEM,
 * or ENOSPC past fs.epoll.max_user_watches): that costs the one client its
 * connection, never the server, and its close line says why. */
static bool watch(struct wait_set *ws, int fd, struct client *cl, enum conn_want want)
{
	struct epoll_event ev = {.events = epoll_events(want), .data.ptr = cl};

	/* The listener and the signals stay level-triggered: an accept that
	 * fails for want of memory leaves the client in the backlog, and no new
	 * edge would ever announce it. */
	if (cl == &ws->listener_mark || cl == &ws->signals_mark)
		ev.events &= ~(uint32_t)EPOLLET;
	cl->unread = false;
	cl->ready.next = NULL;
	if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_error("epoll_ctl ADD: %s", error_text(errno));
		conn_fail(&cl->conn, WHY_UNWATCHED);
		return false;
	}
	cl->waiting_for = want;
	return true;
}

/* One system call, when what the client waits for changes, or while echo
 * is still owed: a send stopped short, and the MOD makes the kernel look at
 * the socket again now. Had room appeared since (or the EAGAIN not been
 * about a full buffer), no edge would ever report it. */
static bool rewatch(struct wait_set *ws, struct client *cl, enum conn_want want)
{
	struct epoll_event ev = {.events = epoll_events(want), .data.ptr = cl};

	if (want == cl->waiting_for && !(want & CONN_WANT_WRITE))
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
	ready_remove(cl);
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

/* One ready client: reads until EAGAIN or the budget, the writes, the new
 * interest, and a place on the ready list if input may be left unread. */
static void serve(struct loop *loop, struct wait_set *ws, struct client *cl, uint32_t ev)
{
	/* EPOLLERR and EPOLLHUP are always reported, asked for or not; treat
	 * them as readable: the read returns the error or EOF and the
	 * connection decides. */
	bool readable = ev & (EPOLLIN | EPOLLERR | EPOLLHUP), drained;
	enum conn_want want = loop_serve(loop, &cl->conn, readable, ev & EPOLLOUT, READ_BUDGET,
	                                 &drained);

	if (readable)
		cl->unread = !drained;
	ready_remove(cl);
	if (want == CONN_CLOSE || !rewatch(ws, cl, want))
		forget(ws, loop, cl);
	else if ((want & CONN_WANT_READ) && cl->unread)
		ready_add(ws, cl); /* no edge will come for what is already there */
}

/* The whole loop, over the loop's listening socket, until a stop is
 * requested; every connection is closed on the way out. */
static void epoll_serve(struct loop *loop)
{
	struct signals *signals = &loop->srv->signals;
	struct wait_set ws;
	struct conn *expired;
	struct epoll_event events[MAX_EVENTS];
	struct ready_link due;

	ws.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ws.epfd < 0)
		die("epoll_create1: %s", error_text(errno));
	if (!watch(&ws, loop->listener->fd, &ws.listener_mark, CONN_WANT_READ) ||
	    !watch(&ws, signals->fd, &ws.signals_mark, CONN_WANT_READ))
		die("cannot watch the listening socket and the signals");
	ready_init(&ws.ready);

	while (!stop_requested) {
		/* Not epoll_pwait with a signal mask: that delivers a signal only if
		 * the call sleeps, and a busy client keeps it from ever sleeping.
		 * The signals are one more registration, reported like a socket. */
		int n = epoll_wait(ws.epfd, events, MAX_EVENTS,
		                   ws.ready.next != &ws.ready ? 0 : loop_timeout_ms(loop));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", error_text(errno));
		}
		loop_tick(loop);
		ready_take(&ws, &due);

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
		while (due.next != &due) /* serve takes each off the list */
			serve(loop, &ws, container_of(due.next, struct client, ready), EPOLLIN);
		while ((expired = loop_next_expired(loop)) != NULL)
			forget(&ws, loop, container_of(expired, struct client, conn));
	}
	loop_close_all(loop);
	close(ws.epfd);
}

static const struct model_info model = {
	.name = "epoll-et",
	.summary = "one thread; epoll, edge-triggered: read until EAGAIN or a budget, a ready list",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct loop loop;

	server_start(&srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&loop, &srv);
	epoll_serve(&loop);
	return server_finish(&srv);
}
