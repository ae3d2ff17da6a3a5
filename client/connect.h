/* connect: from "--host H --port P" to connected sockets: one for the
 * interactive and pipe modes, a datagram socket for --udp, and the many of a
 * load run. */
#ifndef ECHOLAB_CLIENT_CONNECT_H
#define ECHOLAB_CLIENT_CONNECT_H

#include <stddef.h>
#include <sys/socket.h>

/* The address that accepted a connection, so that more connections (load mode)
 * can go straight to it without resolving and probing again. */
struct endpoint {
	struct sockaddr_storage addr;
	socklen_t len;
};

/* Resolves host and port (IPv6 and IPv4) and tries every address in order until
 * one accepts. Returns a connected, blocking socket and fills *used (may be
 * NULL); on failure prints "echo-client: cannot connect to HOST:PORT: why" on
 * stderr and returns -1. */
int connect_to(const char *host, const char *port, struct endpoint *used);

/* A UDP socket connected to the address number `skip` (0 first) of host:port:
 * connect() on a datagram socket only sets the default destination and makes
 * the kernel drop datagrams from anyone else and report an ICMP "port
 * unreachable" as ECONNREFUSED, so it cannot tell whether a server is there;
 * the caller moves on to the next address when the first exchange is refused.
 * Returns the socket (blocking), -1 after printing why, or -2 when the host
 * has no address number `skip`. */
int connect_datagram(const char *host, const char *port, unsigned skip, struct endpoint *used);

/* A socket of `type` (SOCK_STREAM or SOCK_DGRAM, SOCK_NONBLOCK added if
 * wanted) connected to ep, the connect bounded by timeout_s seconds if not 0.
 * Returns it, or -1 with errno set and nothing left open. */
int connect_endpoint(const struct endpoint *ep, int type, int timeout_s);

/* connect_endpoint for stream connection number i of a planned many
 * (sources.h): it leaves from that connection's source address. */
struct sources;
int connect_endpoint_from(const struct endpoint *ep, int timeout_s, const struct sources *from,
                          unsigned long i);

/* The connections of a load run: `total` sockets, connected, non-blocking, with
 * TCP_NODELAY. The first finds which of the host's addresses accepts
 * (connect_to); the rest go straight to it, a batch at a time so as not to
 * overflow the server's listen backlog. NULL after saying why on stderr
 * (nothing left open). */
int *connect_all(const char *host, const char *port, unsigned long total);

/* "host:port", or "[v6host]:port", for messages. */
void format_host_port(char *out, size_t size, const char *host, const char *port);

#endif
