/* small_socketpair.h: a connected pair of stream sockets with 4 KiB buffers,
 * so that a writer meets a full buffer (a short write, EAGAIN) after a few
 * kilobytes: what the connection tests need to reach every write path. */
#ifndef ECHOLAB_SMALL_SOCKETPAIR_H
#define ECHOLAB_SMALL_SOCKETPAIR_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static void small_socketpair(int sv[2])
{
	int small = 4096;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	for (int i = 0; i < 2; i++) {
		if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) < 0 ||
		    setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small) < 0) {
			perror("setsockopt");
			exit(1);
		}
	}
}

#endif
