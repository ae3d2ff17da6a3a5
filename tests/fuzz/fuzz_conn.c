/* fuzz_conn: the connection state machine (common/conn.c) against the protocol.
 *
 * The input is read as
 *
 *     [max-line: 1 or 2 bytes] [flags] [k] [k op bytes] [stream...]
 *
 * and drives one connection through one of two paths (flags bit 0):
 *
 *   readiness  conn_on_readable / conn_on_writable over a socketpair with
 *              small socket buffers, as a level-triggered loop calls them
 *              (poll with the interest conn_wants asks for), with a shared
 *              read buffer of a fuzzed size and a fuzzed read budget. The harness is the client: it
 *              writes the stream in fuzzed pieces and reads the echo in
 *              fuzzed amounts (often none, so the server's sends come up
 *              short and it must wait to be writable).
 *   core       conn_received / conn_to_send / conn_sent with no socket I/O:
 *              the harness takes a fuzzed number of the bytes offered (any
 *              short-write point), sometimes hands over more input between
 *              conn_to_send and conn_sent (the offered bytes must stay valid,
 *              as an io_uring send in flight needs), and receives that come
 *              after the want went away (as a completion loop may). With
 *              flags bit 3 it receives as io_uring's loop does, through
 *              conn_received_in_place: the bytes it owes in place are sent
 *              from the received piece itself, before anything conn_to_send
 *              offers (which must offer nothing meanwhile).
 *
 * The stream ends (flags bits 1-2) with a half-close, or with a reset at a
 * fuzzed point (the client closes with unread data: RST; core: conn_fail).
 * After a half-close the bytes the client receives, until EOF, must be
 * exactly what the protocol says (computed here from the whole stream:
 * every complete message, then either the trailing partial message or, for
 * a message reaching max-line bytes with no LF, "ERR line too long\n"), and
 * the stats must count exactly the messages and bytes of that echo. After a
 * reset they must be a prefix of it. Every connection must reach CONN_CLOSE
 * and free everything (LeakSanitizer checks each input).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "protocol.h"
#include "stats.h"

#define MAX_ROUNDS 200000 /* far beyond what any input needs: a hang is a bug */

struct expect {
	char *bytes;
	size_t len, echo_bytes, messages;
};

/* What the server must send for `stream` followed by a half-close. */
static struct expect expected(const uint8_t *s, size_t n, size_t max_line)
{
	struct expect e = {malloc(n + sizeof PROTOCOL_ERR_TOO_LONG), 0, 0, 0};
	size_t start = 0, partial = 0;

	if (e.bytes == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n') {
			memcpy(e.bytes + e.len, s + start, i + 1 - start);
			e.len += i + 1 - start;
			e.messages++;
			start = i + 1;
			partial = 0;
		} else if (++partial >= max_line) {
			e.echo_bytes = e.len;
			memcpy(e.bytes + e.len, PROTOCOL_ERR_TOO_LONG, PROTOCOL_LEN(PROTOCOL_ERR_TOO_LONG));
			e.len += PROTOCOL_LEN(PROTOCOL_ERR_TOO_LONG);
			return e;
		}
	}
	memcpy(e.bytes + e.len, s + start, n - start); /* the trailing partial, as it is */
	e.len += n - start;
	e.echo_bytes = e.len;
	return e;
}

static void fail(const char *what, size_t a, size_t b)
{
	fprintf(stderr, "fuzz_conn: %s (%zu vs %zu)\n", what, a, b);
	abort();
}

struct run {
	const uint8_t *ops, *stream;
	size_t nops, op, len, pos, reset_at;
	bool reset, ended;
	char *got;
	size_t ngot, cap;
};

static unsigned next_op(struct run *r)
{
	return r->nops ? r->ops[r->op++ % r->nops] : 0xff;
}

static void take(struct run *r, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (r->ngot + n > r->cap) {
		r->cap = (r->ngot + n) * 2;
		r->got = realloc(r->got, r->cap);
		if (r->got == NULL)
			abort();
	}
	memcpy(r->got + r->ngot, p, n);
	r->ngot += n;
}

/* How many stream bytes to give next: 1..256, not past the reset point. */
static size_t piece(struct run *r)
{
	size_t n = (next_op(r) & 0xff) + 1, end = r->reset ? r->reset_at : r->len;
	return n < end - r->pos ? n : end - r->pos;
}

/* ---- readiness: a socketpair and a level-triggered loop ---------------- */

/* One round of the client: write, end the stream, read. Returns -1 when it
 * is time to reset (close with input unread), 1 when bytes moved, else 0. */
