#include "datagram.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "peer.h"
#include "server.h"
#include "stats.h"

/* No LF: a datagram carries its own boundary. */
static const char too_long_reply[] = "ERR line too long";
/* The largest UDP payload (65535 - 8 bytes of UDP header); IPv4 allows 20 less. */
#define DATAGRAM_MAX 65527

void datagram_buffer_init(struct datagram_buffer *b, const struct server *srv)
{
	/* One byte more than --max-line, so a datagram of exactly --max-line bytes
	 * fits and the kernel still says when one is longer. */
	b->size = srv->opts.max_line < DATAGRAM_MAX ? srv->opts.max_line + 1 : DATAGRAM_MAX + 1;
	b->data = malloc(b->size);
	if (!b->data)
		die("out of memory for a %zu-byte datagram buffer", b->size);
}

void datagram_buffer_free(struct datagram_buffer *b)
{
	free(b->data);
	b->data = NULL;
}

static unsigned source_port(const struct sockaddr_storage *from)
{
	if (from->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)from)->sin6_port);
	if (from->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)from)->sin_port);
	return 0;
}

/* Port 0 is no port (a forged or broken sender); 7 and 19 are services that
 * would answer our answer. */
static const char *forbidden_source(unsigned port)
{
	switch (port) {
	case 0:
		return "source port 0";
	case 7:
		return "source port 7 (echo): a reply would start an echo loop";
	case 19:
		return "source port 19 (chargen): a reply would start a loop";
	default:
		return NULL;
	}
}

/* The --verbose line about one datagram (and the line of a failure, always). */
static void note(const struct server *srv, bool always, const struct sockaddr_storage *from,
                 socklen_t len, const char *what)
{
	struct peer p;

	if (!srv->opts.verbose && !always)
		return;
	peer_format(&p, (const struct sockaddr *)from, len);
	if (always)
		log_error("%s: %s", peer_text(&p), what);
	else
		log_msg("datagram %s: %s", peer_text(&p), what);
}

static void reply(struct server *srv, int fd, const void *data, size_t len,
                  const struct sockaddr_storage *to, socklen_t to_len)
{
	/* MSG_DONTWAIT: a full send buffer drops this reply (UDP promises no
	 * delivery) rather than stalling every other client behind it. */
	if (sendto(fd, data, len, MSG_DONTWAIT, (const struct sockaddr *)to, to_len) >= 0)
		return;
	if (errno == EAGAIN || errno == ENOBUFS)
		note(srv, false, to, to_len, "reply dropped: send buffer full");
	else
		note(srv, true, to, to_len, strerror(errno));
}

bool datagram_serve_one(struct server *srv, int fd, struct datagram_buffer *b)
{
	struct sockaddr_storage from;
	struct iovec iov = { .iov_base = b->data, .iov_len = b->size };
	struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from,
	                      .msg_iov = &iov, .msg_iovlen = 1 };
	/* MSG_TRUNC: return the datagram's real length even when it did not fit. */
	ssize_t n = recvmsg(fd, &msg, MSG_TRUNC | MSG_DONTWAIT);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_error("recvmsg: %s", strerror(errno));
		return false;
	}
	const char *forbidden = forbidden_source(source_port(&from));
	if (forbidden) {
		stats_add(&srv->stats->refused, 1);
		note(srv, false, &from, msg.msg_namelen, forbidden);
		return true;
	}
	if ((size_t)n > srv->opts.max_line || (msg.msg_flags & MSG_TRUNC)) {
		stats_add(&srv->stats->refused, 1);
		note(srv, false, &from, msg.msg_namelen, "longer than --max-line: ERR line too long");
		reply(srv, fd, too_long_reply, sizeof too_long_reply - 1, &from, msg.msg_namelen);
		return true;
	}
	reply(srv, fd, b->data, (size_t)n, &from, msg.msg_namelen);
	stats_add(&srv->stats->messages, 1);
	stats_add(&srv->stats->bytes, (unsigned long long)n);
	note(srv, false, &from, msg.msg_namelen, "echoed");
	return true;
}
