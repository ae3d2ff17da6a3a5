#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "peer.h"

/* Binds, and for a stream socket listens. */
static int bind_and_listen(int family, int socktype, const struct sockaddr *addr,
                           socklen_t addrlen, bool reuseport)
{
	int fd = socket(family, socktype | SOCK_CLOEXEC, 0);
	int on = 1, off = 0;

	if (fd < 0)
		return -1;
	/* SO_REUSEADDR lets a restarted server bind while old connections sit in
	 * TIME_WAIT; it does not let two TCP servers share a port. On a UDP
	 * socket it would (two servers bound alike, the newer one taking the
	 * datagrams), and UDP has no TIME_WAIT to wait out, so not there. */
	if (socktype == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
		goto fail;
	/* SO_REUSEPORT does: every socket of a reuseport server sets it before
	 * bind, and the kernel then spreads incoming connections over all of
	 * them (see models/reuseport.c). */
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
		goto fail;
	/* An IPv6 wildcard socket that also takes IPv4 (as ::ffff:a.b.c.d) is how
	 * one socket serves both families. */
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0)
		goto fail;
	if (bind(fd, addr, addrlen) < 0 || (socktype == SOCK_STREAM && listen(fd, SOMAXCONN) < 0))
		goto fail;
	return fd;
fail:
	{
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

/* SO_REUSEPORT would let us join a group that another server of the same
 * user already listens with, and share its clients without a word. Binding
 * a plain socket to the port first fails with EADDRINUSE in that case, as it
 * does for any other server. (A server that binds the port in the moment
 * between this check and our bind slips through; port 0 cannot collide: the
 * kernel picks a port no socket uses.) */
static bool port_is_free(const struct addrinfo *ai)
{
	int fd = bind_and_listen(ai->ai_family, ai->ai_socktype, ai->ai_addr, ai->ai_addrlen,
	                         false);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int bind_first(const struct addrinfo *ai, bool reuseport)
{
	if (reuseport && !port_is_free(ai))
		return -1;
	return bind_and_listen(ai->ai_family, ai->ai_socktype, ai->ai_addr, ai->ai_addrlen,
	                       reuseport);
}

void listener_announce(const struct listener *l)
{
	int fd = l->fd;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, port, sizeof port,
	                NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		die("cannot read back the listening address: %s", error_text(errno));
	if (ss.ss_family == AF_INET6)
		printf("listening on [%s]:%s\n", host, port);
	else
		printf("listening on %s:%s\n", host, port);
	/* Tests and scripts read the port from this line while we keep running, so
	 * it must not sit in a pipe's stdio buffer. */
	fflush(stdout);
}

/* Binds the first address of host:port (in the family asked) that works.
 * Returns the socket, or -1 with *err set to an errno value, or to 0 after a
 * name resolution failure, which has already been reported. */
static int listen_on_first(const char *host, const char *port, int family, int socktype,
                           bool reuseport, int *err)
{
	struct addrinfo hints, *list, *ai;
	char literal[NI_MAXHOST];
	int rc, fd = -1;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host_unbracketed(host, literal, sizeof literal), port, &hints, &list);
	if (rc != 0) {
		log_error("cannot listen on %s: %s", host ? host : "*", mid_sentence(gai_strerror(rc)));
		*err = 0;
		return -1;
	}
	*err = 0;
	for (ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
		fd = bind_first(ai, reuseport);
		if (fd < 0 && *err == 0)
			*err = errno; /* the first failure is the telling one */
	}
	freeaddrinfo(list);
	return fd;
}

/* What every listening socket gets once bound: non-blocking, and a spare
 * descriptor of its own, which accept.c gives up to refuse a client when the
 * process runs out of descriptors (refuse_without_descriptors). */
static void listener_setup(struct listener *l, int fd, bool nonblocking_clients,
                           struct echo_stats *stats)
{
	/* Non-blocking even for the blocking models: a client can give up between
	 * poll saying "ready" and our accept(), and a blocking accept() would then
	 * hang until the next client (Stevens, UNP section 16.6). */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl: cannot make the listening socket non-blocking");
	l->fd = fd;
	l->nonblocking_clients = nonblocking_clients;
	l->stats = stats;
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (l->spare_fd < 0)
		die("cannot open /dev/null for the spare descriptor: %s", error_text(errno));
}

/* A socket bound to --host/--port (listening, for a stream), or -1 after
 * saying why. */
static int open_bound(const struct server_opts *o, int socktype, bool reuseport)
{
	int first_errno, fd;

	/* No --host: the IPv6 wildcard, which takes IPv4 too (see above); on a
	 * kernel without IPv6, the IPv4 wildcard is the next best thing. */
	fd = listen_on_first(o->host, o->port, o->host ? AF_UNSPEC : AF_INET6, socktype,
	                     reuseport, &first_errno);
	if (fd < 0 && o->host == NULL && first_errno == EAFNOSUPPORT)
		fd = listen_on_first(NULL, o->port, AF_INET, socktype, reuseport, &first_errno);
	if (fd < 0 && first_errno == 0)
		return -1;
	if (fd < 0) {
		log_error("cannot listen on %s port %s: %s", o->host ? o->host : "*", o->port,
		          error_text(first_errno));
	}
	return fd;
}

bool listener_bind(struct listener *l, const struct server_opts *o, bool nonblocking_clients,
                   bool reuseport, struct echo_stats *stats)
{
	int fd = open_bound(o, SOCK_STREAM, reuseport);

	if (fd < 0)
		return false;
	listener_setup(l, fd, nonblocking_clients, stats);
	return true;
}

bool listener_open_datagram(struct listener *l, const struct server_opts *o,
                            struct echo_stats *stats)
{
	int fd = open_bound(o, SOCK_DGRAM, false);

	if (fd < 0)
		return false;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl: cannot make the UDP socket non-blocking");
	/* Nothing to accept, so no spare descriptor: one socket serves everyone. */
	*l = (struct listener){ .fd = fd, .spare_fd = -1, .stats = stats };
	listener_announce(l);
	return true;
}

bool listener_open(struct listener *l, const struct server_opts *o, bool nonblocking_clients,
                   struct echo_stats *stats)
{
	if (!listener_bind(l, o, nonblocking_clients, false, stats))
		return false;
	listener_announce(l);
	return true;
}

bool listener_join(struct listener *l, const struct listener *first)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int fd;

	/* The first socket's own address, port included: with --port 0 that is
	 * the port the kernel chose, which every sibling must share. */
	if (getsockname(first->fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (fd = bind_and_listen(ss.ss_family, SOCK_STREAM, (struct sockaddr *)&ss, len, true)) < 0) {
		log_error("cannot add a listening socket on the same port: %s", error_text(errno));
		return false;
	}
	listener_setup(l, fd, first->nonblocking_clients, first->stats);
	return true;
}

void listener_close(struct listener *l)
{
	close(l->fd);
	if (l->spare_fd >= 0)
		close(l->spare_fd);
}

void listener_make_blocking(struct listener *l)
{
	if (fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) & ~O_NONBLOCK) < 0)
		die("fcntl: cannot make the listening socket blocking: %s", error_text(errno));
}
