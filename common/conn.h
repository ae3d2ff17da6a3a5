/* conn: one client's side of the protocol, for any event loop.
 *
 * All the protocol of the event-driven models lives here, in two layers:
 *
 *   the core      bytes in, bytes out, no waiting. The loop reads the client's
 *                 bytes into a buffer the connection does NOT own (a readiness
 *                 loop's one shared read buffer, or an io_uring provided
 *                 buffer) and hands them over with conn_received; the core
 *                 frames them and keeps only what it must: the complete
 *                 messages it now owes, and the unfinished message. The loop
 *                 asks conn_to_send what to send next and reports with
 *                 conn_sent how much went out. conn_wants says what the
 *                 connection needs next.
 *   drivers       what moves the bytes between the socket and the core:
 *                 readiness  conn_on_readable / conn_on_writable, the read
 *                            and write system calls for loops that wait for
 *                            readiness (select, poll, epoll, libev,
 *                            reuseport), level- or edge-triggered: a read
 *                            budget per wake-up and a "drained" answer;
 *                 blocking   echo_blocking.c: the same calls on a blocking
 *                            socket, one thread per connection (or, with
 *                            echo_waiting, one coroutine per connection on
 *                            a non-blocking one);
 *                 completion the core itself, called from io_uring
 *                            completions (below).
 *
 * The bytes a connection keeps live in a buffer of its own, allocated when
 * there is something to keep and freed as soon as there is nothing: an idle
 * connection costs only this struct, and one holding an unfinished line costs
 * that line, not a read buffer.
 *
 *     buf: [ already sent | owed                  | unfinished message | free ]
 *          0              sent                    owed_end             len    cap
 *                         [ echo ... | error line ]
 *
 * Owed bytes are the echo of complete messages and, after an over-long line,
 * the "ERR line too long" line: an error is just more owed bytes (echo_owed
 * tells the echo apart, for the byte count). Memory is bounded: the
 * unfinished message is shorter than max_line (the framer rejects it at that
 * length), and the connection stops asking for input while CONN_OWED_LIMIT
 * (or max_line, if larger) or more bytes are owed, so a client that sends
 * without reading fills its own socket buffers and is throttled by TCP. The buffer is sized to what it
 * holds, never beyond owed + max_line, and shrinks back when the owed bytes
 * are gone (once it is more than twice the unfinished message plus max_line).
 *
 * Phases, with what conn_wants answers in each ([R] CONN_WANT_READ, [W]
 * CONN_WANT_WRITE while bytes are owed, [-] CONN_CLOSE); the arrows are
 * conn_received (input, or EOF) and conn_sent (everything owed is out):
 *
 *            complete messages: their echo is owed
 *            all owed sent: buffer freed if nothing is left
 *               +----+
 *               |    v
 *   init ---> ECHOING [R W]  (R only while owed < the owed limit)
 *               |    |
 *               |    +--- EOF: the unfinished message is owed too ---+
 *               |                                                    v
 *               | max_line bytes with no LF:              +---> FINISHING [W]
 *               | unfinished message dropped,             |          |
 *               | "ERR line too long" owed                |          | all owed sent
 *               v                                         |          v
 *            REJECTING [W] --- EOF ----------------------+        [-] close
 *               |     (other input: discarded)            ^
 *               | all owed sent: shutdown(SHUT_WR)        | EOF (nothing is
 *               v                                         | owed: [-] at once)
 *            DRAINING [R] --------------------------------+
 *                   (input discarded until the client, having read the
 *                   error line and our EOF, closes; see protocol_finish)
 *
 *   any phase --- conn_fail (a receive or send failed) ---> FAILED [-]
 *
 * On EOF in ECHOING the unfinished message is still the client's data: it is
 * owed as it is, without an LF (counted in bytes, not in messages).
 * Messages are counted in the stats when their echo has been sent in full.
 *
 * Using the core from a completion loop (io_uring):
 *   - keep a receive armed while conn_wants() has CONN_WANT_READ; when one
 *     completes with n >= 0 bytes at p: conn_received_in_place(c, p, n,
 *     &k) (n == 0 is the client's EOF). k > 0: the first k bytes at p are
 *     complete messages owed as they are; send them from p itself, before
 *     anything conn_to_send offers, and keep p's buffer until they are out
 *     (this happens when the connection held nothing: the common case of
 *     whole messages, with no copy and no allocation). The core has copied
 *     whatever else it keeps, so with k == 0 the buffer can go straight
 *     back to the kernel. Bytes that arrive while conn_has_room() is false
 *     (backpressure, or no room beside a send in flight) are better kept in
 *     their buffer and handed over, in order, once it is true again; handed
 *     over anyway, the core takes them (by moving to a larger buffer) or,
 *     past ECHOING, discards them.
 *   - with no send in flight, iov = conn_to_send(c): if iov.iov_len > 0, send
 *     exactly that (it is every complete message owed, in one piece); when it
 *     completes with n >= 0: conn_sent(c, n, stats) (a short send leaves the
 *     rest owed: conn_to_send offers it again). Between conn_to_send and
 *     conn_sent the bytes offered stay where they are, whatever
 *     conn_received adds meanwhile (the core moves to a new buffer rather
 *     than move them, and frees the old one in conn_sent).
 *   - a failed receive or send: conn_fail(c, CONN_WHY_RESET or
 *     CONN_WHY_WRITE). A send that fails must still be reported with
 *     conn_sent(c, 0, stats) first, to end the loan.
 *   - conn_wants() == CONN_CLOSE and nothing in flight: loop_close (or
 *     conn_close) it. Idle timeouts and the busy refusal are the loop's
 *     (common/loop.h), not the connection's.
 */
