/* signals: the only global state in a server is this flag.
 *
 * signals_install makes SIGINT and SIGTERM set stop_requested and ignores
 * SIGPIPE, so writing to a vanished client returns EPIPE instead of killing the
 * server. It also blocks SIGINT and SIGTERM and hands back the mask to wait with:
 * a loop that checks the flag and then waits with ppoll/pselect/epoll_pwait and
 * that mask cannot miss a signal arriving between the check and the wait,
 * because the signal can only be delivered inside the wait.
 */
#ifndef ECHOLAB_SIGNALS_H
#define ECHOLAB_SIGNALS_H

#include <signal.h>
#include <stdatomic.h>

/* Atomic rather than volatile sig_atomic_t: worker threads read it too, and
 * only a lock-free atomic is both safe in a handler and race-free across
 * threads (C11 7.14.1.1). */
extern atomic_int stop_requested;

void signals_install(sigset_t *wait_mask);
/* For a forked child: SIGCHLD back to its default (the child has no children)
 * and the stop signals unblocked, so the parent's SIGTERM interrupts whatever
 * the child is blocked in and the child finishes its connection cleanly. */
void signals_in_child(const sigset_t *wait_mask);

#endif
