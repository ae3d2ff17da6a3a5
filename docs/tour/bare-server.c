/* bare-server: step 0 of docs/TOUR.md. A complete TCP echo server, nothing else.
 * usage: bin/bare-server [PORT]   (default 8080; 0 = any free port, printed)
 * No common/, no options, one client at a time: what models/ grows out of.  */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(1); }

/* write() may take fewer bytes than asked when the kernel's send buffer is
 * nearly full (a "short write"), or be interrupted by a signal (EINTR, 0
 * bytes written). Either way: write the rest. Forgetting this loses bytes.  */
static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0) return -1;          /* EPIPE: the client is gone */
		p += w, n -= (size_t)w;
	}
	return 0;
}

/* TCP is a byte STREAM: the client's two writes "hel" + "lo\n" may arrive as
 * one read, or "hello\n" as three. There are no message boundaries, so an
 * echo of bytes needs none: whatever arrives goes straight back. The models
 * speak a protocol of LF-terminated lines (framing) because they must know
 * where a message ends to count it, limit it and answer errors.            */
static void echo(int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR) continue;
		/* 0 = the client half-closed (sent FIN: "I will send no more"); it
		 * may still read, and gets everything we owe before our close. <0
		 * with ECONNRESET = it sent RST: the connection is gone, abruptly. */
		if (n <= 0 || write_all(fd, buf, (size_t)n) < 0) return;
	}
}

int main(int argc, char **argv)
{
	/* Writing to a connection the peer has reset raises SIGPIPE, which kills
	 * the process by default. Ignored, the write fails with EPIPE instead.  */
	signal(SIGPIPE, SIG_IGN);
	struct addrinfo hints = { .ai_family = AF_INET6, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE }, *ai;
	/* getaddrinfo turns "PORT" into a socket address: NULL host + AI_PASSIVE
	 * = the wildcard [::], which on Linux also accepts IPv4 (::ffff:1.2.3.4). */
	int err = getaddrinfo(NULL, argc > 1 ? argv[1] : "8080", &hints, &ai);
	if (err) { fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(err)); return 1; }
	int lfd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (lfd < 0) die("socket");
	/* After a restart our old connections linger in TIME_WAIT for a minute;
	 * without SO_REUSEADDR bind() fails "Address already in use" till then. */
	int one = 1;
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) die("setsockopt");
	if (bind(lfd, ai->ai_addr, ai->ai_addrlen) < 0) die("bind");
	freeaddrinfo(ai);
	/* From here the KERNEL accepts: it answers each SYN with SYN+ACK, gets the
	 * ACK (the three-way handshake) and queues the finished connection. The
	 * backlog (SOMAXCONN) bounds that queue; when full, new SYNs are dropped. */
	if (listen(lfd, SOMAXCONN) < 0) die("listen");
	struct sockaddr_storage me;
	socklen_t len = sizeof me;
	char port[16];
	if (getsockname(lfd, (struct sockaddr *)&me, &len) < 0 ||
	    getnameinfo((struct sockaddr *)&me, len, NULL, 0, port, sizeof port, NI_NUMERICSERV))
		die("getsockname");
	printf("listening on port %s\n", port);
	fflush(stdout);
	for (;;) {
		/* accept() only takes a connection the handshake already finished off
		 * the queue: clients connect fine while we are busy; they just wait. */
		int cfd = accept(lfd, NULL, NULL);
		if (cfd < 0 && errno == EINTR) continue;
		if (cfd < 0) die("accept");
		echo(cfd);
		/* close() sends FIN. Had unread bytes still been queued, the kernel
		 * would send RST instead, and the client could lose our last echo. */
		close(cfd);
	}
}
