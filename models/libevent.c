/* libevent: the libev loop again, written against libevent (memcached, tmux,
 * Tor); models/libev.c lines up with it function for function.
 *
 * Plain events, not bufferevents: a bufferevent reads into an evbuffer of its
 * own, so the partial line would live there and common/conn.c's framing and
 * backpressure would be redone over evbuffers. A plain event only says
 * "readable" or "writable"; the connection core does the rest, as everywhere.
 *
 * One persistent event per direction: libevent sums a descriptor's events, so
 * adding or deleting the write event is one epoll_ctl MOD (epoll.c's rule),
 * made at event_add (no change list), where a failure concerns one client.
 * An evconnlistener accepts, signal events stop, and one timer event, armed
 * for the quietest client's deadline as in libev.c, serves the idle timeout.
 */
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <signal.h>

#include "libevent/slots.h"
#include "log.h"
#include "loop.h"
#include "server.h"
#include "signals.h"

/* Events embedded (event_assign): no allocation of their own, at the price of
 * libevent's struct layout. A callback gets one pointer: the client, which
 * therefore keeps its loop. */
struct client {
	struct conn conn; /* first: loop_open_conn and loop_close see only this */
	struct event rd, wr;
	struct echo_loop *el;
	enum conn_want waiting_for; /* which of rd and wr are added */
};

struct echo_loop {
	struct event_base *base;
	struct server srv;
	struct loop loop;
	struct evconnlistener *listener;
	struct event idle_timer, sigint, sigterm;
	int64_t timer_due_ms; /* when the idle timer fires; INT64_MAX: not armed */
};

/* libevent's warnings (a failed epoll_ctl, say), in our log's form. */
static void on_libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_error("libevent: %s", msg);
}

/* The loop's clock, read at the top of every callback, not once per wake-up
 * as in the other loops: libevent has no hook run once per wake-up (libev's
 * ev_check), and one wake-up may run thousands of callbacks (epoll_wait takes
 * up to 4096 events; the listener accepts until EAGAIN), so the wake-up's
 * time would be seconds old by the last of them on a busy machine, and an
 * idle deadline set from it that much too early. A clock read is a vDSO
 * call, no system call. */
static void tick(struct echo_loop *el)
{
	loop_tick(&el->loop);
}

/* The one timer serves the loop's deadlines (loop_timeout_ms); re-armed only
 * when the deadline comes sooner than the armed one (INT64_MAX: none). */
static void arm_idle_timer(struct echo_loop *el)
{
	int ms = loop_timeout_ms(&el->loop);
	int64_t due = el->loop.now_ms + ms;
	struct timeval after = {ms / 1000, ms % 1000 * 1000};

	if (ms < 0 || el->timer_due_ms <= due)
		return;
	if (evtimer_add(&el->idle_timer, &after) < 0)
		die("libevent: cannot arm the idle timer");
	el->timer_due_ms = due;
}

static int set_event(struct event *ev, bool on, bool was_on)
{
	return on == was_on ? 0 : on ? event_add(ev, NULL) : event_del(ev);
}

/* Fails only when the backend cannot register the descriptor (epoll_ctl out
 * of memory): that costs the one client its connection, never the server. */
static bool watch(struct client *cl, enum conn_want want)
{
	enum conn_want was = cl->waiting_for;

	if (set_event(&cl->rd, want & CONN_WANT_READ, was & CONN_WANT_READ) < 0 ||
	    set_event(&cl->wr, want & CONN_WANT_WRITE, was & CONN_WANT_WRITE) < 0) {
		conn_fail(&cl->conn, "cannot watch it (libevent: event_add failed)");
		return false;
	}
	cl->waiting_for = want;
	return true;
}

/* event_del forgets the event even if epoll_ctl fails (libevent has said
 * why), and the close then takes the descriptor out of epoll anyway. */
static void forget(struct echo_loop *el, struct client *cl)
{
	if (event_del(&cl->rd) < 0 || event_del(&cl->wr) < 0)
		log_error("libevent: event_del failed; closing the connection anyway");
	loop_close(&el->loop, &cl->conn);
}

static void on_client_ready(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	struct echo_loop *el = cl->el;

	(void)fd;
	tick(el);
	enum conn_want want = loop_serve(&el->loop, &cl->conn, what & EV_READ, what & EV_WRITE,
	                                 LOOP_READS_LEVEL, NULL);
	if (want == CONN_CLOSE || !watch(cl, want))
		forget(el, cl);
	arm_idle_timer(el);
}

