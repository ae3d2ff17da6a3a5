/* bufring: io_uring's provided buffers, lent to connections and given back.
 *
 * Rings of buffers registered with the kernel as buffer groups (below: small
 * ones for everyone, large ones for long messages). A multishot recv with
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
 * buffer, in order, and hands it over later. The rings' memory is allocated
 * once and stays, so parking costs nothing, where taking the bytes
 * would move the connection's buffer to a larger, freshly faulted one. Its
 * recv runs on meanwhile, up to BUFRING_PARK_LIMIT parked bytes.
 */
#ifndef ECHOLAB_BUFRING_H
#define ECHOLAB_BUFRING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* Two groups of buffers, one id space (a ring entry's id is ours to choose):
 * small ones, ids 0..BUFRING_COUNT-1, resident from the start, for every
 * connection; large ones, ids from BUFRING_COUNT on, touched only by
 * connections that send long messages (bufring_prep_recv, bufring_regroup). */
#define BUFRING_COUNT 1024 /* a power of two */
#define BUFRING_SIZE 4096
#define BUFRING_GROUP 0
#define BUFRING_LARGE_COUNT 8 /* a power of two */
#define BUFRING_LARGE_SIZE 65536
#define BUFRING_LARGE_GROUP 1
#define BUFRING_IDS (BUFRING_COUNT + BUFRING_LARGE_COUNT)
/* A connection's recv runs on while it parks fewer bytes than this: a
 * pipelining client's next messages wait in buffers, not behind a cancel
 * and a re-arm of the recv per send. */
#define BUFRING_PARK_LIMIT (64 * 1024)

struct bufring {
	struct io_uring_buf_ring *br, *large_br; /* shared with the kernel */
	char *mem, *large_mem;        /* COUNT * SIZE bytes; LARGE_COUNT * LARGE_SIZE */
	int returned, large_returned; /* given back since the last publish */
	unsigned short next[BUFRING_IDS]; /* a parked buffer's successor */
	unsigned len[BUFRING_IDS];        /* a parked buffer's byte count */
};

/* The buffers one connection holds on to: the parked ones, oldest first, a
 * queue linked through the ring's per-buffer `next`, so it costs the
 * connection a few bytes however long it grows; and at most one loan, a
 * buffer whose bytes a send reads in place. */
struct bufring_held {
	unsigned short head, tail, count;
	bool eof;                      /* the client's EOF came after them */
	bool lending;                  /* loan_bid's bytes are owed, sent from it */
	bool large;                    /* the recv should take large buffers */
	unsigned short loan_bid;
	unsigned loan_off, loan_len;   /* what is left of the loan to send */
	unsigned parked;               /* bytes parked */
};

/* Registers the rings and hands the kernel every buffer. 0, or -errno. */
int bufring_open(struct bufring *b, struct io_uring *ring);
/* After io_uring_queue_exit (the kernel has let go of the buffers). */
void bufring_close(struct bufring *b);
void bufring_publish(struct bufring *b);
/* Buffer bid, lent by a completion: its bytes. */
const char *bufring_data(const struct bufring *b, int bid);
/* Buffer bid's bytes have been handed over: back to the ring. */
void bufring_give_back(struct bufring *b, int bid);
/* Prepares sqe as the connection's recv, with no buffer of its own: the
 * kernel picks one from the connection's group when bytes arrive. On the
 * small buffers a multishot recv; on the large ones one recv at a time, so
 * a heavy sender gets one buffer per round (as a readiness loop reads once
 * per wake-up) where a multishot recv would fill dozens before anyone
 * else's turn. True for the multishot one. */
bool bufring_prep_recv(struct io_uring_sqe *sqe, int fd, const struct bufring_held *h);
/* After a recv completion of n bytes in buffer bid (n < 0: an error): true
 * if the connection now wants the other group, its recv to be re-armed
 * there. A full small buffer means a long message is coming: large buffers
 * carry it in one piece (one completion, no copy where it arrives whole);
 * an ENOBUFS on the large ones (all busy) means back to the small. */
bool bufring_regroup(struct bufring_held *h, int bid, int n);
/* The connection parks as much as it may: stop its recv. */
bool bufring_parked_full(const struct bufring_held *h);

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
