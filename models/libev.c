/* libev: the epoll loop, written against a portable event library.
 *
 * libev owns the wait: it picks the best readiness mechanism the system has
 * (epoll here, kqueue on the BSDs, poll or select elsewhere) and calls us
 * back. Each client has an ev_io watcher whose callback hands readiness to
 * the same connection state machine the other loops use (common/conn.c).
 * Stopping is an ev_io watcher on the signalfd every model waits on
 * (signals.h); the idle timeout is one ev_timer.
 *
 * The backend can be forced without recompiling, to compare them under the
 * same code: LIBEV_FLAGS=1 (select), 2 (poll), 4 (epoll), as libev reads that
 * environment variable when the default loop is created.
 *
 * Idle timeout: rather than a timer per client, which libev would keep in a
 * heap at O(log n) per reset, one timer is armed for the quietest client's
 * deadline (libev's manual, "Be smart about timeouts"). Activity only moves
 * deadlines later, so the timer is never late; when it fires it closes what
 * has expired and re-arms for the new quietest client.
 */
#include <ev.h>
#include <stddef.h>

#include "log.h"
#include "loop.h"
#include "mapped.h"
#include "server.h"
#include "signals.h"

/* loop_accept allocates the whole struct client (it is told its size), and
 * container_of gets from its conn or its io watcher back to it. */
struct client {
	struct conn conn; /* first: loop_accept and loop_close see only this */
	ev_io io;
	enum conn_want waiting_for; /* the events io watches */
};

struct echo_loop {
	struct ev_loop *ev;
	struct server srv;
	struct loop loop;
	ev_io accept_watcher;
	ev_timer idle_timer;
	ev_check wake_watcher;
	ev_io signal_watcher;
};

/* libev's own memory, outside malloc's heap (common/mapped.h says why).
 * Its arrays grow with the busiest moment so far and never shrink; from
 * malloc, one grown in the middle of a wave of connections pinned every page
 * below it: RSS with no client open ratcheted from 2 MB to 182 MB over 10
 * waves of 10,000, while epoll.c went back to 2 MB every time. */
static void *libev_realloc(void *ptr, long size)
{
	void *p = mapped_realloc(ptr, (size_t)size);

	if (p == NULL && size != 0)
		die("libev: out of memory for %ld bytes", size);
	return p;
}

static int libev_events(enum conn_want want)
{
	return ((want & CONN_WANT_READ) ? EV_READ : 0) | ((want & CONN_WANT_WRITE) ? EV_WRITE : 0);
}

/* The one timer serves the loop's deadlines (loop_timeout_ms): the idle
 * expiry, and the heap trim after a quiet second. Re-armed only when the
 * deadline comes sooner than the armed one. */
static void arm_idle_timer(struct echo_loop *el)
{
	int ms = loop_timeout_ms(&el->loop);

	if (ms < 0)
		return;
	if (ev_is_active(&el->idle_timer)) {
		if (ev_timer_remaining(el->ev, &el->idle_timer) * 1000.0 <= ms)
			return;
		ev_timer_stop(el->ev, &el->idle_timer);
	}
	ev_timer_set(&el->idle_timer, ms / 1000.0, 0.);
	ev_timer_start(el->ev, &el->idle_timer);
}

static void forget(struct echo_loop *el, struct client *cl)
{
	ev_io_stop(el->ev, &cl->io);
	loop_close(&el->loop, &cl->conn);
}

static void on_client_ready(struct ev_loop *ev, ev_io *w, int revents)
{
	struct echo_loop *el = ev_userdata(ev);
	struct client *cl = container_of(w, struct client, io);

	if (revents & EV_ERROR) {
		/* libev could not register the descriptor (out of memory for
		 * epoll_ctl) and stopped the watcher: nothing would ever wake
		 * this connection again. */
		conn_fail(&cl->conn, "cannot watch it (libev: EV_ERROR)");
		forget(el, cl);
		arm_idle_timer(el);
		return;
	}
	enum conn_want want = loop_serve(&el->loop, &cl->conn, revents & EV_READ,
	                                 revents & EV_WRITE, LOOP_READS_LEVEL, NULL);
	if (want == CONN_CLOSE) {
		forget(el, cl);
	} else if (want != cl->waiting_for) {
		/* Only when what the client waits for changes: the same rule as
		 * epoll.c's EPOLL_CTL_MOD. */
		ev_io_stop(ev, w);
		ev_io_modify(w, libev_events(want));
		ev_io_start(ev, w);
		cl->waiting_for = want;
	}
	arm_idle_timer(el);
}

