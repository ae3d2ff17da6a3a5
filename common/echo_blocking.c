#include "echo_blocking.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "conn.h"
#include "log.h"
#include "protocol.h"
#include "signals.h"
#include "stats.h"

static void set_idle_timeout(int fd, unsigned seconds)
{
	struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};

	/* With these, a recv or send that waits this long fails with EAGAIN: the
	 * idle timeout costs no timer and no extra thread. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
		log_error("setsockopt timeout: %s", error_text(errno));
}

#define WHY_IDLE "idle timeout"
#define WHY_NOT_READING "idle timeout (client not reading)"

/* One send of what is owed. A blocking send returns short only when a signal
 * or the send timeout interrupts it (EAGAIN: the timeout); a waiter's
 * non-blocking one also when the socket's buffer filled meanwhile, and the
 * next round waits for room. The rest stays owed for the next round. */
static void send_owed(struct conn *c, struct echo_stats *st, bool blocking)
{
	struct iovec iov = conn_to_send(c);
	ssize_t n = send(c->fd, iov.iov_base, iov.iov_len, MSG_NOSIGNAL);
	int err = n < 0 ? errno : 0;

	conn_sent(c, n > 0 ? (size_t)n : 0, st);
	if (err == EAGAIN && blocking)
		conn_give_up(c, WHY_NOT_READING);
	else if (err != 0 && err != EINTR && err != EAGAIN)
		conn_fail(c, CONN_WHY_WRITE);
}

/* A waiter's wait for what the loop does next. False when the connection
 * must end instead: given up for the idle timeout, or failed with the
 * waiter's reason when it could not wait at all. */
static bool waited(struct conn *c, struct echo_waiter *w, enum conn_want next)
{
	w->why = NULL;
	if (w->wait(w, next))
		return true;
	if (w->why != NULL)
		conn_fail(c, w->why);
	else
		conn_give_up(c, next == CONN_WANT_WRITE ? WHY_NOT_READING : WHY_IDLE);
	return false;
}

/* The loop of both: w NULL for a blocking socket. Returns the messages
 * echoed. */
static unsigned long long serve(const struct server *s, int fd, const struct peer *peer,
                                struct echo_waiter *w)
{
	char *rbuf = w != NULL ? w->rbuf : malloc(PROTOCOL_READ_CHUNK);
	struct conn c;
	bool drained = false;

	stats_add(&s->stats->connections, 1);
	log_open(s->opts.verbose, peer);
	conn_init(&c, fd, s->opts.max_line, peer);
	if (rbuf == NULL)
		conn_fail(&c, "out of memory");
	else if (s->opts.idle_timeout && w == NULL)
		set_idle_timeout(fd, s->opts.idle_timeout);

	/* Owed bytes first: a blocking read now could wait for ever on a client
	 * that waits for its echo. The stop is checked on every round, not only
	 * after EINTR: a SIGTERM that lands while we are busy would otherwise
	 * wait for this client to leave. */
	while (conn_wants(&c) != CONN_CLOSE) {
		enum conn_want next = conn_owed(&c) > 0 ? CONN_WANT_WRITE : CONN_WANT_READ;

		if (stop_requested) {
			conn_give_up(&c, "server stopping");
		} else if (w != NULL && !waited(&c, w, next)) {
			/* ended: timed out, or could not wait */
		} else if (next == CONN_WANT_WRITE) {
			send_owed(&c, s->stats, w == NULL);
		} else {
			/* One read. "Drained" (EAGAIN) is the receive timeout on a
			 * blocking socket; a waiter's wake-up that found nothing
			 * simply waits again. */
			conn_on_readable(&c, s->stats, rbuf, PROTOCOL_READ_CHUNK, 1, &drained);
			if (drained && w == NULL)
				conn_give_up(&c, WHY_IDLE);
		}
	}
	conn_end(&c, s->opts.verbose); /* the caller closes fd */
	if (w == NULL)
		free(rbuf);
	return c.messages;
}

unsigned long long echo_blocking(const struct server *s, int fd, const struct peer *peer)
{
	return serve(s, fd, peer, NULL);
}

void echo_waiting(const struct server *s, int fd, const struct peer *peer,
                  struct echo_waiter *w)
{
	serve(s, fd, peer, w);
}
