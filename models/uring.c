/* uring: one thread, io_uring: ask the kernel for work, collect what is done.
 *
 * Every other event loop asks "which sockets are ready?" and then makes the
 * system calls itself (readiness). This one hands the kernel the work in
 * advance and is told when it is finished (completion): requests go into the
 * submission queue (SQ), results come back in the completion queue (CQ), and
 * one io_uring_enter both submits every request queued since the last one and
 * waits for completions. Under load a wake-up carries many completions, so
 * the system calls per message fall well below one.
 *
 * Three requests serve everything:
 *   - one multishot accept on the listening socket: one request, a completion
 *     per new client, for as long as the server runs;
 *   - one recv per connection, with no buffer of its own: the kernel picks a
 *     buffer from a ring of provided buffers we registered (the buffer ring)
 *     when bytes arrive, and names it in the completion (its buffer id):
 *     multishot on small buffers, one at a time on large ones (long messages);
 *   - at most one send per connection, carrying every complete message owed.
 *
 * The rules that make it correct (the pitfalls are in docs/models/uring.md):
 *   - user_data is the connection's address plus an operation tag in its low
 *     bits; nothing is indexed by descriptor.
 *   - a provided buffer is lent to us by the completion that names it and
 *     goes back to the ring exactly once: once the core has taken the bytes,
 *     or once a send of them from the buffer itself (whole messages: no copy,
 *     models/uring/bufring.h) is done. A zero-byte recv is the EOF.
 *   - bytes the connection cannot take yet (it owes too much, or its send in
 *     flight leaves no room) stay in their buffer, parked in order, until it
 *     can; past BUFRING_PARK_LIMIT parked bytes the recv stops.
 *   - ENOBUFS (the ring ran dry) is no error: the recv ended, arm it again.
 *     Any completion without IORING_CQE_F_MORE means its request ended.
 *   - a connection is freed only when none of its requests is in flight:
 *     cancel them, then wait for every completion (the cancel's own too).
 * The protocol itself is common/conn.c; this file only moves bytes.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring/bufring.h"
#include "uring/ring.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "signals.h"

/* What a request was: the tag in the low bits of its user_data (ring.h). */
enum op { OP_ACCEPT = 1, OP_LISTEN_POLL, OP_SIGNALS, OP_RECV, OP_SEND, OP_CANCEL };

struct uconn {
	struct conn c; /* first: common/loop.c sees a struct conn */
	bool recv_armed, recv_multishot, send_busy, closing, recv_stopping; /* stopping: cancelled */
	unsigned cancels;             /* cancel requests in flight */
	struct bufring_held held;     /* buffers parked or lent to a send (uring/bufring.h) */
};
_Static_assert(alignof(struct uconn) > RING_TAG_MASK, "the tag must fit below the pointer");

struct uring_loop {
	struct io_uring ring;
	struct bufring bufs;          /* the provided buffers (models/uring/bufring.h) */
	bool accept_armed, stopping;
	struct loop loop;
};

/* ---------------------------------------------------------------- requests */

static void arm_accept(struct uring_loop *ul)
{
	struct io_uring_sqe *sqe = ring_sqe(&ul->ring);

	/* No address: one multishot request would overwrite one sockaddr with
	 * every client; --verbose asks getpeername instead. */
	io_uring_prep_multishot_accept(sqe, ul->loop.srv->listener.fd, NULL, NULL, SOCK_CLOEXEC);
	ring_set_tag(sqe, NULL, OP_ACCEPT);
	ul->accept_armed = true;
}

/* Out of descriptors, an accept request fails at once, client or no client
 * (io_uring takes the descriptor before it looks for a client), so re-arming
 * it would spin. Wait for a client instead; then accept_nonblocking refuses it
 * the classic way (the spare descriptor) or serves it. */
static void wait_for_client(struct uring_loop *ul)
{
	struct io_uring_sqe *sqe = ring_sqe(&ul->ring);

	io_uring_prep_poll_add(sqe, ul->loop.srv->listener.fd, POLLIN);
	ring_set_tag(sqe, NULL, OP_LISTEN_POLL);
	ul->accept_armed = true;
}