static int client_step(struct run *r, int cfd, bool idle_round)
{
	unsigned op = next_op(r);
	bool moved = false;
	size_t end = r->reset ? r->reset_at : r->len;

	if (r->pos < end && ((op & 1) || idle_round)) {
		ssize_t w = send(cfd, r->stream + r->pos, piece(r), MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			r->pos += (size_t)w;
			moved = true;
		}
	}
	if (r->pos == end && !r->ended) {
		r->ended = true;
		moved = true;
		if (r->reset)
			return -1;
		shutdown(cfd, SHUT_WR);
	}
	/* read a fuzzed amount, or everything when nothing else moves */
	size_t want = idle_round ? 1 << 20 : (op & 2) ? (op >> 2) * 97 + 1 : 0;
	char buf[4096];
	while (want > 0) {
		ssize_t n = recv(cfd, buf, want < sizeof buf ? want : sizeof buf, MSG_DONTWAIT);
		if (n <= 0)
			break;
		take(r, buf, (size_t)n);
		want -= want < (size_t)n ? want : (size_t)n;
		moved = true;
	}
	return moved ? 1 : 0;
}

static void run_readiness(struct run *r, struct conn *c, struct echo_stats *st, unsigned flags)
{
	int sv[2];
	static char rbuf[PROTOCOL_READ_CHUNK];
	static const size_t rbuf_sizes[] = {PROTOCOL_READ_CHUNK, 4096, 100, 1};
	size_t rsize = rbuf_sizes[(flags >> 3) & 3];
	int bufsize = 1024 << ((flags >> 5) & 7); /* 1 KiB .. 128 KiB (the kernel rounds up) */
	unsigned reads = r->nops > 1 ? 1 + r->ops[1] % 32u : 1; /* the read budget */

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	conn_init(c, sv[0], c->framer.max_line, &c->peer);

	int cfd = sv[1];
	enum conn_want want = conn_wants(c);
	bool idle = false;
	for (int round = 0; want != CONN_CLOSE; round++) {
		if (round > MAX_ROUNDS)
			fail("the connection never closed (rounds, phase)", (size_t)round, (size_t)c->phase);
		int step = cfd >= 0 ? client_step(r, cfd, idle) : 0;
		bool moved = step != 0;
		if (step < 0) {
			close(cfd); /* any echo unread in its buffer: the server gets RST */
			cfd = -1;
		}
		struct pollfd p = {c->fd, (short)(((want & CONN_WANT_READ) ? POLLIN : 0) |
		                                  ((want & CONN_WANT_WRITE) ? POLLOUT : 0)), 0};
		if (poll(&p, 1, cfd < 0 ? 10 : 0) < 0 && errno != EINTR) /* EINTR: ^C to libFuzzer */
			abort();
		if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
			want = conn_on_readable(c, st, rbuf, rsize, reads, NULL);
			moved = true;
		}
		if ((p.revents & POLLOUT) && (want & CONN_WANT_WRITE)) {
			want = conn_on_writable(c, st);
			moved = true;
		}
		idle = !moved;
	}
	conn_close(c, false);
	if (cfd >= 0) {
		/* the rest of the echo, then EOF */
		char buf[4096];
		ssize_t n;
		while ((n = recv(cfd, buf, sizeof buf, 0)) > 0)
			take(r, buf, (size_t)n);
		if (n < 0 && !r->reset)
			fail("the client's read failed after a half-close (errno)", (size_t)errno, 0);
		close(cfd);
	}
}

/* ---- core: bytes in, bytes out, no socket I/O ---------------------------- */

/* The bytes the core owes in place: a piece of the stream, sent from there. */
struct in_place {
	bool on; /* receive through conn_received_in_place */
	const char *at;
	size_t len;
};

static void receive(struct run *r, struct conn *c, struct in_place *ip)
{
	const char *p = (const char *)r->stream + r->pos;
	size_t n = piece(r), k = 0;
	bool ok = ip->on ? conn_received_in_place(c, p, n, &k) : conn_received(c, p, n);

	if (!ok)
		fail("conn_received: out of memory", n, 0);
	if (k > 0 && ip->len > 0)
		fail("bytes owed in place twice at once (new, old)", k, ip->len);
	if (k > n)
		fail("more bytes owed in place than received (k, n)", k, n);
	if (k > 0) {
		ip->at = p;
		ip->len = k;
	}
	r->pos += n;
}

/* What to send next: the in-place bytes first, else what the core offers. */
static struct iovec to_send(struct conn *c, const struct in_place *ip)
{
	struct iovec iov = conn_to_send(c);

