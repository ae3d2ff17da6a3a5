/* listener: the listening socket.
 *
 * One socket for every address asked for: with no --host the IPv6 wildcard,
 * which takes IPv4 clients too (as ::ffff:a.b.c.d), or the IPv4 wildcard on a
 * kernel without IPv6; SO_REUSEADDR; non-blocking (even for the blocking
 * models: see listener.c); and the "listening on HOST:PORT" line that tests
 * and scripts read the port from. A reuseport server binds several sockets
 * to the one port (listener_bind, listener_join, then listener_announce).
 * Taking clients from it, and turning them away, is accept.h.
 */
#ifndef ECHOLAB_LISTENER_H
#define ECHOLAB_LISTENER_H

#include <stdbool.h>

#include "options.h"

struct echo_stats;

struct listener {
	int fd;
	int spare_fd; /* /dev/null, held for accept.c to give up when descriptors run out */
	bool nonblocking_clients; /* accepted sockets get O_NONBLOCK */
	struct echo_stats *stats; /* counts the clients refused (accept_refuse) */
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
/* Pools whose workers sleep in accept() itself (prefork): clears O_NONBLOCK on
 * the listening socket, for every process that shares it. */
void listener_make_blocking(struct listener *l);
void listener_close(struct listener *l);

#endif
