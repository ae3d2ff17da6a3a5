/* peer: a client's address, shown as text in the --verbose log.
 *
 * Every connection keeps one, so it is kept in binary (20 bytes) and made
 * text only when a line is logged: as text ("[ffff:...]:65535", 56 bytes)
 * it was a fifth of what an idle connection costs an event loop. */
#ifndef ECHOLAB_PEER_H
#define ECHOLAB_PEER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct peer {
	unsigned char addr[16]; /* IPv4: the first 4 bytes; IPv6: all 16 */
	uint16_t port;          /* host byte order */
	uint8_t family;         /* AF_INET, AF_INET6; 0: not known */
};

/* "[::1]:40312", "127.0.0.1:40312" or "(unknown)", and a NUL. */
#define PEER_TEXT_MAX (INET6_ADDRSTRLEN + 10)

/* IPv4 clients of a dual-stack socket arrive as ::ffff:a.b.c.d; they are kept
 * (and shown) as plain IPv4. */
void peer_format(struct peer *p, const struct sockaddr *sa, socklen_t len);

/* The peer as text in buf (size bytes, PEER_TEXT_MAX is enough); returns buf.
 * peer_text(p) does it in storage that lasts as long as the enclosing block. */
const char *peer_text_into(const struct peer *p, char *buf, size_t size);
#define peer_text(p) peer_text_into((p), (char[PEER_TEXT_MAX]){0}, PEER_TEXT_MAX)

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
