#include "signals.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

atomic_int stop_requested;

static void on_stop_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
}

void signals_install(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t stop_signals;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking call should return EINTR so its caller looks at
	 * stop_requested instead of going back to sleep. */
	sa.sa_flags = 0;
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		die("sigaction: cannot install the stop handler");
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		die("sigaction: cannot ignore SIGPIPE");

	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &stop_signals, wait_mask) < 0)
		die("sigprocmask: cannot block the stop signals");
	/* wait_mask is the mask we started with: the stop signals unblocked. */
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGTERM);
}

void signals_in_child(const sigset_t *wait_mask)
{
	signal(SIGCHLD, SIG_DFL);
	sigprocmask(SIG_SETMASK, wait_mask, NULL);
}
