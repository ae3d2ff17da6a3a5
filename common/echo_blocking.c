#include "echo_blocking.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "framer.h"
#include "log.h"
#include "protocol.h"
#include "signals.h"
#include "stats.h"

/* Writes all of buf. A blocking send returns short only when a signal or the
 * send timeout interrupts it, so those are the cases to continue or give up. */
static bool send_all(int fd, const char *buf, size_t len, const char **why)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR && !stop_requested)
				continue;
			*why = errno == EINTR ? "server stopping"
			     : errno == EAGAIN ? "idle timeout (client not reading)" : "write failed";
			return false;
		}
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static void set_idle_timeout(int fd, unsigned seconds)
{
	struct timeval tv = {.tv_sec = seconds, .tv_usec = 0};

	/* With these, a recv or send that waits this long fails with EAGAIN: the
	 * idle timeout costs no timer and no extra thread. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
		log_error("setsockopt timeout: %s", error_text(errno));
}

void echo_blocking(const struct server *s, int fd, const struct peer *peer)
{
	/* Room for the longest allowed unfinished message plus a full read. */
	size_t cap = s->opts.max_line + PROTOCOL_READ_CHUNK;
	char *buf = malloc(cap);
	size_t held = 0; /* bytes of an unfinished message at the start of buf */
	struct framer framer;
	const char *why = "server stopping";

	stats_add(&s->stats->connections, 1);
	log_open(s->opts.verbose, peer);
	if (buf == NULL) {
		why = "out of memory";
		goto out;
	}
	framer_init(&framer, s->opts.max_line);
	if (s->opts.idle_timeout)
		set_idle_timeout(fd, s->opts.idle_timeout);

	/* Checked on every round, not only after EINTR: a SIGTERM that lands while
	 * we are busy sending would otherwise wait for this client to leave. */
	while (!stop_requested) {
		ssize_t n = recv(fd, buf + held, cap - held, 0);

		if (n < 0) {
			if (errno == EINTR && !stop_requested)
				continue;
			why = errno == EINTR ? "server stopping"
			    : errno == EAGAIN ? "idle timeout" : "connection reset";
			break;
		}
		if (n == 0 && stop_requested) {
			why = "server stopping"; /* the thread model's shutdown() */
			break;
		}
		if (n == 0) {
			/* Half-close: what is left is an unfinished message; it is still
			 * the client's data, so it goes back as it is, without an LF. */
			why = "client closed";
			if (held > 0 && send_all(fd, buf, held, &why))
				stats_add(&s->stats->bytes, held);
			break;
		}

		struct framed f = framer_feed(&framer, buf + held, (size_t)n);
		size_t echo = f.complete ? held + f.complete : 0;

		/* Every complete message of this read in one send, not one per line. */
		if (echo > 0) {
			if (!send_all(fd, buf, echo, &why))
				break;
			stats_add(&s->stats->messages, f.messages);
			stats_add(&s->stats->bytes, echo);
		}
		if (f.too_long) {
			why = "line too long";
			if (send_all(fd, PROTOCOL_ERR_TOO_LONG, PROTOCOL_LEN(PROTOCOL_ERR_TOO_LONG), &why)) {
				/* FIN, then read until the client closes (or the idle
				 * timeout gives up on it): see protocol.h. */
				protocol_finish(fd);
				protocol_discard_input(fd, -1, true);
			}
			break;
		}
		/* Keep the unfinished tail for the next read. */
		held = held + (size_t)n - echo;
		if (echo > 0 && held > 0)
			memmove(buf, buf + echo, held);
	}
out:
	log_close(s->opts.verbose, peer, why);
	free(buf);
}
