#include "peer.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

void peer_format(struct peer *p, const struct sockaddr *sa, socklen_t len)
{
	char host[INET6_ADDRSTRLEN];

	/* len says how much of *sa the kernel filled: trust the family only
	 * if the whole address of that family is there. */
	if (len >= (socklen_t)sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			/* The last four bytes of ::ffff:a.b.c.d are the IPv4 address. */
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host, sizeof host);
			snprintf(p->text, sizeof p->text, "%s:%u", host, ntohs(in6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
			snprintf(p->text, sizeof p->text, "[%s]:%u", host, ntohs(in6->sin6_port));
		}
	} else if (len >= (socklen_t)sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
		snprintf(p->text, sizeof p->text, "%s:%u", host, ntohs(in4->sin_port));
	} else {
		snprintf(p->text, sizeof p->text, "(unknown)");
	}
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