#ifndef ECHOLAB_CONN_H
#define ECHOLAB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "framer.h"
#include "idle.h"
#include "peer.h"

struct echo_stats;

enum conn_want {
	CONN_CLOSE = 0,      /* done: close the connection */
	CONN_WANT_READ = 1,  /* take input: keep a read or receive going */
	CONN_WANT_WRITE = 2, /* bytes are owed: send them (may be set with READ) */
};

enum conn_phase {
	CONN_ECHOING,   /* normal service */
	CONN_FINISHING, /* client half-closed: send what is owed, then close */
	CONN_REJECTING, /* line too long: send what is owed, the error included */
	CONN_DRAINING,  /* we sent FIN; discard input until the client closes */
	CONN_FAILED,    /* the socket failed: close */
};

/* Past this many owed bytes (or max_line, if larger: one whole message may
 * always be owed) the connection asks for no more input. */
#define CONN_OWED_LIMIT (32 * 1024)

/* close_reason values for conn_fail (also shown in the --verbose log). */
#define CONN_WHY_RESET "connection reset" /* a receive failed */
#define CONN_WHY_WRITE "write failed"     /* a send failed */

struct conn {
	int fd;
	enum conn_phase phase;
	struct peer peer; /* 20 bytes: beside fd and phase, 4 bytes of padding */
	struct framer framer;
	char *buf;          /* what the connection keeps (diagram above); NULL: nothing */
	size_t cap, sent, owed_end, len;
	size_t echo_owed;     /* owed bytes that are echo; the rest is the error line */
	size_t owed_messages; /* complete messages in the owed echo */
	size_t lent;          /* owed bytes offered by conn_to_send, not yet reported */
	size_t in_place;      /* owed bytes the driver sends from its own buffer, before buf's */
	char *retired;        /* an old buffer a send in flight still reads */
	struct idle_link idle; /* position in the loop's idle list */
	unsigned long long messages; /* echoed in full so far: its worker's count */
	const char *close_reason; /* for the --verbose log */
};

/* ---- the core: no waiting, usable by any loop -------------------------- */

