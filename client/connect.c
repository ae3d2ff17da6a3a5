/* connect: see connect.h. */
#include "connect.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "peer.h"

void format_host_port(char *out, size_t size, const char *host, const char *port)
{
	/* A bare IPv6 literal would read as more port separators; one given
	 * already bracketed ("[::1]", as servers print it) is shown as given. */
	const char *fmt = strchr(host, ':') && host[0] != '[' ? "[%s]:%s" : "%s:%s";
	snprintf(out, size, fmt, host, port);
}

static void report_failure(const char *host, const char *port, const char *why)
{
	char where[300];
	format_host_port(where, sizeof where, host, port);
	/* strerror says "Connection refused"; mid-sentence it reads lower-case. */
	fprintf(stderr, "echo-client: cannot connect to %s: %s\n", where, mid_sentence(why));
}

static const char *resolve_error(int code)
{
	switch (code) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		return "host not found";
	case EAI_SERVICE:
		return "unknown port";
	case EAI_SYSTEM:
		return strerror(errno);
	default:
		return gai_strerror(code);
	}
}

/* Returns a connected socket, or -1 with errno from the failed connect. */
static int connect_one(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	/* No signal handler is installed while connecting, so EINTR cannot happen. */
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Resolves host:port for one socket type; NULL after saying why. */
static struct addrinfo *resolve(const char *host, const char *port, int socktype)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = socktype,
		/* No AI_ADDRCONFIG: on a host with only loopback configured it would
		 * drop ::1 and miss a server that listens on IPv6 only. */
	};
	struct addrinfo *list;
	char literal[256];
	int rc = getaddrinfo(host_unbracketed(host, literal, sizeof literal), port, &hints, &list);
	if (rc != 0) {
		report_failure(host, port, resolve_error(rc));
		return NULL;
	}
	return list;
}

static void remember(struct endpoint *used, const struct addrinfo *ai)
{
	if (used) {
		memcpy(&used->addr, ai->ai_addr, ai->ai_addrlen);
		used->len = ai->ai_addrlen;
	}
}

int connect_to(const char *host, const char *port, struct endpoint *used)
{
	struct addrinfo *list = resolve(host, port, SOCK_STREAM);
	if (!list)
		return -1;
	int fd = -1;
	int last_error = 0;
	for (const struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next) {
		fd = connect_one(ai);
		if (fd < 0)
			last_error = errno;
		else
			remember(used, ai);
	}
	freeaddrinfo(list);
	if (fd < 0)
		report_failure(host, port, strerror(last_error ? last_error : EHOSTUNREACH));
	return fd;
}

int connect_datagram(const char *host, const char *port, unsigned skip, struct endpoint *used)
{
	struct addrinfo *list = resolve(host, port, SOCK_DGRAM);
	if (!list)
		return -1;
	const struct addrinfo *ai = list;
	for (unsigned i = 0; ai && i < skip; i++)
		ai = ai->ai_next;
	int fd = ai ? connect_one(ai) : -1;
	if (fd >= 0)
		remember(used, ai);
	else if (ai)
		report_failure(host, port, strerror(errno));
	freeaddrinfo(list);
	return ai ? fd : -2;
}
