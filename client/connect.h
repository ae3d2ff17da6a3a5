/* connect: from "--host H --port P" to a connected TCP socket. */
#ifndef ECHOLAB_CLIENT_CONNECT_H
#define ECHOLAB_CLIENT_CONNECT_H

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

/* "host:port", or "[v6host]:port", for messages. */
void format_host_port(char *out, size_t size, const char *host, const char *port);

#endif
