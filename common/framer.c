#include "framer.h"

#include <string.h>

void framer_init(struct framer *f, size_t max_line)
{
	f->max_line = max_line;
	f->partial = 0;
	f->too_long = false;
}

struct framed framer_feed(struct framer *f, const char *chunk, size_t len)
{
	struct framed out = {0, 0, f->too_long};
	size_t pos = 0;

	if (f->too_long)
		return out;
	while (pos < len) {
		/* The current message may still grow by this many bytes before it
		 * breaks the limit; an LF must appear within them. Bounding memchr by
		 * it means a flood with no LF is rejected as soon as the limit is
		 * reached, not after scanning the whole chunk. */
		size_t room = f->max_line - f->partial;
		size_t span = len - pos < room ? len - pos : room;
		const char *lf = memchr(chunk + pos, '\n', span);

		if (lf == NULL) {
			f->partial += span;
			pos += span;
			if (f->partial >= f->max_line) {
				f->too_long = true;
				out.too_long = true;
				break;
			}
			continue;
		}
		pos = (size_t)(lf - chunk) + 1;
		f->partial = 0;
		out.complete = pos;
		out.messages++;
	}
	return out;
}
