/* libuv: the event loop of Node.js; our callbacks get results, not readiness.
 *
 * Nearest sibling: models/libev.c, function for function. libev says a socket
 * is ready and we make the system calls; libuv makes them and calls us with
 * the outcome (completion, as io_uring does). Its allocation callback gives
 * each read(2) the loop's one read buffer: the core (common/conn.c) copies
 * what it keeps before the next read. A uv_write owns its bytes until its
 * callback: the core lends them (conn_to_send ... conn_sent) and the request
 * lives in the client; uv_try_write goes first, so most echoes need neither.
 * uv_close closes the socket at once, but the handle is libuv's until its
 * close callback, the one place a client is freed. The listener is a
 * uv_poll_t accepted by common/loop.c, so refusals are every model's;
 * SIGINT/SIGTERM come through uv_signal_t, the idle timeout through one
 * uv_timer_t for the quietest client, as in libev.c.
 */
#include <signal.h>
#include <stdlib.h>
#include <uv.h>

#include "log.h"
#include "loop.h"
#include "protocol.h"
#include "server.h"
#include "signals.h"

struct client {
	struct conn conn; /* first: loop_accept and loop_release see only this */
	uv_tcp_t tcp;
	uv_write_t write; /* the send in flight, if any */
	size_t sending;   /* its bytes (the core's loan); 0: none */
	bool reading;     /* uv_read_start in force */
};

struct echo_loop {
	uv_loop_t uv;
	struct server srv;
	struct loop loop;
	uv_poll_t accept_watcher;
	uv_timer_t idle_timer;
	uv_check_t expiry;
	uv_signal_t sigint, sigterm;
};

/* A uv_write calls back only when complete, the one sign that a slow reader
 * reads (activity, for the idle timeout): a long echo goes in pieces. */
#define SEND_PIECE (256 * 1024)

static void on_idle_timer(uv_timer_t *w);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_written(uv_write_t *req, int status);

static void check(int rc, const char *what)
{
	if (rc < 0)
		die("libuv: %s: %s", what, uv_strerror(rc));
}

/* Every callback reads the clock (clock_gettime: the vDSO, no system call).
 * libuv runs nothing of ours between its wait and the I/O callbacks, as
 * libev.c's check watcher does, and its own uv_now need not have been
 * updated after the wait: a touch dated from it would be early. */
static struct echo_loop *wake(const uv_handle_t *h)
{
	struct echo_loop *el = h->loop->data;

	loop_tick(&el->loop);
	return el;
}

/* The one timer serves the loop's deadlines (loop_timeout_ms); re-armed only
 * when the deadline comes sooner than the armed one. */
static void arm_idle_timer(struct echo_loop *el)
{
	int ms = loop_timeout_ms(&el->loop);

	if (ms < 0 || (uv_is_active((uv_handle_t *)&el->idle_timer) &&
	               uv_timer_get_due_in(&el->idle_timer) <= (uint64_t)ms))
		return;
	/* Never 0: libuv runs due timers without reading the clock in between,
	 * and one re-armed at 0 from its own callback would run for ever. */
	if (ms == 0)
		ms = 1;
	check(uv_timer_start(&el->idle_timer, on_idle_timer, (uint64_t)ms, 0), "uv_timer_start");
}

static void on_closed(uv_handle_t *h)
{
	free(container_of((uv_tcp_t *)h, struct client, tcp));
}

/* uv_close cancels the send in flight (on_written still comes, before
 * on_closed); the bytes it was lent go now. */
static void forget(struct echo_loop *el, struct client *cl)
{
	uv_close((uv_handle_t *)&cl->tcp, on_closed);
	loop_release(&el->loop, &cl->conn);
}

/* What is owed, unless a uv_write is in flight: uv_try_write, then a
 * uv_write of what the socket did not take. False: the connection failed. */
