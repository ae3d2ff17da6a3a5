/* fuzz_framer: common/framer.c against a reference framing, for every split.
 *
 * The input is read as
 *
 *     [mode] [max-line: 1 or 2 bytes] [k] [k chunk lengths] [stream...]
 *
 * so that libFuzzer chooses the limit, how the stream is cut into reads and
 * the bytes themselves. The stream is fed to the framer chunk by chunk (the k
 * lengths used in turn, cycling), and to a reference written here that looks
 * at one byte at a time and could hardly be wrong:
 *
 *     LF                 ends a message (allowed: it is never reached once the
 *                        current message has max-line bytes without LF)
 *     any other byte     grows the current message; at max-line bytes with no
 *                        LF the stream is too long and nothing more is framed
 *
 * For every chunk both must give the same answer (bytes through the last
 * complete message, how many messages, too-long), and at the end the same
 * partial length; the whole stream fed at once must give the same totals.
 * Any difference aborts, which libFuzzer reports as a crash with the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "framer.h"

struct reference {
	size_t max_line, partial;
	bool too_long;
};

static struct framed reference_feed(struct reference *r, const uint8_t *p, size_t len)
{
	struct framed out = {0, 0, r->too_long};

	for (size_t i = 0; i < len && !r->too_long; i++) {
		if (p[i] == '\n') {
			out.complete = i + 1;
			out.messages++;
			r->partial = 0;
		} else if (++r->partial >= r->max_line) {
			r->too_long = true;
			out.too_long = true;
		}
	}
	return out;
}

static void fail(const char *what, size_t at, size_t got, size_t want)
{
	fprintf(stderr, "fuzz_framer: %s at stream offset %zu: framer says %zu, reference %zu\n",
	        what, at, got, want);
	abort();
}

static void compare(const struct framed *got, const struct framed *want, size_t at)
{
	if (got->complete != want->complete)
		fail("complete bytes", at, got->complete, want->complete);
	if (got->messages != want->messages)
		fail("message count", at, got->messages, want->messages);
	if (got->too_long != want->too_long)
		fail("too-long verdict", at, got->too_long, want->too_long);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	/* Mode bit 7: a small limit (1..128, where the edge cases are dense), or
	 * one of up to 65536 read from the next byte too. */
	size_t max_line;
	if (data[0] & 0x80) {
		max_line = 1 + (data[0] & 0x7f);
		data += 1, size -= 1;
	} else {
		max_line = 1 + (((size_t)data[0] << 8 | data[1]) & 0xffff);
		data += 2, size -= 2;
	}
	size_t k = size > 0 ? data[0] % 16 : 0;
	if (size < 1 + k)
		return 0;
	const uint8_t *lengths = data + 1;
	const uint8_t *stream = data + 1 + k;
	size_t len = size - 1 - k;

	struct framer f;
	struct reference r = {max_line, 0, false};
	size_t pos = 0, complete = 0, messages = 0, i = 0;
	bool too_long = false;

	framer_init(&f, max_line);
	while (pos < len) {
		/* a chunk of 1..256 bytes (k == 0: the whole rest at once) */
		size_t n = k == 0 ? len - pos : (size_t)lengths[i++ % k] + 1;
		if (n > len - pos)
			n = len - pos;
		struct framed got = framer_feed(&f, (const char *)stream + pos, n);
		struct framed want = reference_feed(&r, stream + pos, n);

		compare(&got, &want, pos);
		if (got.complete > 0)
			complete = pos + got.complete;
		messages += got.messages;
		too_long = too_long || got.too_long;
		pos += n;
	}
	if (!too_long && f.partial != r.partial)
		fail("partial length at the end", len, f.partial, r.partial);

	/* The same stream in one piece: the same totals. */
	framer_init(&f, max_line);
	struct framed whole = framer_feed(&f, (const char *)stream, len);
	if (whole.complete != complete)
		fail("total complete bytes (one piece vs chunks)", len, whole.complete, complete);
	if (whole.messages != messages)
		fail("total messages (one piece vs chunks)", len, whole.messages, messages);
	if (whole.too_long != too_long)
		fail("too-long (one piece vs chunks)", len, whole.too_long, too_long);
	return 0;
}
