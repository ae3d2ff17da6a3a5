/* bufring: io_uring's provided buffers, lent to connections and given back.
 *
 * One ring of BUFRING_COUNT buffers of BUFRING_SIZE bytes, registered with
 * the kernel as buffer group BUFRING_GROUP. A multishot recv with
 * IOSQE_BUFFER_SELECT has no buffer of its own: when bytes arrive the kernel
 * takes the buffer at the ring's head and names it (its id) in the
 * completion. From then on the buffer is lent to us, and it must come back
 * to the ring's tail exactly once:
 *
 *     ring:  [ b17 | b18 | b3 | b40 | ... | b16 ]
 *              ^ head (the kernel takes)      ^ tail (we give back)
 *
 * A buffer goes back as soon as its completion has been handed over to the
 * connection core (common/conn.h), which copies whatever bytes it keeps;
 * unless the core answers that the buffer's first bytes are complete
 * messages to be sent as they are (a connection that held nothing: the
 * common case). Then the buffer is the connection's loan: the send reads it
 * in place, and it goes back when that send has sent them all. No copy, no
 * allocation. Given-back buffers reach the kernel at the next
 * bufring_publish (one store per batch of completions, not one per buffer).
 *
 * A connection that cannot take bytes yet (it owes too much, or a send in
 * flight reads its buffer) keeps them where they arrived: it parks the
 * buffer, in order, and hands it over later. The ring's memory is allocated
 * once and stays resident, so parking costs nothing, where taking the bytes
 * would move the connection's buffer to a larger, freshly faulted one.
 */
#ifndef ECHOLAB_BUFRING_H
#define ECHOLAB_BUFRING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#define BUFRING_COUNT 1024 /* a power of two */
#define BUFRING_SIZE 4096
#define BUFRING_GROUP 0

struct bufring {
	struct io_uring_buf_ring *br; /* shared with the kernel */
	char *mem;                    /* BUFRING_COUNT * BUFRING_SIZE bytes */
	int returned;                 /* given back since the last publish */
	unsigned short next[BUFRING_COUNT]; /* a parked buffer's successor */
	unsigned short len[BUFRING_COUNT];  /* a parked buffer's byte count */
};

/* The buffers one connection holds on to: the parked ones, oldest first, a
 * queue linked through the ring's per-buffer `next`, so it costs the
 * connection a few bytes however long it grows (a multishot recv that is
 * being cancelled can still land a few dozen buffers; the queue takes them
 * all); and at most one loan, a buffer whose bytes a send reads in place. */
struct bufring_held {
	unsigned short head, tail, count;
	bool eof;                      /* the client's EOF came after them */
	bool lending;                  /* loan_bid's bytes are owed, sent from it */
	unsigned short loan_bid, loan_off, loan_len; /* what is left to send */
};

/* Registers the ring and hands the kernel every buffer. 0, or -errno. */
int bufring_open(struct bufring *b, struct io_uring *ring);
/* After io_uring_queue_exit (the kernel has let go of the buffers). */
void bufring_close(struct bufring *b);
void bufring_publish(struct bufring *b);
/* Buffer bid, lent by a completion: its bytes. */
const char *bufring_data(const struct bufring *b, int bid);
/* Buffer bid's bytes have been handed over: back to the ring. */
void bufring_give_back(struct bufring *b, int bid);

/* Parks buffer bid, holding len > 0 bytes, behind the others. */
void bufring_park(struct bufring *b, struct bufring_held *h, int bid, size_t len);
/* The oldest parked buffer's byte count (the queue is not empty). */
size_t bufring_parked_len(const struct bufring *b, const struct bufring_held *h);
/* Takes the oldest parked buffer off the queue: its id. */
int bufring_unpark(struct bufring *b, struct bufring_held *h);
/* Received bytes (n == 0: the EOF) for connection c: handed to the core if
 * it can take them now, else parked behind any parked before them. Handed
 * over, the buffer goes back, or becomes the loan if the core owes some of
 * its bytes as they are. False when the core ran out of memory. */
struct conn;
struct echo_stats;
bool bufring_take_or_park(struct bufring *b, struct conn *c, struct bufring_held *h, int bid,
                          size_t n);
/* Hands over what was parked, oldest first, while the core has room; the
 * EOF last. False when the core ran out of memory. */
bool bufring_take_parked(struct bufring *b, struct conn *c, struct bufring_held *h);
/* What to send next: the loan's bytes, or else what the core offers. */
struct iovec bufring_to_send(const struct bufring *b, struct conn *c,
                             const struct bufring_held *h);
/* n bytes of the last bufring_to_send went out (0 for a failed send): the
 * core is told (conn_sent), and a loan sent in full goes back. */
void bufring_sent(struct bufring *b, struct conn *c, struct bufring_held *h, size_t n,
                  struct echo_stats *st);
/* Gives every parked buffer back unread (the connection is closing). */
void bufring_drop_parked(struct bufring *b, struct bufring_held *h);
/* Gives the loan back, sent or not: only once no send reads it. */
void bufring_end_loan(struct bufring *b, struct bufring_held *h);

#endif
