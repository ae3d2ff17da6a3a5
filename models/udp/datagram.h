/* datagram: the echo protocol for datagrams (UDP), once.
 *
 * A datagram is a whole message: it arrives whole or not at all, and the
 * kernel keeps its boundaries, so there is no framing, no partial message, no
 * connection and no half-close. The reply to a datagram is one datagram to its
 * sender: the same bytes, or "ERR line too long" when it is longer than
 * --max-line (found with MSG_TRUNC, so a datagram too big for the buffer is
 * never echoed cut short as if it were whole). Datagrams from source port 0,
 * 7 (echo) or 19 (chargen) get no reply at all: answering an echo or chargen
 * service, whose source address anyone can forge, would start a loop between
 * two servers that never ends (CERT CA-1996-01).
 *
 * Counted in the summary: messages and bytes echoed; "refused" counts the
 * datagrams not echoed (too long, or from a forbidden port). "connections"
 * stays 0: there are none.
 */
#ifndef ECHOLAB_DATAGRAM_H
#define ECHOLAB_DATAGRAM_H

#include <stdbool.h>
#include <stddef.h>

struct server;

/* A receive buffer for srv's --max-line (at most one datagram's worth). */
struct datagram_buffer {
	char *data;
	size_t size;
};

void datagram_buffer_init(struct datagram_buffer *b, const struct server *srv);
void datagram_buffer_free(struct datagram_buffer *b);

/* Receives one datagram from the non-blocking socket fd and answers it.
 * False when none is waiting (EAGAIN) or the call was interrupted. */
bool datagram_serve_one(struct server *srv, int fd, struct datagram_buffer *b);

#endif
