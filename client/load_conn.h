/* load_conn: the connections of one load thread, each a verified stream of
 * messages (--load without --churn or --udp).
 *
 * Cost per message is what decides whether the client or the server is being
 * measured, so a connection does as little as possible:
 *
 *   - Messages are sent straight out of the payload table (see payload.h), all
 *     that a connection may send in one sendmsg; nothing is copied to send.
 *   - Echoes are read into one large per-thread buffer and compared with the
 *     table in place; a connection keeps no buffer of its own, only counters
 *     and the send times of what it has in flight.
 *   - Sockets are edge-triggered (the thread's epoll): a read shorter than the
 *     buffer means the socket is drained and a write shorter than asked means
 *     it is full (epoll(7)), so there is no extra call just to collect EAGAIN.
 *
 * A connection's stream position is counted in messages:
 *
 *     rx_seq <= tx_seq <= stamped <= released
 *     echoed    written   given a    allowed by
 *     and       to the    send time  the schedule
 *     checked   socket
 *
 * and at most `depth` messages are stamped but not yet echoed.
 */
#ifndef ECHOLAB_CLIENT_LOAD_CONN_H
#define ECHOLAB_CLIENT_LOAD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histogram.h"
#include "load_result.h"
#include "payload.h"
#include "schedule.h"
#include "window.h"

struct load_conn {
	int fd;          /* -1 once closed after an error */
	uint64_t id;     /* which connection of the run: picks its messages and schedule */
	uint64_t released, stamped, tx_seq, rx_seq;
	size_t tx_off;   /* bytes of message tx_seq already written */
	size_t rx_off;   /* bytes of message rx_seq already echoed and checked */
	int64_t *sent_at; /* ring of depth: when each message in flight was sent or due */
	bool dirty;      /* released more messages this round (open loop) */
};

/* What a load thread counts; the main thread reads it after joining. */
struct load_tally {
	struct histogram latency; /* nanoseconds, echoes completed in the window */
	uint64_t messages;        /* echoes completed in the window */
	uint64_t completed;       /* echoes completed and checked, warm-up and drain included */
	struct load_errors errors;
};

/* One thread's connections and what they share to send and check. */
struct load_conns {
	struct load_conn *list;
	size_t count;
	size_t open_count;               /* not closed by an error */
	const struct payload *payload;
	unsigned depth;
	const struct schedule *schedule; /* open loop: due times; NULL in closed loop */
	const struct window *window;     /* echoes completed inside it are measured */
	char *rx_buf;
	int64_t *sent_at_storage;
	struct load_tally *tally;
};

/* Takes the `count` connected sockets fds[] (closing them itself should it
 * fail): connection i is connection first + i * stride of the run. Closed
 * loop (no schedule) releases every message at once; open loop releases
 * none until the schedule does. False only for want of memory. */
bool load_conns_init(struct load_conns *cs, const int *fds, size_t count, uint64_t first,
                     uint64_t stride, unsigned depth, const struct payload *payload,
                     const struct schedule *schedule, const struct window *window,
                     struct load_tally *tally);
/* Closes the connections still open and frees it all. */
void load_conns_destroy(struct load_conns *cs);

/* Ends a connection after an error: counted with `why`; the others carry on. */
void load_conn_fail(struct load_conns *cs, struct load_conn *c, const char *why);

/* Writes everything this connection may send now. */
void load_conn_flush(struct load_conns *cs, struct load_conn *c, int64_t now);

/* The thread's epoll reported these events for c: read and check what came,
 * then send what may go. */
void load_conn_on_event(struct load_conns *cs, struct load_conn *c, uint32_t events);

/* Echoes still owed on a connection still open. */
static inline bool load_conn_waiting(const struct load_conn *c)
{
	return c->fd >= 0 && c->rx_seq < c->stamped;
}

#endif
