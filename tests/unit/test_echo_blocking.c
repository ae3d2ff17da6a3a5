/* Unit tests for common/echo_blocking.c, the blocking driver of the
 * connection core, over a socketpair with small buffers: the loop runs in a thread on
 * one end (blocking, as in the threads model), the test is the client on the
 * other. Every split of a stream into reads, short sends at every size, half-
 * close with a partial message, over-long then draining, a reset mid-write;
 * the exact bytes back and the counts. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_blocking.h"
#include "protocol.h"
#include "stats.h"

#include "check.h"
#include "fault_send.h"
#include "small_socketpair.h"

struct rig {
	int srv, cli;
	struct server server;
	pthread_t thread;
};

static void *run(void *arg)
{
	struct rig *r = arg;
	struct peer peer = { .family = 0 };

	echo_blocking(&r->server, r->srv, &peer);
	close(r->srv); /* as the models do: the client sees EOF */
	return NULL;
}

/* Starts the loop; chunk, limit and fail arm fault_send.h before the thread exists
 * (so no test writes them while it runs). */
static void rig_start(struct rig *r, size_t max_line, size_t chunk, long limit, int fail)
{
	int sv[2];

	small_socketpair(sv);
	memset(r, 0, sizeof *r);
	r->srv = sv[0];
	r->cli = sv[1];
	r->server.opts.max_line = max_line;
	/* A safety net, never reached when the loop is right: a test that would
	 * hang fails after this long instead. */
	r->server.opts.idle_timeout = 20;
	r->server.stats = stats_create(false);
	fault_clear();
	fault.fd = r->srv;
	fault.chunk = chunk;
	fault.limit = limit;
	fault.fail = fail;
	if (pthread_create(&r->thread, NULL, run, r) != 0) {
		perror("pthread_create");
		exit(1);
	}
}

/* Waits for the loop to return. */
static void rig_join(struct rig *r)
{
	pthread_join(r->thread, NULL);
	fault_clear();
}

static void rig_free(struct rig *r)
{
	close(r->cli);
	stats_destroy(r->server.stats);
}

/* Until the loop has read everything sent so far (bounded: 20 s). */
static void wait_consumed(struct rig *r)
{
	int n = 1;

	for (long spins = 0; spins < 20L * 1000 * 1000 && n > 0; spins++)
		if (ioctl(r->srv, FIONREAD, &n) < 0 || n > 0)
			sched_yield();
}

/* Everything until EOF. */
static size_t read_all(int fd, char *out, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, out + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

static bool got_exactly(struct rig *r, const char *want, size_t len)
{
	char got[1 << 16];
	size_t n = read_all(r->cli, got, sizeof got);

	if (n != len || memcmp(got, want, len) != 0) {
		fprintf(stderr, "  got %zu bytes: %.*s|\n  wanted %zu: %.*s|\n", n,
		        (int)(n > 80 ? 80 : n), got, len, (int)(len > 80 ? 80 : len), want);
		return false;
	}
	return true;
}

static unsigned long long count(atomic_ullong *c)
{
	return atomic_load(c);
}

/* Every way of cutting the stream into writes, each read by the loop before
 * the next is sent; the half-close ends it. */
static void test_every_split(void)
{
	static const char s[] = "ab\n\ncd\ne";
	const size_t len = sizeof s - 1;

	for (unsigned mask = 0; mask < 1u << (len - 1); mask++) {
		struct rig r;
		size_t start = 0;

		rig_start(&r, 16, 0, -1, 0);
		for (size_t i = 1; i <= len; i++) {
			if (i < len && !(mask & (1u << (i - 1))))
				continue;
			CHECK(write(r.cli, s + start, i - start) == (ssize_t)(i - start), "write");
			start = i;
			wait_consumed(&r);
		}
		shutdown(r.cli, SHUT_WR);
		CHECK(got_exactly(&r, s, len), "mask %x: the stream back", mask);
		rig_join(&r);
		CHECK(count(&r.server.stats->messages) == 3 && count(&r.server.stats->bytes) == len,
		      "mask %x: counts", mask);
		rig_free(&r);
	}
}

/* Every send comes back short, at every size: nothing lost or doubled. */
static void test_short_sends(void)
{
	static const char s[] = "one\ntwo\nthree\nfour";
	const size_t len = sizeof s - 1;

	for (size_t k = 1; k <= len; k++) {
		struct rig r;

		rig_start(&r, 64, k, -1, 0);
		CHECK(write(r.cli, s, len) == (ssize_t)len, "write");
		shutdown(r.cli, SHUT_WR);
		CHECK(got_exactly(&r, s, len), "chunk %zu: the stream back", k);
		rig_join(&r);
		CHECK(count(&r.server.stats->messages) == 3 && count(&r.server.stats->bytes) == len,
		      "chunk %zu: counts", k);
		rig_free(&r);
	}
}

/* Over-long: the echo before it, the error line, EOF while the client still
 * sends; the loop returns only once the client closes. */
static void test_too_long_then_drain(void)
{
	static const char want[] = "ok\n" PROTOCOL_ERR_TOO_LONG;
	struct rig r;
	char got[64];

	rig_start(&r, 8, 0, -1, 0);
	CHECK(write(r.cli, "ok\n0123456789", 13) == 13, "write");
	CHECK(read_all(r.cli, got, sizeof got) == sizeof want - 1 &&
	      memcmp(got, want, sizeof want - 1) == 0, "echo, error, then EOF");
	CHECK(write(r.cli, "more\n", 5) == 5, "the client may still send: drained");
	shutdown(r.cli, SHUT_WR);
	rig_join(&r);
	CHECK(count(&r.server.stats->messages) == 1 && count(&r.server.stats->bytes) == 3,
	      "the error line is not echo");
	rig_free(&r);
}

/* The client resets mid-write (3 bytes out, then ECONNRESET): the loop
 * returns at once; the 3 bytes that went out are counted, the messages not,
 * since their echo was not sent whole (the core's rule, every driver's). */
static void test_reset_mid_write(void)
{
	struct rig r;
	char got[16];

	rig_start(&r, 64, 0, 3, ECONNRESET);
	CHECK(write(r.cli, "abc\ndef\n", 8) == 8, "write");
	CHECK(read_all(r.cli, got, sizeof got) == 3 && memcmp(got, "abc", 3) == 0,
	      "3 bytes, then the loop gave up");
	rig_join(&r);
	CHECK(count(&r.server.stats->messages) == 0 && count(&r.server.stats->bytes) == 3,
	      "3 bytes counted, no message");
	rig_free(&r);
}

int main(void)
{
	test_every_split();
	test_short_sends();
	test_too_long_then_drain();
	test_reset_mid_write();
	printf("test_echo_blocking: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
