/* udp_pipe: see udp_pipe.h. */
#include "udp_pipe.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "connect.h"
#include "io.h"
#include "udp_load.h" /* UDP_MAX_DATAGRAM */

struct udp_pipe {
	const char *host, *port;
	int fd;
	unsigned address;     /* which of the host's addresses fd is connected to */
	bool answered;        /* some reply came: the address is the right one */
	char *reply;
	unsigned long line_no;
	/* The previous line, if it was sent more than once: a duplicate echo of
	 * it may still arrive, and must not pass for the next line's reply. */
	char *resent;
	size_t resent_len;
	bool resent_valid;
};

static void where(const struct udp_pipe *p, char *out, size_t size)
{
	format_host_port(out, size, p->host, p->port);
}

/* Moves to the host's next address; false if there is none. */
static bool next_address(struct udp_pipe *p)
{
	int fd = connect_datagram(p->host, p->port, p->address + 1, NULL);
	if (fd < 0)
		return false;
	close(p->fd);
	p->fd = fd;
	p->address++;
	return true;
}

/* Waits up to the timeout for the reply; its length, -1 on timeout, -2 after
 * an error (errno set). */
static ssize_t await_reply(struct udp_pipe *p)
{
	int64_t deadline = clock_now_ns() + (int64_t)UDP_PIPE_TIMEOUT_MS * 1000000;
	for (;;) {
		int64_t left = deadline - clock_now_ns();
		if (left <= 0)
			return -1;
		struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
		int rc = poll(&pfd, 1, (int)((left + 999999) / 1000000));
		if (rc < 0 && errno != EINTR)
			return -2;
		if (rc <= 0)
			continue;
		ssize_t n = recv(p->fd, p->reply, UDP_MAX_DATAGRAM, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -2;
		if (p->resent_valid && (size_t)n == p->resent_len
		    && memcmp(p->reply, p->resent, (size_t)n) == 0) {
			p->resent_valid = false; /* that stale duplicate, once */
			continue;
		}
		return n;
	}
}

static void remember_resent(struct udp_pipe *p, const char *line, size_t len, unsigned tries)
{
	p->resent_valid = false;
	if (tries < 2)
		return;
	char *copy = realloc(p->resent, len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, line, len);
	p->resent = copy;
	p->resent_len = len;
	p->resent_valid = true;
}

/* Sends one line and prints its reply; false after reporting a failure. */
static bool exchange(struct udp_pipe *p, const char *line, size_t len)
{
	char at[300];
	unsigned tries = 0;
	while (tries <= UDP_PIPE_RETRIES) {
		/* A refusal (an ICMP error from an earlier datagram) may surface in
		 * send as well as in recv; either way it is handled below. */
		ssize_t n = send(p->fd, line, len, 0) < 0 ? -2 : 0;
		if (n == -2 && errno != ECONNREFUSED) {
			where(p, at, sizeof at);
			if (errno == EMSGSIZE)
				fprintf(stderr, "echo-client: line %lu: %zu bytes is more than one datagram "
				        "can carry (%d)\n", p->line_no, len, UDP_MAX_DATAGRAM);
			else
				fprintf(stderr, "echo-client: sending to %s: %s\n", at, strerror(errno));
			return false;
		}
		tries++;
		if (n == 0)
			n = await_reply(p);
		if (n >= 0) {
			p->answered = true;
			remember_resent(p, line, len, tries);
			if (!write_all(STDOUT_FILENO, p->reply, (size_t)n) || !write_all(STDOUT_FILENO, "\n", 1)) {
				if (errno != EPIPE)
					fprintf(stderr, "echo-client: writing standard output: %s\n",
					        strerror(errno));
				return false;
			}
			return true;
		}
		if (n == -2 && errno == ECONNREFUSED && !p->answered && next_address(p)) {
			tries = 0; /* nobody there: the next address gets its own tries */
			continue;
		}
		if (n == -2) {
			where(p, at, sizeof at);
			fprintf(stderr, "echo-client: no reply from %s to line %lu: %s\n", at, p->line_no,
			        errno == ECONNREFUSED ? "connection refused (nothing listens on that "
			                                "UDP port)" : strerror(errno));
			return false;
		}
	}
	where(p, at, sizeof at);
	fprintf(stderr, "echo-client: no reply from %s to line %lu after %u tries, %d ms apart\n",
	        at, p->line_no, tries, UDP_PIPE_TIMEOUT_MS);
	return false;
}

int udp_pipe_run(const char *host, const char *port)
{
	struct udp_pipe p = { .host = host, .port = port };
	p.fd = connect_datagram(host, port, 0, NULL);
	if (p.fd < 0)
		return 1;
	p.reply = malloc(UDP_MAX_DATAGRAM);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int status = 0;
	if (!p.reply) {
		fprintf(stderr, "echo-client: out of memory\n");
		status = 1;
	}
	while (status == 0 && (len = getline(&line, &cap, stdin)) >= 0) {
		p.line_no++;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (!exchange(&p, line, (size_t)len))
			status = 1;
	}
	if (status == 0 && ferror(stdin)) {
		fprintf(stderr, "echo-client: reading standard input: %s\n", strerror(errno));
		status = 1;
	}
	free(line);
	free(p.resent);
	free(p.reply);
	close(p.fd);
	return status;
}
