/* Unit tests for common/conn.c, the connection state machine of the event
 * loops, driven directly over a socketpair with small socket buffers: every
 * split of a stream into reads, a partial write or EAGAIN at every byte,
 * backpressure on and off, half-close with a partial message, over-long then
 * draining, reset mid-write; the exact bytes the client gets and the wants
 * returned at each step. Then the completion-loop side of the core
 * (conn_received / conn_to_send / conn_sent) with a send in flight. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "protocol.h"
#include "stats.h"

#include "check.h"
#include "fault_send.h"
#include "small_socketpair.h"

#define R CONN_WANT_READ
#define W CONN_WANT_WRITE
#define ERR_LINE PROTOCOL_ERR_TOO_LONG

static char rbuf[PROTOCOL_READ_CHUNK];

struct rig {
	int srv, cli; /* the connection's end (non-blocking) and the client's */
	struct conn c;
	struct echo_stats *st;
};

static void rig_open(struct rig *r, size_t max_line)
{
	int sv[2];
	struct peer peer = { .family = 0 };

	small_socketpair(sv);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	r->srv = sv[0];
	r->cli = sv[1];
	r->st = stats_create(false);
	conn_init(&r->c, r->srv, max_line, &peer);
	fault_clear();
	fault.fd = r->srv;
}

static void rig_close(struct rig *r)
{
	if (r->c.fd >= 0)
		conn_close(&r->c, false);
	close(r->cli);
	stats_destroy(r->st);
	fault_clear();
}

/* The client sends, all of it (the tests keep it under the buffer size). */
static void client_send(struct rig *r, const char *p, size_t n)
{
	CHECK(write(r->cli, p, n) == (ssize_t)n, "client write of %zu bytes", n);
}

/* Everything the client can read now (up to cap); *eof set at EOF. */
static size_t client_read(struct rig *r, char *out, size_t cap, bool *eof)
{
	size_t got = 0;
	ssize_t n;

	*eof = false;
	while (got < cap && (n = read(r->cli, out + got, cap - got)) != 0) {
		if (n < 0)
			return got;
		got += (size_t)n;
	}
	*eof = got < cap;
	return got;
}

static bool client_got(struct rig *r, const char *want, size_t len, bool want_eof)
{
	char got[1 << 17];
	bool eof;
	size_t n = client_read(r, got, sizeof got, &eof);

	if (n != len || memcmp(got, want, len) != 0 || eof != want_eof) {
		fprintf(stderr, "  client got %zu bytes (eof %d): %.*s|\n  wanted %zu (eof %d): %.*s|\n",
		        n, eof, (int)(n > 80 ? 80 : n), got, len, want_eof,
		        (int)(len > 80 ? 80 : len), want);
		return false;
	}
	return true;
}