/* libevent has accepted (the non-blocking, close-on-exec fd); admission
 * (--max-clients) is still the loop core's. */
static void on_accepted(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                        int salen, void *arg)
{
	struct echo_loop *el = arg;
	struct peer peer;

	(void)lev;
	tick(el);
	peer_format(&peer, sa, (socklen_t)salen);
	struct conn *c = loop_open_conn(&el->loop, fd, &peer, sizeof(struct client), LOOP_ANY_FD);
	if (c == NULL)
		return; /* refused (loop.h): it has been told and closed */
	struct client *cl = container_of(c, struct client, conn);
	cl->el = el;
	cl->waiting_for = 0;
	if (event_assign(&cl->rd, el->base, fd, EV_READ | EV_PERSIST, on_client_ready, cl) < 0 ||
	    event_assign(&cl->wr, el->base, fd, EV_WRITE | EV_PERSIST, on_client_ready, cl) < 0)
		die("libevent: event_assign refused a client's events");
	if (!watch(cl, conn_wants(c)))
		forget(el, cl);
	arm_idle_timer(el);
}

/* The evconnlistener retries EINTR, EAGAIN and ECONNABORTED itself and hands
 * us the rest. Out of descriptors it would spin (the listener stays ready):
 * accept.c's spare descriptor refuses the waiting client, as in every model. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	(void)lev;
	(void)accept_recover(&((struct echo_loop *)arg)->srv.listener, EVUTIL_SOCKET_ERROR());
}

static void on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
	struct echo_loop *el = arg;
	struct conn *expired;

	(void)fd;
	(void)what;
	el->timer_due_ms = INT64_MAX; /* it has fired */
	tick(el);
	while ((expired = loop_next_expired(&el->loop)) != NULL)
		forget(el, container_of(expired, struct client, conn));
	arm_idle_timer(el);
}

/* libevent's signal events: its handler writes to a pipe the loop watches,
 * the same idea as the signalfd the other loops wait on. */
static void on_signal(evutil_socket_t signo, short what, void *arg)
{
	(void)signo;
	(void)what;
	if (event_base_loopbreak(((struct echo_loop *)arg)->base) < 0)
		die("libevent: cannot stop the loop");
}

static const struct model_info model = {
	.name = "libevent",
	.summary = "one thread; the epoll loop written against the libevent event library",
	.env_help = "  EVENT_NOEPOLL=1      libevent: poll, not epoll (and EVENT_NOPOLL=1: select)\n",
};

int main(int argc, char **argv)
{
	static struct echo_loop el;

	/* The base before server_start: if EVENT_NO* leaves it no backend, we
	 * fail before announcing that we listen. */
	event_set_mem_functions(slots_malloc, slots_realloc, slots_free);
	event_set_log_callback(on_libevent_log);
	if ((el.base = event_base_new()) == NULL)
		die("libevent: cannot create the event base (EVENT_NO* leaves no backend?)");
	server_start(&el.srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&el.loop, &el.srv);

	/* Backlog 0: the socket listens already. */
	el.listener = evconnlistener_new(el.base, on_accepted, &el, LEV_OPT_CLOSE_ON_EXEC, 0,
	                                 el.srv.listener.fd);
	if (el.listener == NULL)
		die("libevent: cannot watch the listening socket");
	evconnlistener_set_error_cb(el.listener, on_accept_error);
	el.timer_due_ms = INT64_MAX;
	/* libevent's handlers need the stop signals delivered: unblocked once
	 * they are in (one sent before is pending, and reaches them then). */
	if (evtimer_assign(&el.idle_timer, el.base, on_idle_timer, &el) < 0 ||
	    evsignal_assign(&el.sigint, el.base, SIGINT, on_signal, &el) < 0 ||
	    evsignal_assign(&el.sigterm, el.base, SIGTERM, on_signal, &el) < 0 ||
	    evsignal_add(&el.sigint, NULL) < 0 || evsignal_add(&el.sigterm, NULL) < 0)
		die("libevent: cannot make the timer and signal events");
	if (sigprocmask(SIG_SETMASK, &el.srv.signals.wait_mask, NULL) < 0)
		die("sigprocmask: cannot unblock the stop signals");

	if (event_base_dispatch(el.base) < 0)
		die("libevent: the loop failed");

	/* The loop will not run again: its events go with it (the clients',
	 * still valid here) before the connections close. */
	evconnlistener_free(el.listener);
	event_base_free(el.base);
	loop_close_all(&el.loop);
	return server_finish(&el.srv);
}
