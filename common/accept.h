/* accept: the listening socket and taking connections from it.
 *
 * Both accept functions hide the errors that are not really errors: EINTR and
 * ECONNABORTED (a client that gave up while queued) are retried, and running out
 * of descriptors (EMFILE/ENFILE) is handled with a reserved spare descriptor:
 * close the spare, accept the pending client, tell it "ERR server busy", close
 * it, reopen the spare. The queue shrinks, so the loop never spins on a
 * connection it cannot take, and service resumes by itself once descriptors free.
 */
#ifndef ECHOLAB_ACCEPT_H
#define ECHOLAB_ACCEPT_H

#include <signal.h>
#include <stdbool.h>

#include "options.h"
#include "peer.h"

struct echo_stats;
struct signals;

struct listener {
	int fd;
	int spare_fd; /* /dev/null, held to be given up when descriptors run out */
	bool nonblocking_clients; /* accepted sockets get O_NONBLOCK */
	struct echo_stats *stats; /* counts the clients refused for lack of descriptors */
};

/* Binds and listens; prints "listening on HOST:PORT" on stdout. On failure prints
 * a clear reason on stderr and returns false. */
bool listener_open(struct listener *l, const struct server_opts *o, bool nonblocking_clients,
                   struct echo_stats *stats);
/* listener_open in two steps, for a server of several listening sockets:
 * listener_bind binds and listens without a word (with SO_REUSEPORT when
 * asked, after checking that no other server holds the port), listener_join
 * adds a SO_REUSEPORT sibling on the same address and port as `first`, and
 * listener_announce prints the "listening on" line once all are bound. */
bool listener_bind(struct listener *l, const struct server_opts *o, bool nonblocking_clients,
                   bool reuseport, struct echo_stats *stats);
bool listener_join(struct listener *l, const struct listener *first);
void listener_announce(const struct listener *l);
/* The same for a datagram (UDP) socket: bound to --host/--port, non-blocking,
 * the same "listening on" line; there is nothing to accept. */
bool listener_open_datagram(struct listener *l, const struct server_opts *o,
                            struct echo_stats *stats);
void listener_close(struct listener *l);

/* Blocking models: waits for a client or a signal (the listening socket and
 * the signalfd in one poll, see signals.h) and returns the client's
 * descriptor; ACCEPT_STOP once a stop is requested; ACCEPT_CHILD when a child
 * exited (only after signals_watch_children): reap, then call again. */
int accept_blocking(struct listener *l, struct signals *sig, struct peer *peer);
#define ACCEPT_STOP (-1)
#define ACCEPT_CHILD (-2)
/* Event loops: returns a non-blocking descriptor, or -1 when no client is
 * waiting (keep calling until -1 on every wake-up). */
int accept_nonblocking(struct listener *l, struct peer *peer);

/* Pools whose workers sleep in accept() itself (prefork): clears O_NONBLOCK on
 * the listening socket, for every process that shares it. */
void listener_make_blocking(struct listener *l);
/* Sleeps in accept() on a listener made blocking until a client comes, and
 * returns its descriptor; -1 once a stop is requested (run with the stop
 * signals unblocked, so that a signal interrupts the accept). */
int accept_sleeping(struct listener *l, struct peer *peer);

/* Tells a client the server is full and closes it; never blocks. */
void refuse_busy(int fd, struct echo_stats *stats);

#endif
