#include "protocol.h"

#include <errno.h>
#include <sys/socket.h>

void protocol_finish(int fd)
{
	/* Fails only if the client already reset the connection, and then there
	 * is nothing left to say. */
	(void)shutdown(fd, SHUT_WR);
}

bool protocol_discard_input(int fd, int rounds)
{
	char sink[4096];

	while (rounds-- > 0) {
		ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);

		if (n > 0 || (n < 0 && errno == EINTR))
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		return true; /* EOF or an error: nothing more to wait for */
	}
	return false;
}
