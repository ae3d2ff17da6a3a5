/* framer: finds message boundaries in a byte stream, one chunk at a time.
 *
 * A message is any bytes up to and including LF. The framer never copies or owns
 * bytes: the caller keeps them in its own buffer and feeds each newly read chunk.
 * framer_feed answers "how many bytes of this chunk end complete messages", so an
 * echo server can send everything up to the last LF of a read in one write, and
 * keeps only the length of the unfinished message it has seen so far. Because that
 * is all the state there is, any split of the stream gives the same answer.
 */
#ifndef ECHOLAB_FRAMER_H
#define ECHOLAB_FRAMER_H

#include <stdbool.h>
#include <stddef.h>

struct framer {
	size_t max_line; /* the longest message allowed, LF included */
	size_t partial;  /* bytes of the current message seen so far, no LF yet */
	bool too_long;   /* sticky: the stream broke the limit, nothing more is framed */
};

struct framed {
	size_t complete; /* bytes from the start of the chunk through its last LF that
	                    closes an allowed message (0 when none) */
	size_t messages; /* how many messages those bytes hold */
	bool too_long;   /* a message reached max_line bytes with no LF: the bytes
	                    after `complete` must not be echoed */
};

void framer_init(struct framer *f, size_t max_line);
struct framed framer_feed(struct framer *f, const char *chunk, size_t len);

#endif
