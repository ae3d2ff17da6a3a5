/* children: the processes a forking server has started, by slot.
 *
 * The fork model keeps a slot per client (--max-clients of them); prefork a
 * slot per worker, so a dead worker's replacement takes its slot and its
 * counters. Both reap without waiting whenever SIGCHLD arrives through the
 * signalfd (signals.h), and stop all of them the same way at shutdown.
 */
#ifndef ECHOLAB_CHILDREN_H
#define ECHOLAB_CHILDREN_H

#include <sys/types.h>

struct children {
	pid_t *pid;    /* [slot]: the child there, 0 when the slot is free */
	unsigned slots, live;
};

/* Exits 1 if out of memory. */
void children_init(struct children *ch, unsigned slots);
/* A free slot (there is one while live < slots). */
unsigned children_free_slot(const struct children *ch);
void children_add(struct children *ch, unsigned slot, pid_t pid);
/* Reaps one child that has exited, without waiting: returns its slot (its
 * wait status in *status, if not NULL), or -1 when none has exited. */
int children_reap(struct children *ch, int *status);
/* At shutdown: SIGTERM every live child and reap it, asking again every
 * 100 ms until none is left, so that every child's counts and CPU time are
 * in the summary. SIGCHLD must be blocked (signals_watch_children). Frees
 * the table. */
void children_stop_all(struct children *ch);

/* How a forked child ends: _exit, not exit (the stdio buffers and atexit
 * handlers it inherited are the parent's business). A coverage build
 * (ECHOLAB_COVERAGE) first writes the child's counters, which only exit
 * would have done. */
_Noreturn void children_exit(int status);

#endif