/* Bytes waiting to be read on fd. */
static int inq(int fd)
{
	int n = -1;

	return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

static enum conn_want readable(struct rig *r, size_t rbuf_size)
{
	return conn_on_readable(&r->c, r->st, rbuf, rbuf_size, 1, NULL);
}

static unsigned long long messages(struct rig *r)
{
	return atomic_load(&r->st->messages);
}

static unsigned long long bytes(struct rig *r)
{
	return atomic_load(&r->st->bytes);
}

/* Every way of cutting `s` into writes (2^(len-1) of them), and every read
 * size: the client gets the stream back exactly, the trailing partial message
 * at its half-close, and the counts are exact. */
static void test_every_split(void)
{
	static const char s[] = "ab\n\ncd\ne\nf";
	const size_t len = sizeof s - 1;

	for (unsigned mask = 0; mask < 1u << (len - 1); mask++) {
		for (size_t rsize = 1; rsize <= len; rsize += (rsize < 4 ? 1 : len - 4)) {
			struct rig r;
			size_t start = 0;
			enum conn_want w = R;

			rig_open(&r, 16);
			for (size_t i = 1; i <= len; i++) {
				if (i < len && !(mask & (1u << (i - 1))))
					continue;
				client_send(&r, s + start, i - start);
				start = i;
				/* Read until the connection has taken it all. */
				for (int k = 0; k < 64 && w == R && inq(r.srv) > 0; k++)
					w = readable(&r, rsize);
				CHECK(w == R, "mask %x rsize %zu: want %d after a write", mask, rsize, w);
			}
			shutdown(r.cli, SHUT_WR);
			for (int k = 0; k < 64 && w == R; k++)
				w = readable(&r, rsize);
			CHECK(w == CONN_CLOSE, "mask %x rsize %zu: close after EOF, got %d", mask, rsize, w);
			CHECK(client_got(&r, s, len, false), "mask %x rsize %zu: echo", mask, rsize);
			CHECK(messages(&r) == 4 && bytes(&r) == len, "mask %x: counts %llu %llu", mask,
			      messages(&r), bytes(&r));
			CHECK(r.c.buf == NULL, "nothing kept once all is sent");
			rig_close(&r);
		}
	}
}

/* Three messages arrive in one read; the send takes only k bytes (EAGAIN for
 * k = 0), for every k. The connection keeps exactly the rest, waits to write
 * (still reading: little is owed), and sends the rest when writable. */
static void test_partial_write_at_every_byte(void)
{
	static const char s[] = "one\ntwo\nthree\n";
	const size_t len = sizeof s - 1;

	for (size_t k = 0; k < len; k++) {
		struct rig r;
		enum conn_want w;

		rig_open(&r, 64);
		client_send(&r, s, len);
		fault.limit = (long)k;
		w = readable(&r, sizeof rbuf);
		CHECK(w == (R | W), "k=%zu: want read+write after a short write, got %d", k, w);
		CHECK(client_got(&r, s, k, false), "k=%zu: the first k bytes", k);
		CHECK(conn_owed(&r.c) == len - k, "k=%zu: %zu owed", k, conn_owed(&r.c));
		CHECK(messages(&r) == 0 && bytes(&r) == k, "k=%zu: counts", k);
		/* Still full: EAGAIN again, nothing lost. */
		fault.limit = 0;
		CHECK(conn_on_writable(&r.c, r.st) == (R | W), "k=%zu: EAGAIN keeps waiting", k);
		/* Then room for one more byte. */
		fault.limit = 1;
		w = conn_on_writable(&r.c, r.st);
		CHECK(w == (k + 1 < len ? (R | W) : R), "k=%zu: one byte more, want %d", k, w);
		fault_clear();
		w = conn_on_writable(&r.c, r.st);
		CHECK(w == R, "k=%zu: all sent, want read, got %d", k, w);
		CHECK(client_got(&r, s + k, len - k, false), "k=%zu: the rest", k);
		CHECK(messages(&r) == 3 && bytes(&r) == len, "k=%zu: counts once all is sent", k);
		CHECK(r.c.buf == NULL, "k=%zu: nothing kept once all is sent", k);
		rig_close(&r);
	}
}

/* A partial message held, completed by the next read, then a short send cut
 * at every byte of (held part + new part): the iovec split is exact. */
static void test_held_then_partial_write(void)
{
	static const char a[] = "hel", b[] = "lo\nwor", want[] = "hello\n";

	for (size_t k = 0; k <= 6; k++) {
		struct rig r;
		enum conn_want w;

		rig_open(&r, 64);
		client_send(&r, a, 3);
		CHECK(readable(&r, sizeof rbuf) == R, "k=%zu: partial held", k);
		CHECK(r.c.buf != NULL && r.c.cap <= 64, "k=%zu: a small buffer for it", k);
		client_send(&r, b, 6);
		fault.limit = (long)k;
		w = readable(&r, sizeof rbuf);
		CHECK(w == (k < 6 ? (R | W) : R), "k=%zu: want %d", k, w);
		fault_clear();
		if (k < 6)
			CHECK(conn_on_writable(&r.c, r.st) == R, "k=%zu: the rest sent", k);
		CHECK(client_got(&r, want, 6, false), "k=%zu: hello", k);
		CHECK(r.c.len - r.c.sent == 3 && memcmp(r.c.buf + r.c.sent, "wor", 3) == 0,
		      "k=%zu: only the new partial is kept", k);
		rig_close(&r);
	}
}

/* A client that sends without reading: once CONN_OWED_LIMIT bytes are owed
 * the connection stops asking to read (backpressure on), and asks again as
 * soon as what is owed drops below it (off). Nothing is lost. */
static void test_backpressure(void)
{
	struct rig r;
	char line[1000], *all = malloc(1 << 17);
	size_t total = 0;
	enum conn_want w = R;
	bool eof;

	memset(line, 'x', sizeof line - 1);
	line[sizeof line - 1] = '\n';
	rig_open(&r, 4096);
	fault.limit = 0; /* the client reads nothing: every send meets EAGAIN */
	while (w & R) {
		client_send(&r, line, sizeof line);
		total += sizeof line;
		w = readable(&r, sizeof rbuf);
		CHECK(w & W, "owing after %zu bytes", total);
	}
	CHECK(w == W, "backpressure: write only, got %d", w);
	CHECK(conn_owed(&r.c) >= CONN_OWED_LIMIT &&
	      conn_owed(&r.c) < CONN_OWED_LIMIT + sizeof line,
	      "stopped reading just past the limit: %zu owed", conn_owed(&r.c));
	CHECK(r.c.cap <= conn_owed(&r.c) + 4096, "cap %zu within owed + max_line", r.c.cap);
	/* Let out just enough to go under the limit: reading resumes. */
	fault.limit = (long)(conn_owed(&r.c) - CONN_OWED_LIMIT + 1);
	w = conn_on_writable(&r.c, r.st);
	CHECK(w == (R | W), "backpressure off once under the limit, got %d", w);
	fault_clear();
	while (conn_owed(&r.c) > 0) {
		client_read(&r, all, 1 << 17, &eof);
		conn_on_writable(&r.c, r.st);
	}
	CHECK(conn_wants(&r.c) == R, "all sent: read again");
	CHECK(messages(&r) == total / sizeof line && bytes(&r) == total, "every byte counted");
	rig_close(&r);
	free(all);
}

/* Half-close with a partial message: the complete ones, then the partial
 * without LF, then close; also when the send of it comes back short. */
static void test_half_close(void)
{
	for (long k = 0; k < 3; k++) {
		struct rig r;
		enum conn_want w;

		rig_open(&r, 64);
		client_send(&r, "ab\ncd", 5);
		CHECK(readable(&r, sizeof rbuf) == R, "echoed ab, cd held");
		shutdown(r.cli, SHUT_WR);
		fault.limit = k ? k : -1;
		w = readable(&r, sizeof rbuf);
		CHECK(w == (k == 1 ? W : CONN_CLOSE), "k=%ld: after EOF want %d", k, w);
		fault_clear();
		if (w == W)
			w = conn_on_writable(&r.c, r.st);
		CHECK(w == CONN_CLOSE, "k=%ld: close once the partial is out", k);
		CHECK(r.c.phase == CONN_FINISHING, "finishing");
		CHECK(strcmp(r.c.close_reason, "client closed") == 0, "reason %s", r.c.close_reason);
		CHECK(client_got(&r, "ab\ncd", 5, false), "k=%ld: the partial without LF", k);
		CHECK(messages(&r) == 1 && bytes(&r) == 5, "k=%ld: 1 message, 5 bytes", k);
		rig_close(&r);
	}
}

/* Over-long (max_line 8): the complete message before it is echoed, then the
 * error line, cut at every byte; then FIN (the client reads EOF), input is
 * drained until the client closes. */
static void test_too_long_then_drain(void)
{
	static const char in[] = "ok\n0123456789abc";
	static const char want[] = "ok\n" ERR_LINE;
	const size_t wlen = sizeof want - 1;

	for (size_t k = 0; k <= wlen; k++) {
		struct rig r;
		enum conn_want w;

		rig_open(&r, 8);
		client_send(&r, in, sizeof in - 1);
		fault.limit = k < wlen ? (long)k : -1;
		w = readable(&r, sizeof rbuf);
		CHECK(w == (k < wlen ? W : R), "k=%zu: want %d", k, w);
		CHECK(r.c.phase == (k < wlen ? CONN_REJECTING : CONN_DRAINING), "k=%zu: phase %d", k,
		      r.c.phase);
		fault_clear();
		if (k < wlen)
			CHECK(conn_on_writable(&r.c, r.st) == R, "k=%zu: draining after the error", k);
		CHECK(client_got(&r, want, wlen, true), "k=%zu: echo, error, EOF", k);
		CHECK(messages(&r) == 1 && bytes(&r) == 3, "k=%zu: the error line is not echo", k);
		client_send(&r, "more junk\n", 10);
		CHECK(readable(&r, sizeof rbuf) == R, "k=%zu: input discarded while draining", k);
		shutdown(r.cli, SHUT_WR);
		CHECK(readable(&r, sizeof rbuf) == CONN_CLOSE, "k=%zu: closed once the client is", k);
		CHECK(strcmp(r.c.close_reason, "line too long") == 0, "reason %s", r.c.close_reason);
		rig_close(&r);
	}
}

/* Reset mid-write: the first send is short, the next fails (EPIPE from a
 * client that vanished): close, "write failed", nothing counted twice. Also
 * a real reset: the client closes with our echo unread. */
static void test_reset_mid_write(void)
{
	struct rig r;
	enum conn_want w;

	rig_open(&r, 64);
	client_send(&r, "abcdef\n", 7);
	fault.limit = 3;
	fault.fail = EPIPE; /* once the 3 bytes are out */
	CHECK(readable(&r, sizeof rbuf) == (R | W), "short write");
	w = conn_on_writable(&r.c, r.st);
	CHECK(w == CONN_CLOSE, "send failure closes, got %d", w);
	CHECK(strcmp(r.c.close_reason, CONN_WHY_WRITE) == 0, "reason %s", r.c.close_reason);
	CHECK(messages(&r) == 0 && bytes(&r) == 3, "only what went out is counted");
	rig_close(&r);

	rig_open(&r, 64);
	client_send(&r, "abc\n", 4);
	fault.limit = 0;
	CHECK(readable(&r, sizeof rbuf) == (R | W), "owing");
	fault_clear();
	close(r.cli);
	r.cli = open("/dev/null", O_RDONLY); /* for rig_close */
	w = conn_on_writable(&r.c, r.st);
	CHECK(w == CONN_CLOSE, "a vanished client: close, got %d", w);
	CHECK(strcmp(r.c.close_reason, CONN_WHY_WRITE) == 0, "reason %s", r.c.close_reason);
	rig_close(&r);
}

/* The completion side: input arrives while a send is in flight, in a buffer
 * that is given back at once. The bytes offered to the send never move or
 * change; short sends offer the rest; one send covers every complete message
 * owed; 100 bytes of an unfinished line cost a buffer of about that size. */
static void test_completion_core(void)
{
	struct rig r;
	struct iovec iov, again;
	char chunk[3000], copy[32];

	rig_open(&r, 4096);
	CHECK(conn_received(&r.c, "first\nsec", 9), "take");
	iov = conn_to_send(&r.c);
	CHECK(iov.iov_len == 6 && memcmp(iov.iov_base, "first\n", 6) == 0, "one send: first");
	memcpy(copy, iov.iov_base, 6);
	again = conn_to_send(&r.c);
	CHECK(again.iov_len == 0, "one send in flight at a time");
	/* Enough input to force the buffer to grow while the send reads it. */
	memset(chunk, 'y', sizeof chunk);
	chunk[0] = 'x';
	chunk[sizeof chunk - 1] = '\n';
	CHECK(conn_received(&r.c, "ond\n", 4) && conn_received(&r.c, chunk, sizeof chunk), "take");
	CHECK(r.c.retired != NULL, "the lent buffer is kept for the send");
	CHECK(memcmp(iov.iov_base, copy, 6) == 0, "the bytes in flight are untouched");
	CHECK(conn_wants(&r.c) == (R | W), "reading on, owing");
	conn_sent(&r.c, 4, r.st);
	CHECK(r.c.retired == NULL, "freed when the send completes");
	iov = conn_to_send(&r.c);
	CHECK(iov.iov_len == 2 + 7 + sizeof chunk && memcmp(iov.iov_base, "t\nsecond\nx", 10) == 0,
	      "the rest and every message since in one send (%zu)", iov.iov_len);
	conn_sent(&r.c, iov.iov_len, r.st);
	CHECK(conn_wants(&r.c) == R && r.c.buf == NULL, "all sent, nothing kept");
	CHECK(messages(&r) == 3 && bytes(&r) == 6 + 7 + sizeof chunk, "counts");

	memset(chunk, 'p', 100);
	CHECK(conn_received(&r.c, chunk, 100), "a 100-byte unfinished line");
	CHECK(r.c.cap >= 100 && r.c.cap <= 128 && conn_owed(&r.c) == 0, "costs %zu bytes", r.c.cap);
	CHECK(conn_to_send(&r.c).iov_len == 0, "nothing to send");
	/* A receive that completes during backpressure or rejection is taken or
	 * discarded, never lost track of. */
	CHECK(conn_received(&r.c, "\n", 1) && conn_owed(&r.c) == 101, "completed: owed");
	iov = conn_to_send(&r.c);
	conn_sent(&r.c, iov.iov_len, r.st);
	CHECK(conn_received(&r.c, NULL, 0) && conn_wants(&r.c) == CONN_CLOSE, "EOF: close");
	CHECK(conn_received(&r.c, "late\n", 5) && conn_owed(&r.c) == 0, "after EOF: discarded");
	rig_close(&r);

	rig_open(&r, 4096);
	conn_received(&r.c, "x", 1);
	conn_fail(&r.c, CONN_WHY_RESET);
	CHECK(conn_wants(&r.c) == CONN_CLOSE, "a failed receive closes");
	rig_close(&r);
}

/* The completion side's zero copy: whole messages in a connection that
 * holds nothing are owed in place (sent from the received buffer, first),
 * with no allocation; the unfinished rest is copied; a message that spans
 * buffers, input while echo is owed and an over-long line take the copying
 * path. The counts are those of the copying path. */
static void test_in_place(void)
{
	struct rig r;
	struct iovec iov;
	size_t k;

	rig_open(&r, 8);
	CHECK(conn_received_in_place(&r.c, "ab\ncd\n", 6, &k) && k == 6, "whole: %zu in place", k);
	CHECK(r.c.buf == NULL && conn_owed(&r.c) == 6, "nothing allocated, 6 owed");
	CHECK(conn_to_send(&r.c).iov_len == 0, "the core offers nothing before them");
	CHECK(conn_received_in_place(&r.c, "ef\n", 3, &k) && k == 0, "owing: copied");
	conn_sent(&r.c, 4, r.st); /* short: 2 in place left */
	CHECK(conn_owed(&r.c) == 5 && conn_to_send(&r.c).iov_len == 0, "2 in place, then 3");
	conn_sent(&r.c, 2, r.st);
	iov = conn_to_send(&r.c);
	CHECK(iov.iov_len == 3 && memcmp(iov.iov_base, "ef\n", 3) == 0, "then the copied one");
	conn_sent(&r.c, 3, r.st);
	CHECK(messages(&r) == 3 && bytes(&r) == 9 && r.c.buf == NULL, "counted, nothing kept");

	CHECK(conn_received_in_place(&r.c, "gh\nij", 5, &k) && k == 3, "the unfinished rest");
	CHECK(r.c.len - r.c.sent == 2, "only it is copied");
	conn_sent(&r.c, 3, r.st);
	CHECK(conn_received_in_place(&r.c, "k\nl\n", 4, &k) && k == 0, "a message spanning buffers");
	iov = conn_to_send(&r.c);
	CHECK(iov.iov_len == 6 && memcmp(iov.iov_base, "ijk\nl\n", 6) == 0, "copied whole");
	conn_sent(&r.c, iov.iov_len, r.st);
	CHECK(conn_received_in_place(&r.c, "m\n0123456789", 12, &k) && k == 0, "over-long: copied");
	CHECK(r.c.phase == CONN_REJECTING, "and rejected");
	rig_close(&r);

	rig_open(&r, 8);
	CHECK(conn_received_in_place(&r.c, "ab\n", 3, &k) && k == 3, "in place");
	CHECK(conn_received_in_place(&r.c, NULL, 0, &k) && k == 0, "EOF");
	CHECK(conn_wants(&r.c) == W, "finishing: the in-place bytes still owed");
	conn_sent(&r.c, 3, r.st);
	CHECK(conn_wants(&r.c) == CONN_CLOSE && messages(&r) == 1, "then closed");
	rig_close(&r);
}

/* The read budget and the "drained" answer an edge-triggered loop lives by:
 * no more reads than the budget, drained only once a read found the socket
 * empty, and not drained when backpressure stopped the reads early. */
static void test_read_budget(void)
{
	static const char s[] = "0123456789abcdefghi\n"; /* 20 bytes */
	struct rig r;
	bool drained = true;
	enum conn_want w;

	rig_open(&r, 64);
	client_send(&r, s, 20);
	w = conn_on_readable(&r.c, r.st, rbuf, 4, 3, &drained);
	CHECK(w == R && !drained && inq(r.srv) == 8, "budget 3 of 4 bytes: 12 read, not drained");
	w = conn_on_readable(&r.c, r.st, rbuf, 4, 32, &drained);
	CHECK(w == R && drained && inq(r.srv) == 0, "the rest read, then EAGAIN: drained");
	CHECK(client_got(&r, s, 20, false) && messages(&r) == 1, "one message echoed whole");
	w = conn_on_readable(&r.c, r.st, rbuf, 4, 32, &drained);
	CHECK(w == R && drained, "nothing to read: drained at once");
	rig_close(&r);

	/* Backpressure: the client does not read, the echo is owed past the
	 * limit, and the reads stop before the socket is empty. */
	rig_open(&r, 64);
	fault.limit = 0;
	for (int i = 0; i < 8 && inq(r.srv) < CONN_OWED_LIMIT + 4096; i++) {
		char line[4096];

		memset(line, 'x', sizeof line - 1);
		line[sizeof line - 1] = '\n';
		if (write(r.cli, line, sizeof line) != (ssize_t)sizeof line)
			break;
	}
	if (inq(r.srv) > CONN_OWED_LIMIT) {
		w = conn_on_readable(&r.c, r.st, rbuf, 4096, 1000, &drained);
		CHECK(w == W && !drained && inq(r.srv) > 0, "backpressure: stopped, not drained");
	}
	rig_close(&r);

	/* The server giving up keeps "line too long" as the reason of a drain. */
	rig_open(&r, 4);
	CHECK(conn_received(&r.c, "toolong", 7) && r.c.phase == CONN_REJECTING, "rejecting");
	conn_give_up(&r.c, "idle timeout");
	CHECK(conn_wants(&r.c) == CONN_CLOSE && strcmp(r.c.close_reason, "line too long") == 0,
	      "given up, still 'line too long'");
	rig_close(&r);
}

int main(void)
{
	test_every_split();
	test_partial_write_at_every_byte();
	test_held_then_partial_write();
	test_backpressure();
	test_half_close();
	test_too_long_then_drain();
	test_reset_mid_write();
	test_completion_core();
	test_in_place();
	test_read_budget();
	printf("test_conn: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