/* The stop signals arrive on a signalfd (common/signals.h): one poll
 * request, completed when SIGTERM or SIGINT is pending. */
static void watch_signals(struct uring_loop *ul)
{
	struct io_uring_sqe *sqe = ring_sqe(&ul->ring);

	io_uring_prep_poll_add(sqe, ul->loop.srv->signals.fd, POLLIN);
	ring_set_tag(sqe, NULL, OP_SIGNALS);
}

static void arm_recv(struct uring_loop *ul, struct uconn *u)
{
	struct io_uring_sqe *sqe = ring_sqe(&ul->ring);

	/* No buffer of its own: the kernel picks one when bytes arrive. */
	u->recv_multishot = bufring_prep_recv(sqe, u->c.fd, &u->held);
	ring_set_tag(sqe, u, OP_RECV);
	u->recv_armed = true;
}

/* One send in flight per connection: the whole messages lent in place in a
 * provided buffer, else every byte the core owes, in one piece. */
static void start_send(struct uring_loop *ul, struct uconn *u)
{
	struct io_uring_sqe *sqe;
	struct iovec iov;

	if (u->send_busy)
		return;
	iov = bufring_to_send(&ul->bufs, &u->c, &u->held);
	if (iov.iov_len == 0)
		return;
	sqe = ring_sqe(&ul->ring);
	io_uring_prep_send(sqe, u->c.fd, iov.iov_base, iov.iov_len, MSG_NOSIGNAL);
	ring_set_tag(sqe, u, OP_SEND);
	u->send_busy = true;
}

/* ---------------------------------------------------------------- closing */

static void free_if_done(struct uring_loop *ul, struct uconn *u)
{
	if (!u->closing || u->recv_armed || u->send_busy || u->cancels > 0)
		return;
	bufring_end_loan(&ul->bufs, &u->held); /* no send reads it any more */
	loop_close(&ul->loop, &u->c); /* closes the descriptor, frees u */
}

/* Cancels the connection's request `op` by its exact user_data, which the
 * kernel finds in a hash (a cancel by descriptor scans every request). */
static void cancel(struct uring_loop *ul, struct uconn *u, enum op op)
{
	ring_cancel(&ul->ring, ring_user_data(u, op), ring_user_data(u, OP_CANCEL));
	u->cancels++;
}

/* Cancels whatever is in flight; the connection is freed, its descriptor
 * closed (its number free for a new client), once the last completion (the
 * cancel's own too) is in: no old request can name it any more. */
static void begin_close(struct uring_loop *ul, struct uconn *u)
{
	if (u->closing)
		return;
	u->closing = true;
	idle_remove(&u->c.idle);
	bufring_drop_parked(&ul->bufs, &u->held);
	if (u->recv_armed)
		cancel(ul, u, OP_RECV);
	if (u->send_busy)
		cancel(ul, u, OP_SEND);
	free_if_done(ul, u);
}

/* A multishot recv cannot be paused: it is cancelled, and re-armed later
 * (a single recv needs no cancel: it is just not armed again). */
static void stop_recv(struct uring_loop *ul, struct uconn *u)
{
	if (u->recv_armed && u->recv_multishot && !u->recv_stopping && !u->closing) {
		cancel(ul, u, OP_RECV);
		u->recv_stopping = true;
	}
}

/* After any event: take parked input, then send, read or close as the
 * connection wants. Input the core cannot take yet (past the owed limit) is
 * parked, and the recv runs on until too much is: then it stops, the
 * client's further bytes wait in the kernel and TCP throttles it. */