static bool send_owed(struct echo_loop *el, struct client *cl)
{
	struct iovec iov = conn_to_send(&cl->conn);
	uv_buf_t buf = uv_buf_init(iov.iov_base, (unsigned)iov.iov_len);
	int rc;

	if (iov.iov_len == 0)
		return true; /* nothing owed, or a uv_write in flight */
	rc = uv_try_write((uv_stream_t *)&cl->tcp, &buf, 1);
	conn_sent(&cl->conn, rc > 0 ? (size_t)rc : 0, el->srv.stats);
	if (rc >= 0 || rc == UV_EAGAIN) {
		iov = conn_to_send(&cl->conn);
		if (iov.iov_len == 0)
			return true;
		buf = uv_buf_init(iov.iov_base, iov.iov_len < SEND_PIECE ? (unsigned)iov.iov_len
		                                                         : SEND_PIECE);
		rc = uv_write(&cl->write, (uv_stream_t *)&cl->tcp, &buf, 1, on_written);
		if (rc == 0) {
			cl->sending = buf.len;
			return true;
		}
		conn_sent(&cl->conn, 0, el->srv.stats); /* ends the loan */
	}
	conn_fail(&cl->conn, rc == UV_ECONNRESET || rc == UV_EPIPE ? CONN_WHY_RESET : CONN_WHY_WRITE);
	return false;
}

/* After any event: send, then read or close as the connection wants.
 * Reading stops while too much echo is owed (backpressure). */
