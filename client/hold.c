/* hold: see hold.h. Simple blocking code: it runs before the load, once. */
#include "hold.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "connect.h"
#include "io.h"
#include "log.h"
#include "sources.h"

#define HOLD_LINE "hold\n"
#define BUSY_LINE "ERR server busy\n"
/* How long all the answers together may take: generous, it only runs out
 * when the server does not answer at all (a serial server, already busy). */
#define ANSWER_DEADLINE_NS (10 * 1000000000LL)
#define CONNECT_LIMIT_S 10
/* Connections opened per second at most: a server accepts them one by one,
 * and a burst that overflows its listen backlog costs dropped SYNs and a
 * second's retransmission each. */
#define HOLD_CONNECT_RATE 10000
#define HOLD_PACE_EVERY 100

static void connect_failed(const char *host, const char *port, unsigned long i,
                           unsigned long n, int err)
{
	char where[300];
	format_host_port(where, sizeof where, host, port);
	fprintf(stderr, "echo-client: --hold: cannot connect to %s: %s (connection %lu of %lu)\n",
	        where, error_text(err), i + 1, n);
}

/* Reads the server's answer to HOLD_LINE, up to its LF or EOF, before the
 * deadline. Returns the bytes read (0 for none), -1 on a socket error. */
static ssize_t read_answer(int fd, char *buf, size_t size, int64_t deadline)
{
	size_t got = 0;
	while (got < size - 1 && (got == 0 || buf[got - 1] != '\n')) {
		int64_t left_ms = (deadline - clock_now_ns()) / 1000000;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = left_ms > 0 ? poll(&p, 1, (int)left_ms) : 0;
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			break;
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/* Sorts the answers: echoed (kept open), refused or failed (closed), silent. */
static void sort_answers(struct hold *h)
{
	int64_t deadline = clock_now_ns() + ANSWER_DEADLINE_NS;
	unsigned long kept = 0;
	for (unsigned long i = 0; i < h->count; i++) {
		char answer[64];
		ssize_t n = read_answer(h->fds[i], answer, sizeof answer, deadline);
		if (n > 0 && strcmp(answer, HOLD_LINE) == 0) {
			h->echoed++;
		} else if (n == 0) {
			h->silent++;
		} else {
			if (n > 0 && strcmp(answer, BUSY_LINE) == 0)
				h->refused++;
			close(h->fds[i]);
			continue;
		}
		h->fds[kept++] = h->fds[i];
	}
	h->count = kept;
}

/* Every HOLD_PACE_EVERY connections: sleeps if ahead of HOLD_CONNECT_RATE,
 * and says how far it is once a second (only a long opening says anything). */
static void pace(unsigned long done, unsigned long n, int64_t start, int64_t *said)
{
	if (done % HOLD_PACE_EVERY != 0)
		return;
	int64_t due = start + (int64_t)(done * (NS_PER_SEC / HOLD_CONNECT_RATE));
	int64_t now = clock_now_ns();
	if (due > now) {
		struct timespec ahead = { .tv_sec = (due - now) / NS_PER_SEC,
		                          .tv_nsec = (due - now) % NS_PER_SEC };
		nanosleep(&ahead, NULL);
		now = due;
	}
	if (now - *said >= NS_PER_SEC) {
		fprintf(stderr, "echo-client: --hold: %lu of %lu connections open\n", done, n);
		*said = now;
	}
}

bool hold_open(struct hold *h, const char *host, const char *port, unsigned long n)
{
	*h = (struct hold){ .fds = malloc(n * sizeof *h->fds) };
	if (!h->fds) {
		fprintf(stderr, "echo-client: out of memory\n");
		return false;
	}
	struct endpoint ep;
	struct sources from;
	int64_t start = clock_now_ns(), said = start;
	for (unsigned long i = 0; i < n; i++) {
		/* The others go to the address the first found, blocking but
		 * bounded: a server whose backlog is full fails the run instead
		 * of hanging it. */
		int fd = i == 0 ? connect_to(host, port, &ep)
		                : connect_endpoint_from(&ep, CONNECT_LIMIT_S, &from, i);
		if (fd < 0) {
			if (i > 0)
				connect_failed(host, port, i, n, errno);
			hold_close(h);
			return false;
		}
		h->fds[h->count++] = fd;
		if (i == 0 && !sources_plan(&from, &ep, n)) {
			hold_close(h);
			return false;
		}
		/* One line each, all sent before any answer is read: the server
		 * serves them while we go on connecting. A refused connection is
		 * closed already: its answer says so. */
		(void)write_all(fd, HOLD_LINE, strlen(HOLD_LINE));
		pace(i + 1, n, start, &said);
	}
	sort_answers(h);
	unsigned long lost = n - h->count - h->refused;
	fprintf(stderr, "echo-client: --hold %lu: %lu echoed and now idle, %lu refused (ERR server "
	        "busy), %lu not answered within 10 s, %lu failed\n",
	        n, h->echoed, h->refused, h->silent, lost);
	return true;
}

void hold_close(struct hold *h)
{
	for (unsigned long i = 0; i < h->count; i++)
		close(h->fds[i]);
	free(h->fds);
	*h = (struct hold){ 0 };
}
