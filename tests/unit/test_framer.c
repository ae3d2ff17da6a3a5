/* Unit tests for common/framer.c: the framing decision must not depend on how
 * the stream is split, and the limit must hold at exactly max_line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framer.h"

#include "check.h"

/* What an echo server built on the framer would send for this stream when it
 * arrives as the given chunks: all complete messages, and whether it stopped
 * on an over-long one. Mirrors how common/ uses framer_feed. */
struct outcome {
	char echo[8192];
	size_t echo_len;
	size_t messages;
	int too_long;
};

static struct outcome run_split(const char *stream, size_t len, size_t max_line,
                                const size_t *cuts, size_t ncuts)
{
	struct outcome o = {{0}, 0, 0, 0};
	struct framer f;
	size_t start = 0, held = 0; /* held: bytes of the unfinished message */

	framer_init(&f, max_line);
	for (size_t i = 0; i <= ncuts && !o.too_long; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		struct framed r = framer_feed(&f, stream + start, end - start);

		if (r.complete > 0) {
			size_t from = start - held;
			memcpy(o.echo + o.echo_len, stream + from, held + r.complete);
			o.echo_len += held + r.complete;
			held = end - start - r.complete;
		} else {
			held += end - start;
		}
		o.messages += r.messages;
		o.too_long = r.too_long;
		start = end;
	}
	if (!o.too_long && held != f.partial)
		o.too_long = -1; /* framer lost track of the partial message */
	return o;
}

static void check_every_two_way_split(const char *name, const char *stream, size_t len,
                                      size_t max_line)
{
	struct outcome whole = run_split(stream, len, max_line, NULL, 0);

	for (size_t cut = 0; cut <= len; cut++) {
		struct outcome split = run_split(stream, len, max_line, &cut, 1);

		CHECK(split.too_long == whole.too_long && split.messages == whole.messages &&
		          split.echo_len == whole.echo_len &&
		          memcmp(split.echo, whole.echo, whole.echo_len) == 0,
		      "%s: split at %zu differs from the whole stream", name, cut);
	}
}

static void check_byte_at_a_time(const char *name, const char *stream, size_t len,
                                 size_t max_line)
{
	struct outcome whole = run_split(stream, len, max_line, NULL, 0);
	size_t cuts[8192];

	for (size_t i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	struct outcome trickled = run_split(stream, len, max_line, cuts, len ? len - 1 : 0);
	CHECK(trickled.too_long == whole.too_long && trickled.echo_len == whole.echo_len &&
	          memcmp(trickled.echo, whole.echo, whole.echo_len) == 0,
	      "%s: one byte at a time differs from the whole stream", name);
}

/* A message of `len` bytes including its LF, made of every byte value but LF. */
static size_t make_message(char *out, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		char c = (char)(i % 256);
		out[i] = c == '\n' ? '\r' : c;
	}
	out[len - 1] = '\n';
	return len;
}

static void test_lengths_around_the_limit(void)
{
	const size_t max_line = 64;
	size_t lengths[] = {1, max_line - 1, max_line, max_line + 1};

	for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
		char stream[256], name[64];
		size_t len = 0;

		/* A short message, then the one under test, then another short one:
		 * the first must be echoed whatever happens to the second. */
		memcpy(stream, "ok\n", 3);
		len = 3;
		len += make_message(stream + len, lengths[i]);
		memcpy(stream + len, "after\n", 6);
		len += 6;
		snprintf(name, sizeof name, "message of %zu bytes", lengths[i] - 1);

		struct outcome o = run_split(stream, len, max_line, NULL, 0);
		if (lengths[i] <= max_line) {
			CHECK(!o.too_long && o.messages == 3 && o.echo_len == len &&
			          memcmp(o.echo, stream, len) == 0,
			      "%s (LF included: %zu) must be echoed whole", name, lengths[i]);
		} else {
			CHECK(o.too_long && o.messages == 1 && o.echo_len == 3,
			      "%s must be rejected after echoing what came before", name);
		}
		check_every_two_way_split(name, stream, len, max_line);
		check_byte_at_a_time(name, stream, len, max_line);
	}
}

static void test_empty_messages_and_data_bytes(void)
{
	const char stream[] = "\n\n\r\n\0x\n\n";
	size_t len = sizeof stream - 1;
	struct outcome o = run_split(stream, len, 16, NULL, 0);

	CHECK(o.messages == 5 && o.echo_len == len && memcmp(o.echo, stream, len) == 0,
	      "empty messages, CR and NUL are data: got %zu messages", o.messages);
	check_every_two_way_split("empty messages", stream, len, 16);
}

static void test_no_lf_at_all(void)
{
	char stream[100];
	struct framer f;

	memset(stream, 'a', sizeof stream);
	framer_init(&f, 100);
	struct framed r = framer_feed(&f, stream, 99);
	CHECK(!r.too_long && r.complete == 0 && f.partial == 99,
	      "99 bytes with no LF fit under a 100-byte limit");
	r = framer_feed(&f, stream, 1);
	CHECK(r.too_long && r.complete == 0, "the 100th byte without LF breaks the limit");
	r = framer_feed(&f, "\n", 1);
	CHECK(r.too_long && r.complete == 0 && r.messages == 0,
	      "after the limit is broken nothing more is framed");
}

static void test_limit_of_one(void)
{
	struct framer f;

	framer_init(&f, 1);
	struct framed r = framer_feed(&f, "\n\n", 2);
	CHECK(!r.too_long && r.messages == 2 && r.complete == 2,
	      "with max_line 1 only empty messages are allowed");
	r = framer_feed(&f, "x\n", 2);
	CHECK(r.too_long && r.complete == 0, "with max_line 1 one data byte is too long");
}

static void test_many_messages_in_one_chunk(void)
{
	static char stream[8000];
	size_t len = 0;

	for (int i = 0; len + 8 < sizeof stream; i++)
		len += (size_t)snprintf(stream + len, sizeof stream - len, "m%d\n", i % 1000);
	struct outcome o = run_split(stream, len, 4096, NULL, 0);
	size_t lfs = 0;
	for (size_t i = 0; i < len; i++)
		lfs += stream[i] == '\n';
	CHECK(o.messages == lfs && o.echo_len == len, "every message of one chunk counted");
	check_every_two_way_split("many messages", stream, len, 4096);
}

int main(void)
{
	test_lengths_around_the_limit();
	test_empty_messages_and_data_bytes();
	test_no_lf_at_all();
	test_limit_of_one();
	test_many_messages_in_one_chunk();
	printf("test_framer: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
