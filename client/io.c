/* io: see io.h. */
#include "io.h"

#include "log.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

const char *socket_error_text_into(int err, char *buf, size_t size)
{
	switch (err) {
	case ECONNRESET:
		return "connection reset by server";
	case EPIPE:
		return "server closed the connection";
	case ETIMEDOUT:
		return "connection timed out";
	default:
		return mid_sentence_into(strerror(err), buf, size);
	}
}
