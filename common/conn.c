#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "protocol.h"
#include "stats.h"

/* The smallest buffer worth allocating: below it malloc's own overhead
 * dominates, and a short unfinished line fits. */
#define CONN_MIN_CAP 64

void conn_init(struct conn *c, int fd, size_t max_line, const struct peer *peer)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->phase = CONN_ECHOING;
	framer_init(&c->framer, max_line);
	c->peer = *peer;
	c->close_reason = "client closed";
}

size_t conn_owed(const struct conn *c)
{
	return c->in_place + c->owed_end - c->sent;
}

/* What may be owed before the connection stops reading: CONN_OWED_LIMIT, or
 * one whole message of the longest length if that is more. Below one message
 * every long message would stop the reading by itself, and the client's next
 * one would wait a round trip (a completion loop: a cancel and a re-arm too). */
static size_t owed_limit(const struct conn *c)
{
	return c->framer.max_line > CONN_OWED_LIMIT ? c->framer.max_line : CONN_OWED_LIMIT;
}

enum conn_want conn_wants(const struct conn *c)
{
	bool writing = conn_owed(c) > 0;
	bool reading = (c->phase == CONN_ECHOING && conn_owed(c) < owed_limit(c)) ||
	               c->phase == CONN_DRAINING;

	if (c->phase == CONN_FAILED || (!writing && !reading))
		return CONN_CLOSE;
	return (writing ? CONN_WANT_WRITE : 0) | (reading ? CONN_WANT_READ : 0);
}

void conn_fail(struct conn *c, const char *why)
{
	c->phase = CONN_FAILED;
	c->close_reason = why;
}

/* ---- the buffer --------------------------------------------------------- */

/* Moves what is kept to a new buffer of `cap` bytes, dropping the bytes
 * already sent. The old buffer is freed, unless a send in flight still reads
 * from it (lent bytes); then it waits in `retired` for conn_sent. Only the
 * buffer current when conn_to_send was called can be lent, so a second move
 * during the same send frees its predecessor at once. */
static bool move_to(struct conn *c, size_t cap)
{
	char *fresh = malloc(cap);
	size_t kept = c->len - c->sent;

	if (fresh == NULL)
		return false;
	if (kept > 0)
		memcpy(fresh, c->buf + c->sent, kept);
	if (c->lent > 0 && c->retired == NULL)
		c->retired = c->buf;
	else
		free(c->buf);
	c->buf = fresh;
	c->cap = cap;
	c->owed_end -= c->sent;
	c->len = kept;
	c->sent = 0;
	return true;
}

/* Makes room for `extra` more bytes after len. Sliding the kept bytes to the
 * front is preferred to growing (and impossible while a send reads them);
 * growth doubles, for amortised O(1) appends, but never past owed + max_line,
 * the most a connection may hold (see conn.h). */
static bool reserve(struct conn *c, size_t extra)
{
	size_t kept = c->len - c->sent, need = kept + extra, cap;

	if (c->cap - c->len >= extra)
		return true;
	if (c->lent == 0 && c->cap >= need) {
		memmove(c->buf, c->buf + c->sent, kept);
		c->owed_end -= c->sent;
		c->len = kept;
		c->sent = 0;
		return true;
	}
	cap = c->cap * 2 > CONN_MIN_CAP ? c->cap * 2 : CONN_MIN_CAP;
	if (cap > conn_owed(c) + extra + c->framer.max_line)
		cap = conn_owed(c) + extra + c->framer.max_line;
	return move_to(c, cap > need ? cap : need);
}

static bool append(struct conn *c, const char *data, size_t n)
{
	if (n == 0)
		return true;
	if (!reserve(c, n)) {
		conn_fail(c, "out of memory");
		return false;
	}
	memcpy(c->buf + c->len, data, n);
	c->len += n;
	return true;
}

/* Once nothing is owed: free the buffer if it holds nothing either, or shrink
 * it to the unfinished message if a burst of echo left it large: larger than
 * twice what one more message could need. Not sooner: a client that
 * pipelines long messages would have the buffer shrunk after every send and
 * grown again by the next message, each time into freshly faulted pages. */
static void tidy(struct conn *c)
{
	size_t kept = c->len - c->sent;

	if (conn_owed(c) > 0 || c->lent > 0)
		return;
	if (kept == 0) {
		free(c->buf);
		c->buf = NULL;
		c->cap = c->sent = c->owed_end = c->len = 0;
	} else if (c->cap > 2 * (kept + c->framer.max_line)) {
		/* Best effort: keeping the larger buffer is still correct. */
		(void)move_to(c, kept * 2 > CONN_MIN_CAP ? kept * 2 : CONN_MIN_CAP);
	}
}

/* ---- taking input ------------------------------------------------------- */

/* The unfinished message held so far and the complete messages of the new
 * chunk become owed echo. Called before the chunk's bytes are stored. */
static void owe_completed(struct conn *c, const struct framed *f)
{
	if (f->complete == 0)
		return;
	c->echo_owed += c->len - c->owed_end + f->complete;
	c->owed_messages += f->messages;
	c->owed_end = c->len;
}

