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

/* One blocking send of what is owed. It returns short only when a signal or
 * the send timeout interrupts it; the rest stays owed for the next round. */
static void send_owed(struct conn *c, struct echo_stats *st)
{
	struct iovec iov = conn_to_send(c);
	ssize_t n = send(c->fd, iov.iov_base, iov.iov_len, MSG_NOSIGNAL);

	conn_sent(c, n > 0 ? (size_t)n : 0, st);
	if (n < 0 && errno == EAGAIN)
		conn_give_up(c, "idle timeout (client not reading)");
	else if (n < 0 && errno != EINTR)
		conn_fail(c, CONN_WHY_WRITE);
}

unsigned long long echo_blocking(const struct server *s, int fd, const struct peer *peer)
{
	char *rbuf = malloc(PROTOCOL_READ_CHUNK);
	struct conn c;
	bool timed_out = false;

	stats_add(&s->stats->connections, 1);
	log_open(s->opts.verbose, peer);
	conn_init(&c, fd, s->opts.max_line, peer);
	if (rbuf == NULL)
		conn_fail(&c, "out of memory");
	else if (s->opts.idle_timeout)
		set_idle_timeout(fd, s->opts.idle_timeout);

	/* Owed bytes first: a blocking read now could wait for ever on a client
	 * that waits for its echo. The stop is checked on every round, not only
	 * after EINTR: a SIGTERM that lands while we are busy would otherwise
	 * wait for this client to leave. */
	while (conn_wants(&c) != CONN_CLOSE) {
		if (stop_requested) {
			conn_give_up(&c, "server stopping");
		} else if (conn_owed(&c) > 0) {
			send_owed(&c, s->stats);
		} else {
			/* one read; on EAGAIN (the receive timeout) "drained" */
			conn_on_readable(&c, s->stats, rbuf, PROTOCOL_READ_CHUNK, 1, &timed_out);
			if (timed_out)
				conn_give_up(&c, "idle timeout");
		}
	}
	conn_end(&c, s->opts.verbose); /* the caller closes fd */
	free(rbuf);
	return c.messages;
}
