/* accept: taking clients from the listening socket (listener.h), and the one
 * place every model decides whether to serve a client or turn it away.
 *
 * The accept functions hide the errors that are not really errors: EINTR and
 * ECONNABORTED (a client that gave up while queued) are retried, and running out
 * of descriptors (EMFILE/ENFILE) is handled with a reserved spare descriptor:
 * close the spare, accept the pending client, tell it "ERR server busy", close
 * it, reopen the spare. The queue shrinks, so the loop never spins on a
 * connection it cannot take, and service resumes by itself once descriptors free.
 * That trick is sound only while one thread opens descriptors; a server of
 * several threads fits --max-clients to its descriptors instead
 * (accept_fit_max_clients), so the busy refusal comes first.
 */
#ifndef ECHOLAB_ACCEPT_H
#define ECHOLAB_ACCEPT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>

#include "listener.h"
#include "options.h"
#include "peer.h"

struct signals;

/* Blocking models: waits, in poll on the listening socket and the signalfd
 * together (signals.h), for a client or a signal, whichever comes first,
 * then accepts; returns the client's descriptor; ACCEPT_STOP once a stop is requested; ACCEPT_CHILD when a child
 * exited (only after signals_watch_children): reap, then call again. */
int accept_or_signal(struct listener *l, struct signals *sig, struct peer *peer);
#define ACCEPT_STOP (-1)
#define ACCEPT_CHILD (-2)
/* Event loops: returns a non-blocking descriptor, or -1 when no client is
 * waiting (keep calling until -1 on every wake-up); -1 with errno EBADF or
 * ENOTSOCK too if l->fd was closed under it (by a signal handler). */
int accept_nonblocking(struct listener *l, struct peer *peer);
/* What accept_nonblocking does when accept4 fails with err, for a loop whose
 * event library made the call (libevent's evconnlistener): running out of
 * descriptors refuses the waiting client with the spare, an unexpected error
 * is said on stderr. Returns true when accepting again may take a client at
 * once; false when nothing (more) can be taken now (errno: EAGAIN, or EBADF,
 * ENOTSOCK, EINTR as above). */
bool accept_recover(struct listener *l, int err);
/* Sleeps in accept() itself, no poll, on a listener made blocking
 * (listener_make_blocking) until a client comes, and returns its
 * descriptor; -1 once a stop is requested (run with the stop signals
 * unblocked, so that a signal interrupts the accept) or once a signal
 * handler has closed l->fd (errno EBADF or ENOTSOCK: prefork's worker whose
 * master died). Unlike accept_or_signal, the kernel then picks which of
 * several sleepers gets the client (prefork's children). */
int accept_sleeping(struct listener *l, struct peer *peer);

/* The refusal policy of every model, decided here and nowhere else. A model
 * about to serve the client on descriptor fd asks accept_admit: true takes
 * one of max_clients places (--max-clients), counted in the server's stats
 * across every loop, thread and process of the server (stats_admit: exact
 * even when several admit at once); false means the client has been refused
 * (accept_refuse), because every place is taken or because the model cannot
 * watch fd (fd >= fd_limit: select's FD_SETSIZE; ACCEPT_ANY_FD: no limit).
 * The model gives the place back with accept_release when the client is
 * gone, or with accept_withdraw when it cannot set the client up after all
 * (no memory; fork or pthread_create failed), which refuses it too. */
bool accept_admit(struct listener *l, int fd, unsigned max_clients, int fd_limit);
#define ACCEPT_ANY_FD INT_MAX
void accept_release(const struct listener *l);
void accept_withdraw(struct listener *l, int fd);
/* "ERR server busy", FIN, a bounded drain without waiting (protocol.h),
 * close, and the refusal counted; never blocks. */
void accept_refuse(struct listener *l, int fd);

/* For a server whose threads share one descriptor table (reuseport): lowers
 * o->max_clients to the clients the descriptors still free can hold, keeping
 * `reserve` of them for what the server opens later (its workers' epoll
 * instances, a client each worker holds while refusing it), and says so in
 * one line on stderr. Call it once every descriptor the server keeps for
 * itself is open. Exits 1 if not even one client would fit. */
void accept_fit_max_clients(struct server_opts *o, unsigned reserve);

#endif