/* Stores the part of a framed chunk the connection must keep: `owe` bytes of
 * owed echo (already counted by owe_completed), then the unfinished rest, or,
 * after an over-long line, the error line instead of the rest. */
static bool store(struct conn *c, const char *data, size_t n, size_t owe, bool too_long)
{
	if (!append(c, data, too_long ? owe : n))
		return false;
	c->owed_end += owe;
	if (!too_long)
		return true;
	/* Echo what was complete, then the error; the unfinished over-long
	 * message is dropped here, and everything after it is discarded. */
	c->len = c->owed_end;
	if (!append(c, PROTOCOL_ERR_TOO_LONG, PROTOCOL_LEN(PROTOCOL_ERR_TOO_LONG)))
		return false;
	c->owed_end = c->len;
	c->phase = CONN_REJECTING;
	c->close_reason = "line too long";
	return true;
}

static void received_eof(struct conn *c)
{
	if (c->phase == CONN_ECHOING) {
		/* Half-close: the unfinished message is still the client's data and
		 * goes back as it is, without an LF; then we close. */
		c->echo_owed += c->len - c->owed_end;
		c->owed_end = c->len;
	}
	if (c->phase != CONN_FAILED)
		c->phase = CONN_FINISHING;
}

bool conn_received(struct conn *c, const char *data, size_t n)
{
	struct framed f;

	if (n == 0) {
		received_eof(c);
		return true;
	}
	if (c->phase != CONN_ECHOING)
		return true; /* rejecting, draining, finished or failed: discarded */
	f = framer_feed(&c->framer, data, n);
	owe_completed(c, &f);
	return store(c, data, n, f.complete, f.too_long);
}

/* The completion driver's zero-copy case: the connection holds nothing (no
 * owed bytes, no unfinished message), so the complete messages at the start
 * of the chunk can go out from the chunk itself. Only the unfinished rest is
 * copied. Anything else takes the conn_received path. */
bool conn_received_in_place(struct conn *c, const char *data, size_t n, size_t *in_place)
{
	struct framed f;

	*in_place = 0;
	if (n == 0 || c->phase != CONN_ECHOING || conn_owed(c) > 0 || c->len > c->sent)
		return conn_received(c, data, n);
	f = framer_feed(&c->framer, data, n);
	if (f.complete == 0 || f.too_long) {
		owe_completed(c, &f);
		return store(c, data, n, f.complete, f.too_long);
	}
	/* Owed echo like any other, counted the same way, but not stored. */
	c->in_place = *in_place = f.complete;
	c->echo_owed += f.complete;
	c->owed_messages += f.messages;
	return append(c, data + f.complete, n - f.complete);
}

bool conn_has_room(const struct conn *c, size_t n)
{
	if (c->phase != CONN_ECHOING)
		return true; /* an EOF, or input to discard: nothing is kept */
	if (!(conn_wants(c) & CONN_WANT_READ))
		return false;
	return c->lent == 0 || c->cap - c->len >= n;
}

/* ---- giving output ------------------------------------------------------ */

struct iovec conn_to_send(struct conn *c)
{
	struct iovec iov = {NULL, 0};

	/* In-place bytes go first: the driver sends those from its own buffer. */
	if (c->lent == 0 && c->in_place == 0 && conn_owed(c) > 0) {
		iov.iov_base = c->buf + c->sent;
		iov.iov_len = conn_owed(c);
		c->lent = iov.iov_len;
	}
	return iov;
}

/* Counts n sent bytes: echo in the byte count, the error line not; the
 * messages once their whole echo is out (as the blocking loop does). */
static void count_sent(struct conn *c, size_t n, struct echo_stats *st)
{
	size_t echoed = n < c->echo_owed ? n : c->echo_owed;

	c->echo_owed -= echoed;
	stats_add(&st->bytes, echoed);
	if (c->echo_owed == 0 && c->owed_messages > 0) {
		stats_add(&st->messages, c->owed_messages);
		c->messages += c->owed_messages;
		c->owed_messages = 0;
	}
}

void conn_sent(struct conn *c, size_t n, struct echo_stats *st)
{
	if (c->in_place > 0) {
		c->in_place -= n; /* the send was of the driver's in-place bytes */
	} else {
		c->lent = 0;
		free(c->retired); /* the send that read it is over */
		c->retired = NULL;
		c->sent += n;
	}
	count_sent(c, n, st);
	if (conn_owed(c) > 0)
		return;
	if (c->phase == CONN_REJECTING) {
		/* The error line is out: FIN, then read until the client closes. */
		protocol_finish(c->fd);
		c->phase = CONN_DRAINING;
	}
	tidy(c);
}

void conn_give_up(struct conn *c, const char *why)
{
	/* A connection rejected with "ERR line too long" is being drained:
	 * whatever ends the drain, it closes because of the line. */
	if (c->phase != CONN_REJECTING && c->phase != CONN_DRAINING)
		c->close_reason = why;
	c->phase = CONN_FAILED;
}

