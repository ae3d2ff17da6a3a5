/* fork: a child process per connection.
 *
 * The parent only accepts; each client gets a fork()ed child that runs the
 * blocking echo loop and exits. Children share nothing with each other, so a
 * crash or a stuck client harms only its own process, and the code a child
 * runs is exactly the iterative server's. The cost is a fork per connection
 * and a process (its own page tables, stack and buffers) per client.
 *
 * The parent must reap every child, or each finished one stays a zombie.
 * It does so in the SIGCHLD handler, which also keeps the count of live
 * children that --max-clients is checked against.
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

/* The live children, by pid. They are global because the SIGCHLD handler must
 * reach them; main touches them only while SIGCHLD is blocked (everywhere but
 * inside accept's ppoll), so the handler and main never race. */
static struct {
	pid_t *pid;
	unsigned slots;
	volatile sig_atomic_t live;
} children;

static void forget_child(pid_t pid)
{
	for (unsigned i = 0; i < children.slots; i++) {
		if (children.pid[i] == pid) {
			children.pid[i] = 0;
			children.live--;
			return;
		}
	}
}

static void on_sigchld(int signo)
{
	/* waitpid may set errno, and the code this handler interrupted may be
	 * about to read errno; put it back. Loop: signals do not queue, so one
	 * SIGCHLD can stand for several exited children. */
	int saved_errno = errno;
	pid_t pid;

	(void)signo;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		forget_child(pid);
	errno = saved_errno;
}

static void remember_child(pid_t pid)
{
	for (unsigned i = 0; i < children.slots; i++) {
		if (children.pid[i] == 0) {
			children.pid[i] = pid;
			children.live++;
			return;
		}
	}
}

static void watch_children(struct server *srv)
{
	struct sigaction sa;
	sigset_t chld;

	children.slots = srv->opts.max_clients;
	children.pid = calloc(children.slots, sizeof *children.pid);
	if (children.pid == NULL)
		die("out of memory for %u children", children.slots);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigchld;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_NOCLDSTOP; /* stopped children are not gone */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigaction(SIGCHLD, &sa, NULL) < 0 || sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		die("cannot install the SIGCHLD handler: %s", strerror(errno));
	sigdelset(&srv->wait_mask, SIGCHLD); /* delivered only inside the wait */
}

/* On shutdown: ask every child to stop and reap it, so its counts and CPU
 * time are in the summary. A child stops like the iterative server does: the
 * signal interrupts its recv or send, and it finishes its connection. */
static void stop_children(void)
{
	sigset_t chld;
	struct timespec patience = {0, 100 * 1000 * 1000};
	pid_t pid;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (children.live > 0) {
		/* Ask again each round: a signal that lands just before a child
		 * blocks in recv is only noticed when a second one interrupts it. */
		for (unsigned i = 0; i < children.slots; i++)
			if (children.pid[i] != 0)
				kill(children.pid[i], SIGTERM);
		/* SIGCHLD is blocked here, so wait for it directly and reap here. */
		sigtimedwait(&chld, NULL, &patience);
		while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
			forget_child(pid);
	}
	free(children.pid);
}

static const struct model_info model = {
	.name = "fork",
	.summary = "a child process per connection",
};

int main(int argc, char **argv)
{
	struct server srv;
	struct peer peer;
	int fd;

	server_start(&srv, &model, SERVER_FORKING, argc, argv);
	watch_children(&srv);
	while ((fd = accept_blocking(&srv.listener, &srv.wait_mask, &peer)) >= 0) {
		if ((unsigned)children.live >= children.slots) {
			refuse_busy(fd, srv.stats);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			/* The child: the stop signals unblocked, so the parent's SIGTERM
			 * interrupts it, and no listening socket, which is the parent's
			 * alone. */
			signals_in_child(&srv.wait_mask);
			listener_close(&srv.listener);
			echo_blocking(&srv, fd, &peer);
			close(fd);
			_exit(0);
		}
		if (pid < 0) {
			log_error("fork: %s", strerror(errno));
			refuse_busy(fd, srv.stats);
			continue;
		}
		remember_child(pid);
		close(fd); /* the child has its own copy; ours would keep the client open */
	}
	stop_children();
	return server_finish(&srv);
}
