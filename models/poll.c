/* poll: one thread, every client in one pollfd array.
 *
 * The loop: wait in poll() until some sockets are ready, give each ready one
 * to its connection's state machine (common/conn.c), and record what that
 * connection wants to wait for next. Nothing ever blocks except poll itself,
 * so one slow client cannot stall the others.
 *
 * poll fixes select's worst limits (no FD_SETSIZE cap, the set is not
 * rewritten by the call) but keeps its cost: every call hands the kernel the
 * whole array and the kernel checks every entry, so a wake-up costs O(all
 * clients) even when one is ready. epoll.c removes exactly that.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "server.h"
#include "signals.h"

/* fds[0] is the listening socket, fds[1] the signals (signals.h); fds[i]
 * for i >= FIRST_CLIENT is clients[i]'s socket. */
enum { LISTENER, SIGNALS, FIRST_CLIENT };

/* A connection and where it sits in the pollfd array: loop_accept allocates
 * the whole struct (it is told its size), container_of gets back to it. */
struct client {
	struct conn conn; /* first: loop_accept and loop_close see only this */
	size_t slot;      /* index in fds[] and clients[] */
};

struct wait_set {
	struct pollfd *fds;
	struct client **clients;
	size_t count, cap;
};

static short poll_events(enum conn_want want)
{
	return (short)(((want & CONN_WANT_READ) ? POLLIN : 0) |
	               ((want & CONN_WANT_WRITE) ? POLLOUT : 0));
}

static void watch(struct wait_set *ws, int fd, struct client *cl, enum conn_want want)
{
	if (ws->count == ws->cap) {
		/* Doubling keeps the cost of growing to n clients O(n) overall. */
		size_t cap = ws->cap ? ws->cap * 2 : 64;
		struct pollfd *fds = realloc(ws->fds, cap * sizeof *fds);
		struct client **clients = fds ? realloc(ws->clients, cap * sizeof *clients) : NULL;

		if (fds == NULL || clients == NULL)
			die("out of memory for %zu pollfds", cap);
		ws->fds = fds;
		ws->clients = clients;
		ws->cap = cap;
	}
	ws->fds[ws->count] = (struct pollfd){.fd = fd, .events = poll_events(want)};
	ws->clients[ws->count] = cl;
	if (cl != NULL)
		cl->slot = ws->count;
	ws->count++;
}

/* Removes slot i by moving the last entry into it. The caller must look at
 * slot i again: it now holds a client that has not been served this round. */
static void forget(struct wait_set *ws, struct loop *loop, size_t i)
{
	loop_close(loop, &ws->clients[i]->conn);
	if (i != --ws->count) {
		ws->fds[i] = ws->fds[ws->count];
		ws->clients[i] = ws->clients[ws->count];
		ws->clients[i]->slot = i;
	}
}

static void accept_clients(struct loop *loop, struct wait_set *ws)
{
	struct conn *c;

	while ((c = loop_accept(loop, sizeof(struct client), LOOP_ANY_FD)) != NULL)
		watch(ws, c->fd, container_of(c, struct client, conn), conn_wants(c));
}

static const struct model_info model = {
	.name = "poll",
	.summary = "one thread; poll() scans an array of every client on each wait",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct loop loop;
	struct wait_set ws = {0};
	struct conn *expired;

	server_start(&srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&loop, &srv);
	watch(&ws, srv.listener.fd, NULL, CONN_WANT_READ);
	watch(&ws, srv.signals.fd, NULL, CONN_WANT_READ);

	while (!stop_requested) {
		/* Not ppoll with a signal mask: that delivers a signal only if the
		 * call sleeps, and a busy client keeps it from ever sleeping. The
		 * signals are fds[SIGNALS], seen like any ready socket. */
		if (poll(ws.fds, ws.count, loop_timeout_ms(&loop)) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", error_text(errno));
		}
		loop_tick(&loop);
		if (ws.fds[SIGNALS].revents && (signals_take(&srv.signals) & SIGNALS_STOP))
			break;
		if (ws.fds[LISTENER].revents & POLLIN)
			accept_clients(&loop, &ws);

		/* New clients were appended with revents 0, so they are skipped. */
		for (size_t i = FIRST_CLIENT; i < ws.count;) {
			short ev = ws.fds[i].revents;

			if (ev == 0) {
				i++;
				continue;
			}
			/* An error or hang-up is reported as readable: the read that
			 * follows returns the error or EOF and the connection decides. */
			enum conn_want want = loop_serve(&loop, &ws.clients[i]->conn,
			                                 ev & (POLLIN | POLLERR | POLLHUP),
			                                 ev & POLLOUT, LOOP_READS_LEVEL, NULL);
			if (want == CONN_CLOSE) {
				forget(&ws, &loop, i); /* slot i changed: examine it again */
				continue;
			}
			ws.fds[i].events = poll_events(want);
			i++;
		}
		while ((expired = loop_next_expired(&loop)) != NULL)
			forget(&ws, &loop, container_of(expired, struct client, conn)->slot);
	}
	loop_close_all(&loop);
	free(ws.fds);
	free(ws.clients);
	return server_finish(&srv);
}