void conn_end(struct conn *c, bool verbose)
{
	log_close(verbose, &c->peer, c->close_reason);
	free(c->buf);
	free(c->retired);
	c->buf = c->retired = NULL;
}

void conn_close(struct conn *c, bool verbose)
{
	conn_end(c, verbose);
	close(c->fd);
	c->fd = -1;
}

/* ---- readiness loops ---------------------------------------------------- */

/* send/sendmsg with MSG_NOSIGNAL: a client that vanished is an EPIPE to
 * handle, never a SIGPIPE, whoever runs this code (servers also ignore it). */
static ssize_t send_iov(int fd, struct iovec *iov, int count)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};

	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

enum conn_want conn_on_writable(struct conn *c, struct echo_stats *st)
{
	while (conn_owed(c) > 0) {
		struct iovec iov = conn_to_send(c);
		ssize_t n = send_iov(c->fd, &iov, 1);

		conn_sent(c, n > 0 ? (size_t)n : 0, st);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			conn_fail(c, CONN_WHY_WRITE);
		/* EAGAIN, or a short write (the socket buffer is full: trying again
		 * now would only fetch EAGAIN): keep the rest, wait to be writable. */
		if (n < 0 || (size_t)n < iov.iov_len)
			break;
	}
	return conn_wants(c);
}

/* The common case: nothing is owed, so the complete messages of this read go
 * out straight from the loop's buffer, after the unfinished message this
 * connection held (which they complete), in one sendmsg. Only what the kernel
 * did not take, and the new unfinished message, are copied. */
static enum conn_want echo_direct(struct conn *c, struct echo_stats *st, const char *data,
                                  size_t n)
{
	struct framed f = framer_feed(&c->framer, data, n);
	size_t held = c->len - c->sent, done = 0, from_held, from_data;

	owe_completed(c, &f);
	if (f.too_long) {
		/* Rare: keep it all, so that the echo and the error line go out
		 * together in one send. */
		if (!store(c, data, n, f.complete, true))
			return CONN_CLOSE;
		return conn_on_writable(c, st);
	}
	if (f.complete > 0) {
		/* c->buf is NULL while nothing is held: no pointer arithmetic on it */
		struct iovec iov[2] = {{held > 0 ? c->buf + c->sent : NULL, held},
		                       {(char *)data, f.complete}};
		ssize_t w = send_iov(c->fd, held > 0 ? iov : iov + 1, held > 0 ? 2 : 1);

		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			conn_fail(c, CONN_WHY_WRITE);
			return CONN_CLOSE;
		}
		done = w > 0 ? (size_t)w : 0;
	}
	from_held = done < held ? done : held;
	from_data = done - from_held;
	c->sent += from_held;
	count_sent(c, done, st);
	if (!store(c, data + from_data, n - from_data, f.complete - from_data, false))
		return CONN_CLOSE;
	tidy(c);
	return conn_wants(c);
}

/* One recv into rbuf, and what follows from it. Returns false when this
 * wake-up should read no more: the socket had nothing (EAGAIN, with *drained
 * set; or EINTR), it failed, or the client's EOF came. */
static bool read_once(struct conn *c, struct echo_stats *st, char *rbuf, size_t rbuf_size,
                      bool *drained)
{
	bool was_owing = conn_owed(c) > 0;
	ssize_t n = recv(c->fd, rbuf, rbuf_size, 0);

	if (n < 0) {
		if (errno == EAGAIN)
			*drained = true;
		else if (errno != EINTR && c->phase == CONN_DRAINING)
			received_eof(c); /* a reset ends the drain as a close does */
		else if (errno != EINTR)
			conn_fail(c, CONN_WHY_RESET);
		return false;
	}
	if (n > 0 && !was_owing && c->phase == CONN_ECHOING)
		return echo_direct(c, st, rbuf, (size_t)n) != CONN_CLOSE;
	/* Anything else (owing already, an EOF, a rejected or draining
	 * connection's input, which the core discards) goes through the core. */
	if (!conn_received(c, rbuf, (size_t)n))
		return false;
	/* Send at once rather than wait for the next round of the loop: the
	 * socket is almost always writable, and this saves a wake-up. Unless it
	 * was already owing, i.e. waiting to become writable. */
	if (conn_owed(c) > 0 && !was_owing)
		conn_on_writable(c, st);
	return n > 0;
}

enum conn_want conn_on_readable(struct conn *c, struct echo_stats *st, char *rbuf,
                                size_t rbuf_size, unsigned budget, bool *drained)
{
	bool ignored;

	if (drained == NULL)
		drained = &ignored;
	*drained = false;
	/* Readable but not reading (backpressure, finishing, rejecting): an EOF
	 * or error the kernel reports anyway; the write path will meet it. */
	if (!(conn_wants(c) & CONN_WANT_READ))
		return conn_on_writable(c, st);
	while (budget-- > 0 && read_once(c, st, rbuf, rbuf_size, drained) &&
	       (conn_wants(c) & CONN_WANT_READ))
		;
	return conn_wants(c);
}
