/* bare-select: the step between threads and select in docs/TOUR.md. One
 * thread serves every client with select() and non-blocking sockets; still
 * nothing from common/, so each piece the models share is visible here once.
 * usage: bin/bare-select [PORT]   (on 127.0.0.1; default 8080; 0 = any free
 *                                  port, printed)
 * It echoes whole lines only, and says on stderr each time recv() answers
 * EAGAIN ("nothing more to read now"), the answer a blocking server never sees. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CLIENTS 8
#define LINE_MAX_BYTES 4096

/* One client's state: with one thread for all, nothing may wait inside a
 * call, so what a blocking server kept on its stack (the half-read line, the
 * part of the echo not yet written) must be kept here between wake-ups.     */
struct client {
	int fd;                       /* -1: a free slot */
	char in[LINE_MAX_BYTES];      /* bytes of a line whose LF has not come yet */
	size_t in_len;
	char out[LINE_MAX_BYTES];     /* echo owed, not yet taken by the kernel */
	size_t out_len;
};

static void die(const char *what) { perror(what); exit(1); }

/* O_NONBLOCK: from now on recv/send/accept never wait. When they would have
 * to, they fail with EAGAIN (also spelled EWOULDBLOCK) and we go back to
 * select(), which is the one place this server waits.                      */
static void set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
}

static int listen_on(const char *port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE }, *ai;
	if (getaddrinfo("127.0.0.1", port, &hints, &ai) != 0) die("getaddrinfo");
	int fd = socket(ai->ai_family, ai->ai_socktype, 0), one = 1;
	if (fd < 0) die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) die("bind");
	if (listen(fd, 16) < 0) die("listen");
	freeaddrinfo(ai);
	struct sockaddr_in sin; socklen_t len = sizeof sin;
	getsockname(fd, (struct sockaddr *)&sin, &len);
	printf("listening on port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	set_nonblocking(fd);
	return fd;
}

static void drop(struct client *c) { close(c->fd); c->fd = -1; }

/* Write what is owed; keep what the kernel did not take (a short send).   */
static void flush_out(struct client *c)
{
	ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
	if (n < 0) { drop(c); return; }
	memmove(c->out, c->out + n, c->out_len - (size_t)n);
	c->out_len -= (size_t)n;
}

/* Read everything there is now, until recv says EAGAIN; move each complete
 * line to the echo owed, keep a partial line for the next wake-up.        */
static void on_readable(struct client *c)
{
	for (;;) {
		if (c->out_len > 0) return;   /* echo owed: read no more until it is out */
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 && errno == EAGAIN) {
			fprintf(stderr, "fd %d: recv -> EAGAIN, %zu bytes of a line kept, back to select\n",
			        c->fd, c->in_len);
			return;
		}
		if (n <= 0) { drop(c); return; }   /* 0: EOF (the partial line is dropped) */
		c->in_len += (size_t)n;
		char *lf = memrchr(c->in, '\n', c->in_len);
		if (lf == NULL && c->in_len == sizeof c->in) { drop(c); return; }  /* too long */
		if (lf == NULL) continue;
		size_t whole = (size_t)(lf - c->in) + 1;
		memcpy(c->out, c->in, whole);
		c->out_len = whole;
		memmove(c->in, c->in + whole, c->in_len - whole);
		c->in_len -= whole;
		flush_out(c);
		if (c->fd < 0) return;
	}
}

static void on_listener(int lfd, struct client *clients)
{
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) return;           /* EAGAIN: no more waiting; or an error */
		struct client *c = NULL;
		for (int i = 0; i < MAX_CLIENTS && c == NULL; i++)
			if (clients[i].fd < 0) c = &clients[i];
		if (c == NULL || fd >= FD_SETSIZE) { close(fd); continue; }  /* full */
		set_nonblocking(fd);
		*c = (struct client){ .fd = fd };
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	int lfd = listen_on(argc > 1 ? argv[1] : "8080");
	static struct client clients[MAX_CLIENTS];
	for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
	for (;;) {
		/* select overwrites its sets: rebuild them before every call. A
		 * client with echo owed waits to be writable, the others readable. */
		fd_set rd, wr;
		FD_ZERO(&rd); FD_ZERO(&wr);
		FD_SET(lfd, &rd);
		int max_fd = lfd;
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			if (c->fd < 0) continue;
			FD_SET(c->fd, c->out_len > 0 ? &wr : &rd);
			if (c->fd > max_fd) max_fd = c->fd;
		}
		if (select(max_fd + 1, &rd, &wr, NULL, NULL) < 0) {
			if (errno == EINTR) continue;
			die("select");
		}
		if (FD_ISSET(lfd, &rd)) on_listener(lfd, clients);
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &clients[i];
			if (c->fd >= 0 && FD_ISSET(c->fd, &wr)) flush_out(c);
			if (c->fd >= 0 && FD_ISSET(c->fd, &rd)) on_readable(c);
		}
	}
}
