/* fork: a child process per connection.
 *
 * The parent only accepts; each client gets a fork()ed child that runs the
 * blocking echo loop and exits. Children share nothing with each other, so a
 * crash or a stuck client harms only its own process, and the code a child
 * runs is exactly the iterative server's. The cost is a fork per connection
 * and a process (its own page tables, stack and buffers) per client.
 *
 * The parent must reap every child, or each finished one stays a zombie and
 * keeps its place under --max-clients (accept_admit took it; reaping gives
 * it back). SIGCHLD arrives through the signalfd that accept's wait watches
 * beside the listener (signals.h), and that wait looks at it before every
 * accept, so the parent reaps whenever a child has exited and the count is
 * true at every accept, however busy the listener. It reaps only then:
 * waitpid scans every child, so calling it on every accept would make 10,000
 * clients cost 10,000 scans of up to 10,000 children each, and the listen
 * backlog would overflow while the parent scans. No SIGCHLD handler: one
 * would run only where the signal is unblocked, and a wait that never
 * sleeps (a listener always ready under a connection storm) never unblocks
 * it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "children.h"
#include "echo_blocking.h"
#include "log.h"
#include "server.h"
#include "signals.h"

/* Whenever SIGCHLD was seen: each child served one client, and its place is
 * free again once it is reaped. */
static void reap(struct server *srv, struct children *ch)
{
	while (children_reap(ch, NULL) >= 0)
		accept_release(&srv->listener);
}

static void start_child(struct server *srv, struct children *ch, int fd,
                        const struct peer *peer)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* The child: the stop signals unblocked, so the parent's SIGTERM
		 * interrupts it, and neither the listening socket nor the
		 * signalfd, which are the parent's alone. */
		signals_in_child(&srv->signals);
		listener_close(&srv->listener);
		echo_blocking(srv, fd, peer);
		close(fd);
		children_exit(0);
	}
	if (pid < 0) {
		log_error("fork: %s", error_text(errno));
		accept_withdraw(&srv->listener, fd);
		return;
	}
	children_add(ch, children_free_slot(ch), pid);
	close(fd); /* the child has its own copy; ours would keep the client open */
}

static const struct model_info model = {
	.name = "fork",
	.summary = "a child process per connection",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct children ch;
	struct peer peer;
	int fd;

	server_start(&srv, &model, SERVER_FORKING, argc, argv);
	signals_watch_children(&srv.signals);
	children_init(&ch, srv.opts.max_clients);

	while ((fd = accept_or_signal(&srv.listener, &srv.signals, &peer)) != ACCEPT_STOP) {
		if (fd == ACCEPT_CHILD) { /* seen before the next accept */
			reap(&srv, &ch);
			continue;
		}
		/* A slot per place: once admitted, a free slot is certain. */
		if (accept_admit(&srv.listener, fd, srv.opts.max_clients, ACCEPT_ANY_FD))
			start_child(&srv, &ch, fd, &peer);
	}
	children_stop_all(&ch); /* their counts and CPU time in the summary */
	return server_finish(&srv);
}
