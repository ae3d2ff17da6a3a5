/* peer: a client's address as text, for the --verbose log. */
#ifndef ECHOLAB_PEER_H
#define ECHOLAB_PEER_H

#include <netinet/in.h>
#include <sys/socket.h>

struct peer {
	char text[INET6_ADDRSTRLEN + 10]; /* "[::1]:40312" or "127.0.0.1:40312" */
};

/* IPv4 clients of a dual-stack socket arrive as ::ffff:a.b.c.d; they are shown
 * as plain IPv4. */
void peer_format(struct peer *p, const struct sockaddr *sa, socklen_t len);

/* The same for a connected socket, asking the kernel (getpeername); leaves p
 * as it is if that fails. */
void peer_of_socket(struct peer *p, int fd);

/* "[::1]" -> "::1": the bracketed form the servers print ("listening on
 * [::1]:P") is accepted wherever a host is given, by servers and client
 * alike. Returns host itself when it is not bracketed, else its inside
 * copied to buf (size bytes; truncated if it does not fit, and then no
 * address resolves). */
const char *host_unbracketed(const char *host, char *buf, size_t size);

#endif
