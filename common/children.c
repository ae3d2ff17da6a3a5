#include "children.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void children_init(struct children *ch, unsigned slots)
{
	ch->slots = slots;
	ch->live = 0;
	ch->pid = calloc(slots, sizeof *ch->pid);
	if (ch->pid == NULL)
		die("out of memory for %u children", slots);
}

unsigned children_free_slot(const struct children *ch)
{
	unsigned slot = 0;

	while (slot < ch->slots - 1 && ch->pid[slot] != 0)
		slot++;
	return slot;
}

void children_add(struct children *ch, unsigned slot, pid_t pid)
{
	ch->pid[slot] = pid;
	ch->live++;
}

int children_reap(struct children *ch, int *status)
{
	pid_t pid;

	/* One waitpid that finds nothing when no child has exited: cheap. */
	while ((pid = waitpid(-1, status, WNOHANG)) > 0) {
		for (unsigned slot = 0; slot < ch->slots; slot++) {
			if (ch->pid[slot] == pid) {
				ch->pid[slot] = 0;
				ch->live--;
				return (int)slot;
			}
		}
	}
	return -1;
}

void children_stop_all(struct children *ch)
{
	sigset_t chld;
	struct timespec patience = {0, 100 * 1000 * 1000};

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	while (children_reap(ch, NULL) >= 0)
		;
	while (ch->live > 0) {
		/* Ask again each round: a signal that lands just before a child
		 * goes to sleep in recv or accept is only noticed when a second
		 * one interrupts it. */
		for (unsigned slot = 0; slot < ch->slots; slot++)
			if (ch->pid[slot] != 0)
				kill(ch->pid[slot], SIGTERM);
		/* SIGCHLD is blocked: wait for it directly, then reap. */
		sigtimedwait(&chld, NULL, &patience);
		while (children_reap(ch, NULL) >= 0)
			;
	}
	free(ch->pid);
	ch->pid = NULL;
}

#ifdef ECHOLAB_COVERAGE
void __gcov_dump(void); /* libgcov's: write the counters now */
#endif

void children_exit(int status)
{
#ifdef ECHOLAB_COVERAGE
	__gcov_dump();
#endif
	_exit(status);
}