void conn_init(struct conn *c, int fd, size_t max_line, const struct peer *peer);
/* Hands over n bytes received into a buffer the connection does not own; n == 0
 * is the client's EOF. Copies what must be kept. Returns false only when out
 * of memory, with the connection FAILED (close it). */
bool conn_received(struct conn *c, const char *data, size_t n);
/* conn_received for a driver that can keep the buffer at data until a send
 * from it completes (io_uring's provided buffers): *in_place is how many
 * bytes at the start of data are owed as they are, to be sent from data
 * itself before anything conn_to_send offers (and reported with conn_sent);
 * 0 when the core took, or copied, everything. The rest is taken as by
 * conn_received. */
bool conn_received_in_place(struct conn *c, const char *data, size_t n, size_t *in_place);
/* The next bytes to send: every owed byte in the connection's buffer, in
 * one piece; iov_len 0 when none are owed, in-place bytes are still owed,
 * or a send of them is already in flight. */
struct iovec conn_to_send(struct conn *c);
/* n bytes of the last send went out (0..iov_len; 0 also for a send that
 * failed): of the in-place bytes while any are owed, else of the last
 * conn_to_send. Counts them in the stats; once everything owed is sent, counts the
 * messages, ends a rejection with FIN (shutdown SHUT_WR) and frees or shrinks
 * the buffer. */
void conn_sent(struct conn *c, size_t n, struct echo_stats *st);
/* Marks the connection FAILED with the reason for the log. */
void conn_fail(struct conn *c, const char *why);
/* What the connection needs next (see the diagram). */
enum conn_want conn_wants(const struct conn *c);
/* Whether n more received bytes can be taken now: the connection wants input
 * and has room for them without moving bytes a send in flight still reads. A
 * completion loop keeps bytes that arrive while this is false in their
 * provided buffer, and hands them over once it is true again. */
bool conn_has_room(const struct conn *c, size_t n);
/* Bytes owed and not yet sent (the echo and any error line). */
size_t conn_owed(const struct conn *c);
/* The server ends the connection (idle timeout, stop): FAILED, with `why`
 * for the log, unless it is already ending for "line too long", which then
 * stays its reason. */
void conn_give_up(struct conn *c, const char *why);
/* Logs the close when verbose and frees what the connection holds; the
 * socket stays open (for a caller that closes it under a lock of its own). */
void conn_end(struct conn *c, bool verbose);
/* conn_end, then closes the socket. */
void conn_close(struct conn *c, bool verbose);

/* ---- the readiness driver (and the blocking one) ------------------------ */

/* The socket is readable: reads into rbuf (the loop's shared buffer of
 * rbuf_size bytes, which the connection uses only during this call), frames
 * it, and sends what is owed at once: usually straight from rbuf, so a client
 * whose messages arrive whole never costs a copy or an allocation. Reads
 * again, up to `budget` reads in all, while the connection takes input and
 * the socket has more. Returns what to wait for next.
 *
 * *drained (may be NULL) says whether the last read found the socket empty
 * (EAGAIN): only then does new input bring a new edge-triggered wake-up. A
 * level-triggered loop reads once (budget 1) and is simply told again. An
 * edge-triggered loop must come back by itself, without a new wake-up, to a
 * connection that still wants input and was not drained: the budget ran
 * out, or backpressure stopped the reads (see models/epoll-et.c). On a
 * blocking socket with SO_RCVTIMEO, "drained" is the idle timeout. */
enum conn_want conn_on_readable(struct conn *c, struct echo_stats *st, char *rbuf,
                                size_t rbuf_size, unsigned budget, bool *drained);
/* The socket is writable: sends what is owed until done or the kernel's
 * buffer is full (EAGAIN or a short send: the buffer filled, and the socket
 * reports writable again, level or edge, once there is room). */
enum conn_want conn_on_writable(struct conn *c, struct echo_stats *st);

#endif