static void progress(struct uring_loop *ul, struct uconn *u)
{
	enum conn_want want;

	if (!bufring_take_parked(&ul->bufs, &u->c, &u->held)) {
		begin_close(ul, u); /* out of memory: the core marked it */
		return;
	}
	want = conn_wants(&u->c);
	if (want == CONN_CLOSE && !u->send_busy) {
		begin_close(ul, u);
		return;
	}
	if (want & CONN_WANT_WRITE)
		start_send(ul, u);
	if (bufring_parked_full(&u->held))
		stop_recv(ul, u);
	else if (!u->recv_armed && !u->held.eof && ((want & CONN_WANT_READ) ||
	         u->c.phase == CONN_ECHOING || u->c.phase == CONN_REJECTING))
		arm_recv(ul, u); /* past the owed limit, or discarding: still read */
}

/* ---------------------------------------------------------------- completions */

/* A client the kernel accepted: a connection, unless loop_open_conn refuses
 * it, and its first recv. */
static void start_client(struct uring_loop *ul, int fd, struct peer *peer)
{
	struct conn *c;
	struct uconn *u;

	if (ul->stopping) {
		close(fd);
		return;
	}
	if (ul->loop.srv->opts.verbose && peer->family == 0)
		peer_of_socket(peer, fd);
	c = loop_open_conn(&ul->loop, fd, peer, sizeof *u, LOOP_ANY_FD);
	if (c == NULL)
		return; /* refused: over --max-clients */
	u = container_of(c, struct uconn, c);
	u->recv_armed = u->recv_multishot = u->recv_stopping = u->send_busy = u->closing = false;
	u->cancels = 0;
	u->held = (struct bufring_held){0};
	arm_recv(ul, u);
}

static void on_accept(struct uring_loop *ul, int res, unsigned flags)
{
	struct peer peer = { .family = 0 };

	if (!(flags & IORING_CQE_F_MORE))
		ul->accept_armed = false; /* re-armed after this batch */
	if (res >= 0)
		start_client(ul, res, &peer);
	else if (res == -EMFILE || res == -ENFILE)
		wait_for_client(ul);
	else if (res != -ECANCELED)
		log_error("accept: %s", strerror(-res));
}

/* A client waits while we were out of descriptors. */
static void on_listen_poll(struct uring_loop *ul)
{
	struct peer peer = { .family = 0 };
	int fd;

	ul->accept_armed = false; /* the multishot accept again, after this batch */
	while ((fd = accept_nonblocking(&ul->loop.srv->listener, &peer)) >= 0)
		start_client(ul, fd, &peer);
}

static void on_recv(struct uring_loop *ul, struct uconn *u, int res, unsigned flags)
{
	int bid = (flags & IORING_CQE_F_BUFFER) ? (int)(flags >> IORING_CQE_BUFFER_SHIFT) : -1;

	if (!(flags & IORING_CQE_F_MORE))
		u->recv_armed = u->recv_stopping = false;
	if (res > 0 && bid < 0)
		die("io_uring: a recv completion without its buffer");
	if (bufring_regroup(&u->held, bid, res))
		stop_recv(ul, u); /* re-armed on the other buffers */
	/* free_if_done and begin_close may free u: nothing touches it after. */
	if (u->closing) {
		if (bid >= 0) /* lent, and nobody will take the bytes */
			bufring_give_back(&ul->bufs, bid);
		free_if_done(ul, u);
	} else if (res >= 0) {
		/* Bytes, or (0) the client's EOF: taken now or parked. */
		if (res > 0)
			loop_touch(&ul->loop, &u->c);
		if (bufring_take_or_park(&ul->bufs, &u->c, &u->held, bid, (size_t)res))
			progress(ul, u);
		else
			begin_close(ul, u); /* out of memory: the core marked it */
	} else if (res == -ENOBUFS || res == -ECANCELED) {
		progress(ul, u); /* the ring ran dry, or our cancel: re-armed if wanted */
	} else {
		conn_fail(&u->c, CONN_WHY_RESET);
		begin_close(ul, u);
	}
}

