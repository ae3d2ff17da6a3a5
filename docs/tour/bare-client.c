/* bare-client: step 0 of docs/TOUR.md. Sends one line, prints its echo.
 * usage: bin/bare-client HOST PORT [TEXT]   (TEXT defaults to "hello")
 * Works against bin/bare-server and every bin/echo-<model>.                 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3) { fprintf(stderr, "usage: %s HOST PORT [TEXT]\n", argv[0]); return 2; }
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *a;
	int err = getaddrinfo(argv[1], argv[2], &hints, &ai);
	if (err) { fprintf(stderr, "%s: %s\n", argv[1], gai_strerror(err)); return 1; }
	/* A name may have several addresses (IPv6 and IPv4): try each in turn.
	 * connect() sends SYN and returns once SYN+ACK came back and our ACK is
	 * sent: the server's kernel completed it, whether or not anyone accept()s.
	 * "Connection refused" = the server's kernel answered our SYN with RST:
	 * nobody listens on that port.                                          */
	int fd = -1;
	for (a = ai; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
		err = errno;
		if (fd >= 0) close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) { fprintf(stderr, "connect: %s\n", strerror(err)); return 1; }

	char line[1024];
	int n = snprintf(line, sizeof line, "%s\n", argc > 3 ? argv[3] : "hello");
	if (n < 0 || (size_t)n >= sizeof line) { fprintf(stderr, "TEXT too long\n"); return 2; }
	/* Sent as one write, but TCP may deliver it in pieces (and does, when the
	 * text is long): that is why the protocol ends every message with LF.    */
	for (int sent = 0; sent < n;) {
		ssize_t w = write(fd, line + sent, (size_t)(n - sent));
		if (w < 0 && errno == EINTR) continue;
		if (w < 0) { perror("write"); return 1; }
		sent += (int)w;
	}
	/* Read until the LF: one read() may return part of the echo. That LF is
	 * the framing: the only way to know the message is complete.            */
	char echo[sizeof line];
	int got = 0;
	while (got == 0 || echo[got - 1] != '\n') {
		ssize_t r = read(fd, echo + got, sizeof echo - (size_t)got);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) { perror("read"); return 1; }  /* ECONNRESET: an RST came */
		if (r == 0) { fprintf(stderr, "server closed before the echo\n"); return 1; }
		got += (int)r;
	}
	fwrite(echo, 1, (size_t)got, stdout);
	/* close() sends FIN; the server's read() returns 0 and it closes too.   */
	close(fd);
	return 0;
}
