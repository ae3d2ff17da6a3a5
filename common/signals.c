#include "signals.h"

#include <errno.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "log.h"

atomic_int stop_requested;

static void on_stop_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
}

/* (Re)creates or updates the signalfd for s->watched. */
static void update_fd(struct signals *s)
{
	int fd = signalfd(s->fd, &s->watched, SFD_NONBLOCK | SFD_CLOEXEC);

	if (fd < 0)
		die("signalfd: %s", error_text(errno));
	s->fd = fd;
}

void signals_install(struct signals *s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call with the stop signals unblocked should
	 * return EINTR so its caller looks at stop_requested instead of going
	 * back to sleep. */
	sa.sa_flags = 0;
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		die("sigaction: cannot install the stop handler");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		die("sigaction: cannot ignore SIGPIPE");

	sigemptyset(&s->watched);
	sigaddset(&s->watched, SIGINT);
	sigaddset(&s->watched, SIGTERM);
	/* Blocked first, then the signalfd: a signal sent in between stays
	 * pending and the new descriptor is readable at once. */
	if (sigprocmask(SIG_BLOCK, &s->watched, &s->wait_mask) < 0)
		die("sigprocmask: cannot block the stop signals");
	/* wait_mask is the mask we started with: the stop signals unblocked. */
	sigdelset(&s->wait_mask, SIGINT);
	sigdelset(&s->wait_mask, SIGTERM);
	s->fd = -1;
	update_fd(s);
}

void signals_watch_children(struct signals *s)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0)
		die("sigprocmask: cannot block SIGCHLD");
	sigaddset(&s->watched, SIGCHLD);
	update_fd(s);
}

unsigned signals_take(struct signals *s)
{
	unsigned found = 0;
	sigset_t pending;

	/* sigpending, not a read of the signalfd: a read would consume the stop
	 * signal, and another thread's wait set that holds the same descriptor
	 * could then sleep on, never told. Left pending, it keeps the descriptor
	 * readable until every loop has seen stop_requested. */
	if (sigpending(&pending) < 0)
		die("sigpending: %s", error_text(errno));
	if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM)) {
		stop_requested = 1;
		found |= SIGNALS_STOP;
	}
	if (sigismember(&s->watched, SIGCHLD) && sigismember(&pending, SIGCHLD)) {
		sigset_t chld;
		const struct timespec now = {0, 0};

		/* Consume SIGCHLD alone, or the descriptor would stay readable.
		 * One SIGCHLD may stand for several children: signals do not queue,
		 * so the caller reaps until waitpid finds no more. */
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		while (sigtimedwait(&chld, NULL, &now) < 0 && errno == EINTR)
			;
		found |= SIGNALS_CHILD;
	}
	return found;
}

void signals_in_child(struct signals *s)
{
	signals_close(s);
	sigprocmask(SIG_SETMASK, &s->wait_mask, NULL);
}

void signals_close(struct signals *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
