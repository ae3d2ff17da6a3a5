/* conn: one client of an event loop, as a state machine over a non-blocking socket.
 *
 * The loop tells the connection its socket is readable or writable; the
 * connection does the I/O and answers what it wants to wait for next. All the
 * protocol lives here, so select, poll, epoll and libev differ only in how
 * they wait.
 *
 * The bytes live in one buffer, allocated on the first read and freed whenever
 * it empties (an idle connection costs only this struct):
 *
 *     buf: [ already sent | echo owed | unfinished message |   free   ]
 *          0             sent       owed_end              len       cap
 *
 * cap is max_line plus one read chunk and never grows, so memory per connection
 * is bounded: while the owed echo is large the connection stops asking to read
 * (backpressure), and the client's extra bytes wait in the kernel, not here.
 */
#ifndef ECHOLAB_CONN_H
#define ECHOLAB_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "framer.h"
#include "idle.h"
#include "peer.h"

struct echo_stats;

enum conn_want {
	CONN_CLOSE = 0,
	CONN_WANT_READ = 1,
	CONN_WANT_WRITE = 2,
	CONN_WANT_BOTH = CONN_WANT_READ | CONN_WANT_WRITE,
};

enum conn_phase {
	CONN_ECHOING,   /* normal service */
	CONN_FINISHING, /* client half-closed: send what is owed, then close */
	CONN_REJECTING, /* line too long: send what is owed and the error, then drain */
	CONN_DRAINING,  /* we sent FIN; discard input until the client closes */
};

struct conn {
	int fd;
	enum conn_phase phase;
	struct framer framer;
	char *buf;
	size_t cap, sent, owed_end, len;
	size_t owed_messages;   /* complete messages in the owed echo */
	size_t trailer_sent;    /* bytes of the error line already sent */
	struct idle_link idle;  /* position in the loop's idle list */
	struct peer peer;
	const char *close_reason; /* for the --verbose log */
	/* The event loop's own bookkeeping, untouched by conn.c: */
	enum conn_want waiting_for; /* what the loop last registered interest in */
	size_t slot;                /* poll: index in the pollfd array */
};

/* Largest single read; also the slack that keeps a read possible beside a
 * partial message. */
#define CONN_READ_CHUNK (64 * 1024)

void conn_init(struct conn *c, int fd, size_t max_line, const struct peer *peer);
enum conn_want conn_on_readable(struct conn *c, struct echo_stats *st);
enum conn_want conn_on_writable(struct conn *c, struct echo_stats *st);
/* What to wait for when nothing happened yet (a new connection). */
enum conn_want conn_wants(const struct conn *c);
/* Closes the socket and frees the buffer; logs when verbose. */
void conn_close(struct conn *c, bool verbose);

#endif
