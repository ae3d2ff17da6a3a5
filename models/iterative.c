/* iterative: the simplest server there is. One client at a time.
 *
 * Accept a client, echo until it is done, close, accept the next. While one
 * client is served, the others wait in the kernel's listen backlog: they are
 * connected (the kernel finished the handshake) but nobody reads from them.
 * One slow or idle client therefore stalls everyone; that is this model's
 * lesson, and what every other model in this project exists to fix.
 *
 * All the protocol lives in common/echo_blocking.c; this file is only the
 * strategy: serve clients one after another.
 */
#include <signal.h>
#include <unistd.h>

#include "echo_blocking.h"
#include "server.h"

static const struct model_info model = {
	.name = "iterative",
	.summary = "one client at a time; the others wait in the listen backlog",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct peer peer;
	sigset_t while_waiting;
	int fd;

	server_start(&srv, &model, SERVER_BLOCKING, argc, argv);
	while ((fd = accept_or_signal(&srv.listener, &srv.signals, &peer)) >= 0) {
		/* The stop signals are blocked and read from the signalfd in
		 * accept's wait; while a client is served, unblock them so SIGTERM
		 * interrupts a read or write that waits on this client (its handler
		 * sets stop_requested and the call returns EINTR). A signal landing
		 * in the instant between that check and the next read waits for the
		 * client's next byte or the idle timeout: the price of blocking I/O,
		 * which the signalfd in the wait set removes in the event-driven
		 * models. */
		sigprocmask(SIG_SETMASK, &srv.signals.wait_mask, &while_waiting);
		echo_blocking(&srv, fd, &peer);
		sigprocmask(SIG_SETMASK, &while_waiting, NULL);
		close(fd);
	}
	return server_finish(&srv);
}
