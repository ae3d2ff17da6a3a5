#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"

static const char too_long_line[] = "ERR line too long\n";

/* Past this much owed echo the connection stops reading: a client that sends
 * without reading then fills its own socket buffers, and is throttled by TCP. */
#define CONN_OWED_LIMIT (CONN_READ_CHUNK / 2)

void conn_init(struct conn *c, int fd, size_t max_line, const struct peer *peer)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->phase = CONN_ECHOING;
	framer_init(&c->framer, max_line);
	c->cap = max_line + CONN_READ_CHUNK;
	c->peer = *peer;
	c->close_reason = "client closed";
}

static size_t owed(const struct conn *c)
{
	return c->owed_end - c->sent;
}

static size_t trailer_left(const struct conn *c)
{
	return c->phase == CONN_REJECTING ? sizeof too_long_line - 1 - c->trailer_sent : 0;
}

enum conn_want conn_wants(const struct conn *c)
{
	bool writing = owed(c) > 0 || trailer_left(c) > 0;
	bool reading = (c->phase == CONN_ECHOING && owed(c) < CONN_OWED_LIMIT) ||
	               c->phase == CONN_DRAINING;

	if (!writing && !reading)
		return CONN_CLOSE;
	return (writing ? CONN_WANT_WRITE : 0) | (reading ? CONN_WANT_READ : 0);
}

/* Gives the buffer back once it holds nothing: ten thousand quiet connections
 * then cost ten thousand small structs, not ten thousand buffers. */
static void release_if_empty(struct conn *c)
{
	if (c->buf != NULL && c->len == c->sent) {
		free(c->buf);
		c->buf = NULL;
		c->sent = c->owed_end = c->len = 0;
	}
}

/* Makes room for a read: drops the bytes already sent from the front. Only
 * done when the free space runs short, so the copy is amortised over many
 * reads, and what is moved is bounded by the buffer's size. */
static void compact(struct conn *c)
{
	if (c->sent > 0 && c->cap - c->len < CONN_READ_CHUNK / 2) {
		memmove(c->buf, c->buf + c->sent, c->len - c->sent);
		c->owed_end -= c->sent;
		c->len -= c->sent;
		c->sent = 0;
	}
}

enum conn_want conn_on_writable(struct conn *c, struct echo_stats *st)
{
	while (owed(c) > 0 || trailer_left(c) > 0) {
		/* The owed echo and, after a rejected line, the error line go out in
		 * one system call. */
		struct iovec iov[2] = {
			{c->buf + c->sent, owed(c)},
			{(char *)too_long_line + c->trailer_sent, trailer_left(c)},
		};
		int first = owed(c) > 0 ? 0 : 1, last = trailer_left(c) > 0 ? 1 : 0;
		size_t asked = owed(c) + trailer_left(c);
		ssize_t n = writev(c->fd, iov + first, last - first + 1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return conn_wants(c); /* the kernel buffer is full: wait */
			c->close_reason = "write failed";
			return CONN_CLOSE;
		}
		size_t echoed = (size_t)n < owed(c) ? (size_t)n : owed(c);
		c->sent += echoed;
		c->trailer_sent += (size_t)n - echoed;
		stats_add(&st->bytes, echoed);
		if (owed(c) == 0 && c->owed_messages > 0) {
			/* Counted once fully sent, as the blocking loop does. */
			stats_add(&st->messages, c->owed_messages);
			c->owed_messages = 0;
		}
		/* A short write means the socket buffer is full: trying again now
		 * would only fetch EAGAIN; keep the rest and wait to be writable. */
		if ((size_t)n < asked)
			return conn_wants(c);
	}
	release_if_empty(c);
	if (c->phase == CONN_REJECTING) {
		/* The error line is out. FIN now, then read until the client closes,
		 * so that closing never meets unread input (which would make the
		 * kernel send RST and could destroy the error line in flight). */
		shutdown(c->fd, SHUT_WR);
		c->phase = CONN_DRAINING;
	}
	return conn_wants(c);
}

static enum conn_want discard_input(struct conn *c)
{
	char sink[4096];
	ssize_t n = read(c->fd, sink, sizeof sink);

	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return CONN_WANT_READ;
	return CONN_CLOSE;
}

enum conn_want conn_on_readable(struct conn *c, struct echo_stats *st)
{
	if (c->phase == CONN_DRAINING)
		return discard_input(c);
	if (conn_wants(c) & CONN_WANT_READ) {
		if (c->buf == NULL) {
			c->buf = malloc(c->cap);
			if (c->buf == NULL) {
				c->close_reason = "out of memory";
				return CONN_CLOSE;
			}
		}
		compact(c);

		ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return conn_wants(c);
			c->close_reason = "connection reset";
			return CONN_CLOSE;
		}
		if (n == 0) {
			/* Half-close: the unfinished message is still the client's data
			 * and goes back as it is, without an LF; then we close. */
			c->owed_end = c->len;
			c->phase = CONN_FINISHING;
		} else {
			struct framed f = framer_feed(&c->framer, c->buf + c->len, (size_t)n);

			if (f.complete > 0)
				c->owed_end = c->len + f.complete;
			c->len += (size_t)n;
			c->owed_messages += f.messages;
			if (f.too_long) {
				/* Echo what was complete, then the error; the rest of the
				 * over-long message is dropped here. */
				c->len = c->owed_end;
				c->phase = CONN_REJECTING;
				c->close_reason = "line too long";
			}
		}
	}
	/* Write at once rather than waiting for the next round of the loop: the
	 * socket is almost always writable, and this saves a wake-up per read. */
	if (owed(c) > 0 || trailer_left(c) > 0)
		return conn_on_writable(c, st);
	release_if_empty(c);
	return conn_wants(c);
}

void conn_close(struct conn *c, bool verbose)
{
	log_close(verbose, &c->peer, c->close_reason);
	free(c->buf);
	c->buf = NULL;
	close(c->fd);
	c->fd = -1;
}