static void progress(struct echo_loop *el, struct client *cl)
{
	bool reading;

	if (!send_owed(el, cl) || conn_wants(&cl->conn) == CONN_CLOSE) {
		forget(el, cl);
		return;
	}
	reading = conn_wants(&cl->conn) & CONN_WANT_READ;
	if (reading == cl->reading)
		return;
	cl->reading = reading;
	if (!reading)
		check(uv_read_stop((uv_stream_t *)&cl->tcp), "uv_read_stop");
	else
		check(uv_read_start((uv_stream_t *)&cl->tcp, on_alloc, on_read), "uv_read_start");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested; /* 64 KiB, as the read buffer */
	*buf = uv_buf_init(loop_read_buffer(&((struct echo_loop *)h->loop->data)->loop),
	                   PROTOCOL_READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct echo_loop *el = wake((uv_handle_t *)s);
	struct client *cl = container_of((uv_tcp_t *)s, struct client, tcp);

	if (n == 0)
		return; /* read(2) said EAGAIN */
	loop_touch(&el->loop, &cl->conn);
	if (n == UV_EOF)
		cl->reading = false; /* libuv stopped reading by itself */
	if (n < 0 && n != UV_EOF) {
		conn_fail(&cl->conn, CONN_WHY_RESET);
		forget(el, cl);
	} else if (!conn_received(&cl->conn, buf->base, n > 0 ? (size_t)n : 0)) {
		forget(el, cl); /* out of memory: the core marked it */
	} else {
		progress(el, cl);
	}
	arm_idle_timer(el);
}

static void on_written(uv_write_t *req, int status)
{
	struct client *cl = container_of(req, struct client, write);
	struct echo_loop *el = wake((uv_handle_t *)&cl->tcp);

	if (uv_is_closing((uv_handle_t *)&cl->tcp))
		return; /* cancelled by forget: the connection is gone */
	loop_touch(&el->loop, &cl->conn);
	/* libuv wrote it all, or failed. After the error line: the FIN. */
	conn_sent(&cl->conn, status < 0 ? 0 : cl->sending, el->srv.stats);
	cl->sending = 0;
	if (status < 0)
		conn_fail(&cl->conn, status == UV_ECONNRESET || status == UV_EPIPE ? CONN_WHY_RESET
		                                                                   : CONN_WHY_WRITE);
	progress(el, cl);
	arm_idle_timer(el);
}

static void on_listener_ready(uv_poll_t *w, int status, int events)
{
	struct echo_loop *el = wake((uv_handle_t *)w);
	struct client *cl;
	struct conn *c;

	(void)events;
	check(status, "the listening socket");
	while ((c = loop_accept(&el->loop, sizeof *cl, LOOP_ANY_FD)) != NULL) {
		cl = container_of(c, struct client, conn);
		cl->sending = 0;
		cl->reading = false;
		check(uv_tcp_init(&el->uv, &cl->tcp), "uv_tcp_init");
		check(uv_tcp_open(&cl->tcp, c->fd), "uv_tcp_open");
		progress(el, cl); /* starts reading */
	}
	arm_idle_timer(el);
}

/* The timer only wakes the loop: libuv runs timers before it polls, and a
 * server that was not scheduled for a while would close connections whose
 * bytes wait unread. Expiry runs in a check handle instead, after the I/O
 * callbacks of the same wake-up: serve first, then expire, as epoll.c does.
 * Re-armed here, since a one-shot timer that has fired no longer bounds the
 * wait (a deadline that has come: 1 ms, and on_expiry_check meets it). */
static void on_idle_timer(uv_timer_t *w)
{
	arm_idle_timer(wake((uv_handle_t *)w));
}

static void on_expiry_check(uv_check_t *w)
{
	struct echo_loop *el = wake((uv_handle_t *)w);
	struct conn *expired;

	while ((expired = loop_next_expired(&el->loop)) != NULL)
		forget(el, container_of(expired, struct client, conn));
	arm_idle_timer(el);
}

static void on_signal(uv_signal_t *w, int signum)
{
	(void)signum;
	stop_requested = 1;
	uv_stop(w->loop);
}

static const struct model_info model = {
	.name = "libuv",
	.summary = "one thread; the libuv event loop: libuv reads and writes, we are called back",
};

int main(int argc, char **argv)
{
	static struct echo_loop el;
	uv_tcp_t first;
	sigset_t mask;
	struct conn *c;

	/* The loop before "listening on"; and a first stream, closed at once, so
	 * that libuv's own spare descriptor (/dev/null) is open by then too. */
	check(uv_loop_init(&el.uv), "uv_loop_init");
	el.uv.data = &el;
	check(uv_tcp_init(&el.uv, &first), "uv_tcp_init");
	uv_close((uv_handle_t *)&first, NULL);
	server_start(&el.srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&el.loop, &el.srv);

	check(uv_poll_init(&el.uv, &el.accept_watcher, el.srv.listener.fd), "uv_poll_init");
	check(uv_poll_start(&el.accept_watcher, UV_READABLE, on_listener_ready), "uv_poll_start");
	check(uv_timer_init(&el.uv, &el.idle_timer), "uv_timer_init");
	check(uv_check_init(&el.uv, &el.expiry), "uv_check_init");
	check(uv_check_start(&el.expiry, on_expiry_check), "uv_check_start");
	/* libuv's handler writes to a pipe its loop watches. The stop signals,
	 * blocked for the signalfd the other models use, are unblocked once it
	 * is in place. SIGPIPE is blocked: libuv's writev(2) has no MSG_NOSIGNAL. */
	check(uv_signal_init(&el.uv, &el.sigint), "uv_signal_init");
	check(uv_signal_init(&el.uv, &el.sigterm), "uv_signal_init");
	check(uv_signal_start(&el.sigint, on_signal, SIGINT), "uv_signal_start");
	check(uv_signal_start(&el.sigterm, on_signal, SIGTERM), "uv_signal_start");
	mask = el.srv.signals.wait_mask;
	sigaddset(&mask, SIGPIPE);
	if (sigprocmask(SIG_SETMASK, &mask, NULL) < 0)
		die("sigprocmask: cannot unblock the stop signals");

	(void)uv_run(&el.uv, UV_RUN_DEFAULT); /* until on_signal's uv_stop */

	/* Closing the signal handles restores SIGTERM's default action. */
	if (sigprocmask(SIG_BLOCK, &el.srv.signals.watched, NULL) < 0)
		die("sigprocmask: cannot block the stop signals");
	while ((c = loop_next_to_stop(&el.loop)) != NULL)
		forget(&el, container_of(c, struct client, conn));
	uv_close((uv_handle_t *)&el.accept_watcher, NULL);
	uv_close((uv_handle_t *)&el.idle_timer, NULL);
	uv_close((uv_handle_t *)&el.expiry, NULL);
	uv_close((uv_handle_t *)&el.sigint, NULL);
	uv_close((uv_handle_t *)&el.sigterm, NULL);
	(void)uv_run(&el.uv, UV_RUN_DEFAULT); /* the close callbacks: nothing else is left */
	check(uv_loop_close(&el.uv), "uv_loop_close");
	loop_close_all(&el.loop); /* no client is left: frees the read buffer */
	return server_finish(&el.srv);
}
