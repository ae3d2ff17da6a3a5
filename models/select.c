/* select: one thread, every client in two bitmaps.
 *
 * The loop: wait in select() until some sockets are ready, give each ready one
 * to its connection's state machine (common/conn.c), and record what that
 * connection wants to wait for next. Nothing ever blocks except select itself,
 * so one slow client cannot stall the others.
 *
 * select is the oldest readiness API and it shows. The sets are bitmaps of
 * FD_SETSIZE (1024) bits: FD_SET on a descriptor >= FD_SETSIZE writes past
 * the end of the bitmap, corrupting memory, so such a client is refused with
 * "ERR server busy" instead. select overwrites its sets, so they are rebuilt
 * before every call, and the kernel and this loop both scan every descriptor
 * up to the highest one: O(all clients) per wake-up even when one is ready.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include "log.h"
#include "loop.h"
#include "server.h"
#include "signals.h"

/* conns[fd] is the client on descriptor fd and waiting_for[fd] what it
 * waits for; max_fd, the highest descriptor watched (the listener's and the
 * signals' at least), bounds every scan. */
struct wait_set {
	struct conn *conns[FD_SETSIZE];
	enum conn_want waiting_for[FD_SETSIZE];
	int listen_fd, signal_fd, max_fd;
};

static void watch(struct wait_set *ws, int fd, struct conn *c, enum conn_want want)
{
	ws->conns[fd] = c;
	ws->waiting_for[fd] = want;
	if (fd > ws->max_fd)
		ws->max_fd = fd;
}

static void forget(struct wait_set *ws, struct loop *loop, int fd)
{
	loop_close(loop, ws->conns[fd]);
	ws->conns[fd] = NULL;
	while (ws->max_fd > ws->listen_fd && ws->max_fd > ws->signal_fd &&
	       ws->conns[ws->max_fd] == NULL)
		ws->max_fd--;
}

static void accept_clients(struct loop *loop, struct wait_set *ws)
{
	struct conn *c;

	/* FD_SETSIZE: a descriptor select cannot watch is refused, never set. */
	while ((c = loop_accept(loop, sizeof *c, FD_SETSIZE)) != NULL)
		watch(ws, c->fd, c, conn_wants(c));
}

/* select overwrites its arguments with the result, so the sets of what we
 * wait for are built anew before every call. */
static void fill_sets(const struct wait_set *ws, fd_set *rd, fd_set *wr)
{
	FD_ZERO(rd);
	FD_ZERO(wr);
	FD_SET(ws->listen_fd, rd);
	FD_SET(ws->signal_fd, rd);
	for (int fd = 0; fd <= ws->max_fd; fd++) {
		if (ws->conns[fd] != NULL && (ws->waiting_for[fd] & CONN_WANT_READ))
			FD_SET(fd, rd);
		if (ws->conns[fd] != NULL && (ws->waiting_for[fd] & CONN_WANT_WRITE))
			FD_SET(fd, wr);
	}
}

static const struct model_info model = {
	.name = "select",
	.summary = "one thread; select() scans a bitmap of every client on each wait",
};

int main(int argc, char **argv)
{
	static struct wait_set ws; /* 8 KiB of pointers: too big for the stack */
	struct server srv;
	struct loop loop;
	struct conn *expired;
	fd_set rd, wr;

	server_start(&srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&loop, &srv);
	if (srv.listener.fd >= FD_SETSIZE || srv.signals.fd >= FD_SETSIZE)
		die("the listening socket or the signalfd is beyond select's %d descriptors",
		    FD_SETSIZE);
	ws.listen_fd = srv.listener.fd;
	ws.signal_fd = srv.signals.fd;
	ws.max_fd = ws.listen_fd > ws.signal_fd ? ws.listen_fd : ws.signal_fd;

	while (!stop_requested) {
		int timeout = loop_timeout_ms(&loop);
		struct timeval tv = {timeout / 1000, (timeout % 1000) * 1000L};

		fill_sets(&ws, &rd, &wr);
		/* Not pselect with a signal mask: that delivers a signal only if the
		 * call sleeps, and a busy client keeps it from ever sleeping. The
		 * signals are one more descriptor in rd, seen like any ready socket. */
		if (select(ws.max_fd + 1, &rd, &wr, NULL, timeout < 0 ? NULL : &tv) < 0) {
			if (errno == EINTR)
				continue;
			die("select: %s", error_text(errno));
		}
		loop_tick(&loop);
		if (FD_ISSET(ws.signal_fd, &rd) && (signals_take(&srv.signals) & SIGNALS_STOP))
			break;
		if (FD_ISSET(ws.listen_fd, &rd))
			accept_clients(&loop, &ws);

		/* New clients are not in this round's sets, so they are skipped. */
		for (int fd = 0; fd <= ws.max_fd; fd++) {
			bool readable = FD_ISSET(fd, &rd) && ws.conns[fd] != NULL;
			bool writable = FD_ISSET(fd, &wr);

			if (!readable && !writable)
				continue;
			enum conn_want want = loop_serve(&loop, ws.conns[fd], readable, writable,
			                                 LOOP_READS_LEVEL, NULL);
			if (want == CONN_CLOSE) {
				forget(&ws, &loop, fd);
				continue;
			}
			ws.waiting_for[fd] = want;
		}
		while ((expired = loop_next_expired(&loop)) != NULL)
			forget(&ws, &loop, expired->fd);
	}
	loop_close_all(&loop);
	return server_finish(&srv);
}
