/* sources: which local address each of many connections to one server leaves
 * from.
 *
 * A TCP connection is named by its four-tuple, so to one server address and
 * port a client can open at most one connection per local port: the
 * ephemeral range (net.ipv4.ip_local_port_range, 28,232 ports by default).
 * Past that, connect() fails with EADDRNOTAVAIL. Every address of 127.0.0.0/8
 * is loopback, so a client of a loopback server can leave from 127.0.0.2,
 * 127.0.0.3, ... and get a whole range of ports from each: connection i binds
 * to source i / per_source before connecting (IP_BIND_ADDRESS_NO_PORT: the
 * port is still chosen at connect time, per four-tuple, not reserved
 * machine-wide by bind).
 */
#ifndef ECHOLAB_CLIENT_SOURCES_H
#define ECHOLAB_CLIENT_SOURCES_H

#include <stdbool.h>
#include <sys/socket.h>

#include "connect.h"

struct sources {
	unsigned long per_source; /* connections each source address takes */
	unsigned count;           /* source addresses needed (1: the default one) */
};

/* Plans n connections to ep. False after saying why on stderr when they cannot
 * all be opened: more than one source's ports to a server that is not on
 * 127.0.0.0/8 (IPv6 has a single loopback address). */
bool sources_plan(struct sources *s, const struct endpoint *ep, unsigned long n);

/* Binds fd (not yet connected) to the source address of connection i, if it
 * is not the default one. False with errno set on failure. */
bool sources_bind(const struct sources *s, int fd, unsigned long i);

#endif
