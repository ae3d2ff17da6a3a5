#include "protocol.h"

#include <errno.h>
#include <sys/socket.h>

#include "signals.h"

void protocol_finish(int fd)
{
	/* Fails only if the client already reset the connection, and then there
	 * is nothing left to say. */
	(void)shutdown(fd, SHUT_WR);
}

bool protocol_discard_input(int fd, int rounds, bool wait)
{
	char sink[4096];

	while (rounds < 0 || rounds-- > 0) {
		ssize_t n = recv(fd, sink, sizeof sink, wait ? 0 : MSG_DONTWAIT);

		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR && !stop_requested)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		return true; /* EOF, an error, or a stop: nothing more to wait for */
	}
	return false;
}