static void on_listener_ready(struct ev_loop *ev, ev_io *w, int revents)
{
	struct echo_loop *el = ev_userdata(ev);
	struct client *cl;
	struct conn *c;

	(void)w;
	(void)revents;
	while ((c = loop_accept(&el->loop, sizeof *cl, LOOP_ANY_FD)) != NULL) {
		cl = container_of(c, struct client, conn);
		cl->waiting_for = conn_wants(&cl->conn);
		ev_io_init(&cl->io, on_client_ready, cl->conn.fd, libev_events(cl->waiting_for));
		ev_io_start(ev, &cl->io);
	}
	arm_idle_timer(el);
}

static void on_idle_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct echo_loop *el = ev_userdata(ev);
	struct conn *expired;

	(void)w;
	(void)revents;
	while ((expired = loop_next_expired(&el->loop)) != NULL)
		forget(el, container_of(expired, struct client, conn));
	arm_idle_timer(el);
}

/* Runs once per loop iteration, after the wait and before any other
 * callback: the one clock read per wake-up that the other loops do right
 * after their wait, rather than one per ready client. */
static void on_wake(struct ev_loop *ev, ev_check *w, int revents)
{
	struct echo_loop *el = ev_userdata(ev);

	(void)w;
	(void)revents;
	loop_tick(&el->loop);
}

static void on_signal(struct ev_loop *ev, ev_io *w, int revents)
{
	struct echo_loop *el = ev_userdata(ev);

	(void)w;
	(void)revents;
	if (signals_take(&el->srv.signals) & SIGNALS_STOP)
		ev_break(ev, EVBREAK_ALL);
}

static const struct model_info model = {
	.name = "libev",
	.summary = "one thread; the epoll loop written against the libev event library",
	.env_help = "  LIBEV_FLAGS=N        force libev's backend: 1 select, 2 poll, 4 epoll (default: the best)\n",
};

int main(int argc, char **argv)
{
	static struct echo_loop el;

	/* The loop first: a LIBEV_FLAGS naming no usable backend then fails
	 * before anything announces that we are listening. */
	ev_set_allocator(libev_realloc);
	el.ev = ev_default_loop(EVFLAG_AUTO);
	if (el.ev == NULL)
		die("libev: cannot create the loop (LIBEV_FLAGS names no usable backend?)");
	ev_set_userdata(el.ev, &el);
	server_start(&el.srv, &model, SERVER_EVENT_DRIVEN, argc, argv);
	loop_init(&el.loop, &el.srv);

	ev_io_init(&el.accept_watcher, on_listener_ready, el.srv.listener.fd, EV_READ);
	ev_io_start(el.ev, &el.accept_watcher);
	ev_init(&el.idle_timer, on_idle_timer);
	ev_check_init(&el.wake_watcher, on_wake);
	ev_set_priority(&el.wake_watcher, EV_MAXPRI);
	ev_check_start(el.ev, &el.wake_watcher);
	/* The signals as an ordinary readable descriptor, as in the other
	 * loops. (libev's own ev_signal does the same with an eventfd its handler
	 * writes to; one mechanism for every model is easier to follow.) */
	ev_io_init(&el.signal_watcher, on_signal, el.srv.signals.fd, EV_READ);
	ev_io_start(el.ev, &el.signal_watcher);

	ev_run(el.ev, 0);

	/* The loop will not run again, so its watchers can go with it before the
	 * connections close. */
	ev_loop_destroy(el.ev);
	loop_close_all(&el.loop);
	return server_finish(&el.srv);
}
