/* udp: the echo service over datagrams (UNP chapter 8, dg_echo).
 *
 * There are no connections, so there is nothing to accept and nothing to keep
 * per client: one socket receives every client's datagrams, in the order they
 * arrived, and each is answered on the spot with one sendto to the address it
 * came from. This one loop, iterative as it looks, serves any number of
 * clients "at once", because no client can hold the server: a datagram is
 * whole when it arrives, there is no slow reader to wait for (a reply that
 * does not fit the send buffer is dropped, as UDP allows), and nothing is
 * owed to anyone between two datagrams.
 *
 * What a datagram means (whole message, no LF framing, MSG_TRUNC for the too
 * long, no reply to ports 0, 7 and 19) lives in models/udp/datagram.c; this file
 * is only the loop: wait for the socket, or a signal, to be readable, then
 * serve what is queued.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "udp/datagram.h"
#include "log.h"
#include "server.h"
#include "signals.h"

/* Datagrams served per wake-up before looking at the signals again, so a
 * flood cannot keep SIGTERM waiting. */
#define BATCH 64

enum { SOCKET, SIGNALS };

static const struct model_info model = {
	.name = "udp",
	.summary = "UDP: one socket, each datagram answered with the same datagram",
	.flags = MODEL_DATAGRAM,
};

int main(int argc, char **argv)
{
	struct server srv;
	struct datagram_buffer buf;
	struct pollfd fds[2];

	server_start(&srv, &model, SERVER_BLOCKING, argc, argv);
	datagram_buffer_init(&buf, &srv);
	fds[SOCKET] = (struct pollfd){ .fd = srv.listener.fd, .events = POLLIN };
	fds[SIGNALS] = (struct pollfd){ .fd = srv.signals.fd, .events = POLLIN };
	while (!stop_requested) {
		/* The signals are a descriptor like the socket (signals.h), so a
		 * SIGTERM is seen even while datagrams keep the socket ready. */
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (fds[SIGNALS].revents && (signals_take(&srv.signals) & SIGNALS_STOP))
			break;
		for (int i = 0; i < BATCH && datagram_serve_one(&srv, fds[SOCKET].fd, &buf); i++)
			;
	}
	datagram_buffer_free(&buf);
	return server_finish(&srv);
}