static void on_send(struct uring_loop *ul, struct uconn *u, int res)
{
	u->send_busy = false;
	if (u->closing) {
		free_if_done(ul, u);
		return;
	}
	if (res < 0) {
		bufring_sent(&ul->bufs, &u->c, &u->held, 0, ul->loop.srv->stats); /* ends the loan */
		conn_fail(&u->c, res == -ECONNRESET || res == -EPIPE ? CONN_WHY_RESET : CONN_WHY_WRITE);
		begin_close(ul, u);
		return;
	}
	loop_touch(&ul->loop, &u->c);
	/* A short send leaves the rest owed: progress() sends it next. After
	 * the error line, conn_sent sends the FIN itself. */
	bufring_sent(&ul->bufs, &u->c, &u->held, (size_t)res, ul->loop.srv->stats);
	progress(ul, u);
}

static void dispatch(struct uring_loop *ul, const struct io_uring_cqe *cqe)
{
	uint64_t data = io_uring_cqe_get_data64(cqe);
	struct uconn *u = ring_owner(data);

	switch ((enum op)ring_tag(data)) {
	case OP_ACCEPT:
		on_accept(ul, cqe->res, cqe->flags);
		break;
	case OP_LISTEN_POLL:
		on_listen_poll(ul);
		break;
	case OP_SIGNALS:
		if (!(signals_take(&ul->loop.srv->signals) & SIGNALS_STOP))
			watch_signals(ul);
		break;
	case OP_RECV:
		on_recv(ul, u, cqe->res, cqe->flags);
		break;
	case OP_SEND:
		on_send(ul, u, cqe->res);
		break;
	case OP_CANCEL: /* u NULL: the listener's, at shutdown */
		if (u != NULL && --u->cancels == 0)
			free_if_done(ul, u);
		break;
	default:
		die("io_uring: a completion with an unknown tag %llu", (unsigned long long)data);
	}
}

/* ---------------------------------------------------------------- the loop */

/* One io_uring_enter: submits everything queued since the last one, runs
 * the kernel's deferred work and waits for a completion or the next idle
 * expiry; then handles every completion there is. */
static void wait_and_dispatch(struct uring_loop *ul)
{
	int ms = loop_timeout_ms(&ul->loop);
	struct __kernel_timespec ts = {ms / 1000, (ms % 1000) * 1000000LL};
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int rc;

	rc = io_uring_submit_and_wait_timeout(&ul->ring, &cqe, 1, ms >= 0 ? &ts : NULL, NULL);
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
		die("io_uring_enter: %s", strerror(-rc));
	loop_tick(&ul->loop);
	io_uring_for_each_cqe(&ul->ring, head, cqe) {
		dispatch(ul, cqe);
		seen++;
	}
	io_uring_cq_advance(&ul->ring, seen);
	bufring_publish(&ul->bufs);
}

static const struct model_info model = {
	.name = "uring",
	.summary = "one thread; io_uring: requests submitted in advance, completions collected in batches",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct uring_loop ul = {0};
	struct conn *c;

	server_prepare(&srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	ring_setup(&ul.ring, &ul.bufs);
	server_listen(&srv, &model, SERVER_EVENT_DRIVEN);
	loop_init(&ul.loop, &srv);
	watch_signals(&ul);

	while (!stop_requested) {
		if (!ul.accept_armed)
			arm_accept(&ul);
		wait_and_dispatch(&ul);
		while ((c = loop_next_expired(&ul.loop)) != NULL)
			begin_close(&ul, container_of(c, struct uconn, c));
	}
	/* Stop: cancel the accept and every connection's requests, and wait
	 * for them all to come back. */
	ul.stopping = true;
	if (ul.accept_armed)
		ring_cancel_fd(&ul.ring, srv.listener.fd, ring_user_data(NULL, OP_CANCEL));
	while ((c = loop_next_to_stop(&ul.loop)) != NULL)
		begin_close(&ul, container_of(c, struct uconn, c));
	while (atomic_load(&srv.stats->open) > 0)
		wait_and_dispatch(&ul);
	ring_teardown(&ul.ring, &ul.bufs);
	loop_close_all(&ul.loop); /* nothing is left open by now */
	return server_finish(&srv);
}
