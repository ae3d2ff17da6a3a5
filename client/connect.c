/* connect: see connect.h. */
#include "connect.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"
#include "peer.h"
#include "sources.h"

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

static int connect_socket(const struct endpoint *ep, int type, int timeout_s,
                          const struct sources *from, unsigned long i)
{
	int fd = socket(ep->addr.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct timeval limit = { .tv_sec = timeout_s };
	/* No signal handler is installed while connecting, so EINTR cannot happen. */
	if ((from && !sources_bind(from, fd, i))
	    || (timeout_s > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) < 0)
	    || connect(fd, (const struct sockaddr *)&ep->addr, ep->len) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int connect_endpoint(const struct endpoint *ep, int type, int timeout_s)
{
	return connect_socket(ep, type, timeout_s, NULL, 0);
}

int connect_endpoint_from(const struct endpoint *ep, int timeout_s, const struct sources *from,
                          unsigned long i)
{
	return connect_socket(ep, SOCK_STREAM, timeout_s, from, i);
}

/* Connects to one resolved address, and tells which in *used (may be NULL). */
static int connect_one(const struct addrinfo *ai, struct endpoint *used)
{
	struct endpoint ep = { .len = ai->ai_addrlen };
	memcpy(&ep.addr, ai->ai_addr, ai->ai_addrlen);
	int fd = connect_endpoint(&ep, ai->ai_socktype, 0);
	if (fd >= 0 && used)
		*used = ep;
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

int connect_to(const char *host, const char *port, struct endpoint *used)
{
	struct addrinfo *list = resolve(host, port, SOCK_STREAM);
	if (!list)
		return -1;
	int fd = -1;
	int last_error = 0;
	for (const struct addrinfo *ai = list; ai && fd < 0; ai = ai->ai_next) {
		fd = connect_one(ai, used);
		if (fd < 0)
			last_error = errno;
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
	int fd = ai ? connect_one(ai, used) : -1;
	if (fd < 0 && ai)
		report_failure(host, port, strerror(errno));
	freeaddrinfo(list);
	return ai ? fd : -2;
}

/* ---- the load's connections (connect_all) ------------------------------ */

/* Connections attempted at once. All at once would overflow the server's
 * listen backlog, and a dropped SYN costs a one-second retransmission. */
#define CONNECT_BATCH 256
#define CONNECT_TIMEOUT_MS 10000

/* Small messages must leave at once, not wait for Nagle's algorithm to batch
 * them with the next ones, or every latency would include its delay. */
static bool tune_socket(int fd)
{
	int one = 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

/* connect_to gives a blocking socket; the event loops need non-blocking ones. */
static bool prepare_first(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || !tune_socket(fd)) {
		fprintf(stderr, "echo-client: setting up the first connection: %s\n", error_text(errno));
		return false;
	}
	return true;
}

struct connecting {
	const char *host, *port;
	const struct endpoint *ep;
	unsigned long total;
	int *fds;
};

static void connect_failed(const struct connecting *c, unsigned long i, const char *why)
{
	char where[300];
	format_host_port(where, sizeof where, c->host, c->port);
	fprintf(stderr, "echo-client: cannot connect to %s: %s (connection %lu of %lu)\n",
	        where, why, i + 1, c->total);
}

/* Starts a non-blocking connect of fds[i]; completion shows as EPOLLOUT. */
static bool start_connect(const struct connecting *c, int epfd, unsigned long i)
{
	int fd = socket(c->ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		connect_failed(c, i, error_text(errno));
		return false;
	}
	c->fds[i] = fd;
	if (connect(fd, (const struct sockaddr *)&c->ep->addr, c->ep->len) < 0
	    && errno != EINPROGRESS) {
		connect_failed(c, i, error_text(errno));
		return false;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = i };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 || !tune_socket(fd)) {
		connect_failed(c, i, error_text(errno));
		return false;
	}
	return true;
}

static bool finish_connect(const struct connecting *c, int epfd, unsigned long i)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fds[i], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0) {
		connect_failed(c, i, error_text(err));
		return false;
	}
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fds[i], NULL);
	return true;
}

static bool connect_batch(const struct connecting *c, int epfd, unsigned long first,
                          unsigned long end)
{
	for (unsigned long i = first; i < end; i++)
		if (!start_connect(c, epfd, i))
			return false;
	struct epoll_event events[CONNECT_BATCH];
	for (unsigned long pending = end - first; pending > 0;) {
		int n = epoll_wait(epfd, events, CONNECT_BATCH, CONNECT_TIMEOUT_MS);
		if (n == 0) {
			char where[300];
			format_host_port(where, sizeof where, c->host, c->port);
			fprintf(stderr, "echo-client: cannot connect to %s: timed out (%lu of "
			        "connections %lu to %lu of %lu still pending)\n", where, pending,
			        first + 1, end, c->total);
			return false;
		}
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "echo-client: epoll_wait: %s\n", error_text(errno));
			return false;
		}
		for (int k = 0; k < n; k++)
			if (!finish_connect(c, epfd, events[k].data.u64))
				return false;
		pending -= n > 0 ? (unsigned long)n : 0;
	}
	return true;
}

/* The first connection is made the ordinary way, which also finds which of the
 * host's addresses accepts; the rest go straight to that address, in batches. */
static bool connect_rest(const struct connecting *c)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		fprintf(stderr, "echo-client: epoll_create1: %s\n", error_text(errno));
		return false;
	}
	bool ok = true;
	for (unsigned long first = 1; ok && first < c->total; first += CONNECT_BATCH) {
		unsigned long end = first + CONNECT_BATCH < c->total ? first + CONNECT_BATCH : c->total;
		ok = connect_batch(c, epfd, first, end);
	}
	close(epfd);
	return ok;
}

int *connect_all(const char *host, const char *port, unsigned long total)
{
	int *fds = malloc(total * sizeof *fds);
	if (!fds) {
		fprintf(stderr, "echo-client: out of memory\n");
		return NULL;
	}
	for (unsigned long i = 0; i < total; i++)
		fds[i] = -1;
	struct endpoint ep;
	struct connecting c = { .host = host, .port = port, .ep = &ep, .total = total, .fds = fds };
	fds[0] = connect_to(host, port, &ep);
	bool ok = fds[0] >= 0 && prepare_first(fds[0]) && connect_rest(&c);
	if (ok)
		return fds;
	for (unsigned long i = 0; i < total; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return NULL;
}
