/* signals: how a server learns it must stop, in one place for every model.
 *
 * The trap this module exists to avoid. The obvious race-free wait is
 * pselect/ppoll/epoll_pwait with the stop signals blocked everywhere except
 * inside the call. But those calls unblock the signals only while they
 * *sleep*: when a descriptor is already ready they return at once, the old
 * mask comes back, and a pending SIGTERM stays pending. A client that keeps
 * one socket busy therefore keeps the server deaf to SIGTERM for as long as
 * it likes (and the fork model deaf to SIGCHLD, so zombies pile up).
 *
 * The mechanism: the signals are blocked in every thread for the whole run
 * and a signalfd(2) reports them as an ordinary readable descriptor. A loop
 * puts `signals.fd` in its wait set next to the listening socket, so a
 * signal is one more event: it is seen whether or not other descriptors are
 * ready, and it costs nothing on wake-ups without one (no extra system call
 * per wake-up, unlike calling sigpending() after every wait). libev does the
 * same with its own pipe; io_uring can wait on the descriptor too.
 *
 * Stop is sticky: signals_take() sees SIGINT/SIGTERM with sigpending() and
 * leaves them pending, so once a stop is requested the descriptor stays
 * readable for good. Every wait set that holds it (one per thread in a
 * multi-loop server) keeps waking until its loop sees stop_requested and
 * ends; no loop can miss the stop because another one read it first.
 *
 * Using it in a loop:
 *
 *     register srv.signals.fd for reading in the wait set;
 *     while (!stop_requested) {
 *         wait (plain poll/select/epoll_wait: no signal mask needed);
 *         if (signals.fd is ready) signals_take(&srv.signals);  // may set stop_requested
 *         ...serve the other ready descriptors...
 *     }
 *
 * Blocking I/O (the iterative server's recv, a forked child's) is still
 * interrupted the classic way: SIGINT/SIGTERM have a handler that sets
 * stop_requested, and code that must be interruptible runs with `wait_mask`
 * (the stop signals unblocked) so recv/send return EINTR.
 *
 * SIGPIPE is ignored, so writing to a vanished client returns EPIPE instead
 * of killing the server.
 */
#ifndef ECHOLAB_SIGNALS_H
#define ECHOLAB_SIGNALS_H

#include <signal.h>
#include <stdatomic.h>

/* Atomic rather than volatile sig_atomic_t: worker threads read it too, and
 * only a lock-free atomic is both safe in a handler and race-free across
 * threads (C11 7.14.1.1). Set by the handler and by signals_take. */
extern atomic_int stop_requested;

struct signals {
	int fd;             /* signalfd: readable while a watched signal is pending */
	sigset_t watched;   /* SIGINT, SIGTERM, and SIGCHLD after signals_watch_children */
	sigset_t wait_mask; /* the mask we started with, stop signals unblocked: for
	                       blocking I/O that a stop must interrupt */
};

/* What signals_take found (a bit set). */
enum {
	SIGNALS_STOP = 1,  /* SIGINT or SIGTERM: stop_requested is now set */
	SIGNALS_CHILD = 2, /* SIGCHLD: some child exited; reap with waitpid(WNOHANG) */
};

/* Call before any thread is created (threads inherit the blocked mask).
 * Installs the handler, ignores SIGPIPE, blocks SIGINT/SIGTERM, opens s->fd
 * (non-blocking, close-on-exec). Exits 1 if it cannot. */
void signals_install(struct signals *s);
/* The fork model: SIGCHLD joins the signalfd, so an exited child wakes the
 * loop like any event (SIGCHLD is blocked; its disposition stays default,
 * so children still become zombies until reaped: we want their status and
 * their CPU time in the summary). */
void signals_watch_children(struct signals *s);
/* Call when s->fd is readable. Sets stop_requested on SIGINT/SIGTERM (left
 * pending: the fd stays readable, see above) and consumes a pending SIGCHLD.
 * Costs one or two system calls, only when a signal has arrived. */
unsigned signals_take(struct signals *s);
/* For a forked child that runs blocking code: closes the child's copy of the
 * signalfd and unblocks the stop signals (the mask we started with), so the
 * parent's SIGTERM interrupts whatever the child is blocked in and it
 * finishes its connection cleanly. A forked child that runs an event loop of
 * its own keeps s->fd instead: a signalfd reads the signals of the process
 * that reads it (pending signals are not inherited), but register it in a
 * wait set created after the fork (an epoll set inherited from the parent
 * would wait on the parent's signals). */
void signals_in_child(struct signals *s);
void signals_close(struct signals *s);

#endif
