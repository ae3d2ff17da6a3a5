#include "peer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

void peer_format(struct peer *p, const struct sockaddr *sa, socklen_t len)
{
	*p = (struct peer){ .family = 0 };
	/* len says how much of *sa the kernel filled: trust the family only
	 * if the whole address of that family is there. */
	if (len >= (socklen_t)sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		p->port = ntohs(in6->sin6_port);
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			/* The last four bytes of ::ffff:a.b.c.d are the IPv4 address. */
			memcpy(p->addr, &in6->sin6_addr.s6_addr[12], 4);
			p->family = AF_INET;
		} else {
			memcpy(p->addr, &in6->sin6_addr, 16);
			p->family = AF_INET6;
		}
	} else if (len >= (socklen_t)sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;

		memcpy(p->addr, &in4->sin_addr, 4);
		p->port = ntohs(in4->sin_port);
		p->family = AF_INET;
	}
}

const char *peer_text_into(const struct peer *p, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (p->family == 0 || !inet_ntop(p->family, p->addr, host, sizeof host))
		snprintf(buf, size, "(unknown)");
	else
		snprintf(buf, size, p->family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, p->port);
	return buf;
}

const char *host_unbracketed(const char *host, char *buf, size_t size)
{
	size_t len = host ? strlen(host) : 0;

	if (len < 2 || host[0] != '[' || host[len - 1] != ']')
		return host;
	snprintf(buf, size, "%.*s", (int)(len - 2), host + 1);
	return buf;
}

void peer_of_socket(struct peer *p, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
		peer_format(p, (struct sockaddr *)&ss, len);
}