	if (ip->len == 0)
		return iov;
	if (iov.iov_len > 0)
		fail("conn_to_send offers bytes while some are owed in place (offered, in place)",
		     iov.iov_len, ip->len);
	return (struct iovec){(char *)ip->at, ip->len};
}

static void run_core(struct run *r, struct conn *c, struct echo_stats *st, unsigned flags)
{
	struct in_place ip = {(flags & 8) != 0, NULL, 0};
	int sv[2];

	/* a real socket for the FIN after an error line; never read here */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		abort();
	conn_init(c, sv[0], c->framer.max_line, &c->peer);
	bool late_receive_done = false;
	for (int round = 0; conn_wants(c) != CONN_CLOSE; round++) {
		if (round > MAX_ROUNDS)
			fail("the connection never closed (rounds, phase)", (size_t)round, (size_t)c->phase);
		unsigned op = next_op(r);
		size_t end = r->reset ? r->reset_at : r->len;
		bool reading = conn_wants(c) & CONN_WANT_READ;

		/* a receive completing after the want went away: at most one */
		if (reading)
			late_receive_done = false;
		if ((reading || ((op & 4) && !late_receive_done)) && !r->ended) {
			if (!reading)
				late_receive_done = true;
			if (r->pos < end) {
				receive(r, c, &ip);
			} else if (r->reset) {
				r->ended = true;
				conn_fail(c, CONN_WHY_RESET);
				continue;
			} else {
				r->ended = true;
				conn_received(c, "", 0); /* EOF */
			}
		}
		struct iovec iov = to_send(c, &ip);
		if (iov.iov_len == 0)
			continue;
		/* more input while the send is in flight: the offered bytes must not move */
		if ((op & 8) && !r->ended && r->pos < end && (conn_wants(c) & CONN_WANT_READ))
			receive(r, c, &ip);
		/* a short send at any point; a send of 0 at most now and then */
		size_t k = ((size_t)(op >> 4) * iov.iov_len) / 15;
		if (k == 0 && (round & 3))
			k = 1;
		take(r, iov.iov_base, k);
		conn_sent(c, k, st);
		if (ip.len > 0) {
			ip.at += k;
			ip.len -= k;
		}
	}
	conn_close(c, false);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	size_t max_line;
	if (data[0] & 0x80) {
		max_line = 1 + (data[0] & 0x7f);
		data += 1, size -= 1;
	} else {
		max_line = 1 + (((size_t)data[0] << 8 | data[1]) & 0x7fff) * 3; /* up to ~96 KiB */
		data += 2, size -= 2;
	}
	unsigned flags = data[0];
	size_t k = data[1] % 32;
	if (size < 2 + k)
		return 0;
	struct run r = {.ops = data + 2, .nops = k, .stream = data + 2 + k, .len = size - 2 - k};
	r.reset = (flags & 6) == 6;
	r.reset_at = r.len ? (size_t)data[1] * r.len / 255 : 0;

	static struct echo_stats st;
	struct conn c;
	struct peer peer;
	memset(&st, 0, sizeof st);
	memset(&peer, 0, sizeof peer);
	conn_init(&c, -1, max_line, &peer); /* the runs set the socket */
	if (flags & 1)
		run_core(&r, &c, &st, flags);
	else
		run_readiness(&r, &c, &st, flags);

	struct expect e = expected(r.stream, r.len, max_line);
	if (r.ngot > e.len || (r.ngot > 0 && memcmp(r.got, e.bytes, r.ngot) != 0)) {
		size_t at = 0;
		while (at < r.ngot && at < e.len && r.got[at] == e.bytes[at])
			at++;
		fail(r.reset ? "after a reset, the echo is not a prefix of what the protocol says (at, of)"
		             : "the echo differs from what the protocol says (at, of)", at, e.len);
	}
	if (!r.reset) {
		if (r.ngot != e.len)
			fail("after a half-close, bytes echoed before EOF vs the protocol's", r.ngot, e.len);
		if (atomic_load(&st.bytes) != e.echo_bytes)
			fail("stats bytes vs echo bytes", (size_t)atomic_load(&st.bytes), e.echo_bytes);
		if (atomic_load(&st.messages) != e.messages)
			fail("stats messages vs complete messages", (size_t)atomic_load(&st.messages), e.messages);
	} else if (atomic_load(&st.bytes) > e.echo_bytes) {
		fail("stats bytes past the echo after a reset", (size_t)atomic_load(&st.bytes), e.echo_bytes);
	}
	free(e.bytes);
	free(r.got);
	return 0;
}
