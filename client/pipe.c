/* pipe: see pipe.h.
 *
 * The server echoes while we are still sending. If we wrote to the socket until
 * all of stdin was gone before reading anything, a big input would fill the
 * server's send buffer, the server would stop reading, our send buffer would fill
 * too, and both sides would wait for ever. So one poll() loop moves whichever
 * bytes can move: stdin to the "up" buffer, "up" to the socket, the socket to the
 * "down" buffer, "down" to stdout. The socket is non-blocking; stdin and stdout
 * are left as they are (their open file descriptions may be shared with other
 * processes) and only touched when poll says they are ready.
 *
 * Each buffer is filled only when empty, so memory is fixed at two buffers and
 * there is no compaction; the kernel's socket and pipe buffers keep data moving
 * while one of ours drains.
 */
#include "pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "log.h"

#define PIPE_BUFFER_SIZE (256 * 1024)

struct buffer {
	char *data;
	size_t start, end; /* bytes [start, end) still have to be written */
};

struct pipe_state {
	int sock;
	struct buffer up;   /* from stdin, for the server */
	struct buffer down; /* from the server, for stdout */
	bool stdin_done;    /* end of input reached, or the server took no more */
	bool fin_sent;      /* we have half-closed */
	bool server_done;   /* the server closed its side */
	int status;         /* -1 while running, then the exit status */
};

enum { POLL_STDIN, POLL_SOCKET, POLL_STDOUT, POLL_COUNT };

static bool buffer_empty(const struct buffer *b)
{
	return b->start == b->end;
}

static void fail(struct pipe_state *s, const char *what, int err)
{
	fprintf(stderr, "echo-client: %s: %s\n", what, error_text(err));
	s->status = 1;
}

static void read_stdin(struct pipe_state *s)
{
	ssize_t n = read(STDIN_FILENO, s->up.data, PIPE_BUFFER_SIZE);
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN)
			fail(s, "reading standard input", errno);
		return;
	}
	s->up.start = 0;
	s->up.end = (size_t)n;
	if (n == 0)
		s->stdin_done = true;
}

static void send_up(struct pipe_state *s)
{
	ssize_t n = send(s->sock, s->up.data + s->up.start, s->up.end - s->up.start,
	                 MSG_NOSIGNAL);
	if (n >= 0) {
		s->up.start += (size_t)n;
		return;
	}
	if (errno == EINTR || errno == EAGAIN)
		return;
	if (errno == EPIPE) {
		/* The server stopped reading (say, after "ERR line too long"): what it
		 * already sent us still has to reach stdout, the rest of stdin does not. */
		s->up.start = s->up.end = 0;
		s->stdin_done = true;
		s->fin_sent = true;
		return;
	}
	fprintf(stderr, "echo-client: %s\n", socket_error_text(errno));
	s->status = 1;
}

static void receive_down(struct pipe_state *s)
{
	ssize_t n = recv(s->sock, s->down.data, PIPE_BUFFER_SIZE, 0);
	if (n < 0) {
		if (errno != EINTR && errno != EAGAIN) {
			fprintf(stderr, "echo-client: %s\n", socket_error_text(errno));
			s->status = 1;
		}
		return;
	}
	s->down.start = 0;
	s->down.end = (size_t)n;
	if (n == 0)
		s->server_done = true;
}

static void write_stdout(struct pipe_state *s)
{
	ssize_t n = write(STDOUT_FILENO, s->down.data + s->down.start,
	                  s->down.end - s->down.start);
	if (n >= 0) {
		s->down.start += (size_t)n;
	} else if (errno == EPIPE) {
		/* The reader went away (| head): nothing left to do, nothing to say. */
		s->status = 1;
	} else if (errno != EINTR && errno != EAGAIN) {
		fail(s, "writing standard output", errno);
	}
}

/* A descriptor we are not interested in is set to -1 so that poll ignores it
 * entirely: a hung-up pipe we do not want to read would otherwise report POLLHUP
 * on every call and spin the loop. */
static void plan_poll(const struct pipe_state *s, struct pollfd *fds)
{
	bool want_stdin = !s->stdin_done && buffer_empty(&s->up);
	bool want_recv = !s->server_done && buffer_empty(&s->down);
	bool want_send = !buffer_empty(&s->up);
	fds[POLL_STDIN] = (struct pollfd){ .fd = want_stdin ? STDIN_FILENO : -1, .events = POLLIN };
	fds[POLL_SOCKET] = (struct pollfd){
		.fd = want_recv || want_send ? s->sock : -1,
		.events = (short)((want_recv ? POLLIN : 0) | (want_send ? POLLOUT : 0)),
	};
	fds[POLL_STDOUT] = (struct pollfd){
		.fd = buffer_empty(&s->down) ? -1 : STDOUT_FILENO, .events = POLLOUT,
	};
}

static bool ready(const struct pollfd *p, short events)
{
	return p->fd >= 0 && (p->revents & (events | POLLHUP | POLLERR | POLLNVAL));
}

static void step(struct pipe_state *s)
{
	struct pollfd fds[POLL_COUNT];
	plan_poll(s, fds);
	if (poll(fds, POLL_COUNT, -1) < 0) {
		if (errno != EINTR)
			fail(s, "poll", errno);
		return;
	}
	if (ready(&fds[POLL_STDIN], POLLIN))
		read_stdin(s);
	if (s->status < 0 && ready(&fds[POLL_SOCKET], POLLOUT) && !buffer_empty(&s->up))
		send_up(s);
	if (s->status < 0 && ready(&fds[POLL_SOCKET], POLLIN) && buffer_empty(&s->down)
	    && !s->server_done)
		receive_down(s);
	if (s->status < 0 && ready(&fds[POLL_STDOUT], POLLOUT))
		write_stdout(s);
	if (s->status < 0 && s->stdin_done && buffer_empty(&s->up) && !s->fin_sent) {
		/* Tells the server there is no more: it echoes any unfinished last
		 * message and closes, which is how we know we have everything. */
		if (shutdown(s->sock, SHUT_WR) < 0 && errno != ENOTCONN)
			fail(s, "shutdown", errno);
		s->fin_sent = true;
	}
}

int pipe_run(int sock)
{
	struct pipe_state s = { .sock = sock, .status = -1 };
	s.up.data = malloc(PIPE_BUFFER_SIZE);
	s.down.data = malloc(PIPE_BUFFER_SIZE);
	if (!s.up.data || !s.down.data) {
		fprintf(stderr, "echo-client: out of memory\n");
		s.status = 1;
	} else if (fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK) < 0) {
		fail(&s, "fcntl", errno);
	}
	while (s.status < 0 && !(s.server_done && buffer_empty(&s.down)))
		step(&s);
	free(s.up.data);
	free(s.down.data);
	return s.status < 0 ? 0 : s.status;
}
