/* fork: a child process per connection.
 *
 * The parent only accepts; each client gets a fork()ed child that runs the
 * blocking echo loop and exits. Children share nothing with each other, so a
 * crash or a stuck client harms only its own process, and the code a child
 * runs is exactly the iterative server's. The cost is a fork per connection
 * and a process (its own page tables, stack and buffers) per client.
 *
 * The parent must reap every child, or each finished one stays a zombie, and
 * it must know how many are alive to enforce --max-clients. It reaps on every
 * pass of its accept loop, so the count is true at every accept however busy
 * the listener is, and SIGCHLD arrives through the signalfd in accept's wait
 * (signals.h), so an idle parent reaps at once too. No SIGCHLD handler: one
 * would run only where the signal is unblocked, and a wait that never sleeps
 * (a listener always ready under a connection storm) never unblocks it.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "echo_blocking.h"
#include "log.h"
#include "server.h"
#include "signals.h"

/* The live children, by pid: what shutdown signals, and what --max-clients
 * is checked against. */
struct children {
	pid_t *pid;
	unsigned slots, live;
};

static void forget_child(struct children *ch, pid_t pid)
{
	for (unsigned i = 0; i < ch->slots; i++) {
		if (ch->pid[i] == pid) {
			ch->pid[i] = 0;
			ch->live--;
			return;
		}
	}
}

/* One waitpid that finds nothing when no child has exited: cheap next to
 * the fork each client costs. */
static void reap(struct children *ch)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		forget_child(ch, pid);
}

static void remember_child(struct children *ch, pid_t pid)
{
	for (unsigned i = 0; i < ch->slots; i++) {
		if (ch->pid[i] == 0) {
			ch->pid[i] = pid;
			ch->live++;
			return;
		}
	}
}

/* On shutdown: ask every child to stop and reap it, so its counts and CPU
 * time are in the summary. A child stops like the iterative server does: the
 * signal interrupts its recv or send, and it finishes its connection. */
static void stop_children(struct children *ch)
{
	sigset_t chld;
	struct timespec patience = {0, 100 * 1000 * 1000};

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	reap(ch);
	while (ch->live > 0) {
		/* Ask again each round: a signal that lands just before a child
		 * blocks in recv is only noticed when a second one interrupts it. */
		for (unsigned i = 0; i < ch->slots; i++)
			if (ch->pid[i] != 0)
				kill(ch->pid[i], SIGTERM);
		/* SIGCHLD is blocked: wait for it directly, then reap. */
		sigtimedwait(&chld, NULL, &patience);
		reap(ch);
	}
	free(ch->pid);
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
		_exit(0);
	}
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		refuse_busy(fd, srv->stats);
		return;
	}
	remember_child(ch, pid);
	close(fd); /* the child has its own copy; ours would keep the client open */
}

static const struct model_info model = {
	.name = "fork",
	.summary = "a child process per connection",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct children ch = {0};
	struct peer peer;
	int fd;

	server_start(&srv, &model, SERVER_FORKING, argc, argv);
	signals_watch_children(&srv.signals);
	ch.slots = srv.opts.max_clients;
	ch.pid = calloc(ch.slots, sizeof *ch.pid);
	if (ch.pid == NULL)
		die("out of memory for %u children", ch.slots);

	while ((fd = accept_blocking(&srv.listener, &srv.signals, &peer)) != ACCEPT_STOP) {
		reap(&ch); /* every pass: the live count is true at every accept */
		if (fd == ACCEPT_CHILD)
			continue;
		if (ch.live >= ch.slots)
			refuse_busy(fd, srv.stats);
		else
			start_child(&srv, &ch, fd, &peer);
	}
	stop_children(&ch);
	return server_finish(&srv);
}
