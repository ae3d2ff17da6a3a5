/* interactive: see interactive.h.
 *
 * The terminal is read with read(2), not stdio: in canonical mode the terminal
 * hands over one line per read, so there is no buffer of ours that could hold
 * typed-ahead text while we wait on the socket. While waiting at the prompt we
 * also watch the socket, so a server that gives up on us (idle timeout, "ERR
 * server busy") is reported at once, not after the next line is typed.
 */
#include "interactive.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "log.h"

#define PROMPT "> "
#define CHUNK 4096

/* The bytes of the current line sent so far, to tell an "ERR ..." refusal from
 * the echo of a line that happens to start with "ERR ". */
struct line {
	char *data;
	size_t len, cap;
};

enum outcome { KEEP_GOING, INPUT_ENDED, SERVER_ENDED, FAILED };

static bool line_append(struct line *l, const char *bytes, size_t len)
{
	if (l->len + len > l->cap) {
		size_t cap = l->cap ? l->cap : CHUNK;
		while (cap < l->len + len)
			cap *= 2;
		char *grown = realloc(l->data, cap);
		if (!grown)
			return false;
		l->data = grown;
		l->cap = cap;
	}
	memcpy(l->data + l->len, bytes, len);
	l->len += len;
	return true;
}

static enum outcome print_or_fail(const char *bytes, size_t len)
{
	if (write_all(STDOUT_FILENO, bytes, len))
		return KEEP_GOING;
	if (errno != EPIPE)
		fprintf(stderr, "echo-client: writing standard output: %s\n", error_text(errno));
	return FAILED;
}

/* One recv: prints what arrived. *got is what was received (0 at close). */
static enum outcome relay_from_server(int sock, char *buf, size_t *got)
{
	ssize_t n;
	do
		n = recv(sock, buf, CHUNK, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		fprintf(stderr, "echo-client: %s\n", socket_error_text(errno));
		return FAILED;
	}
	*got = (size_t)n;
	return n == 0 ? SERVER_ENDED : print_or_fail(buf, (size_t)n);
}

/* Prints everything the server still sends, until it closes. */
static enum outcome relay_until_close(int sock, char *buf)
{
	size_t got;
	enum outcome o;
	while ((o = relay_from_server(sock, buf, &got)) == KEEP_GOING)
		;
	return o;
}

static enum outcome server_gone(void)
{
	fprintf(stderr, "\necho-client: server closed the connection\n");
	return SERVER_ENDED;
}

/* Reads and prints the server's answer to the line just sent, up to its LF. An
 * answer that is not our line but starts with "ERR " is the server refusing us;
 * it closes right after, so we print the rest and stop. */
static enum outcome await_echo(int sock, const struct line *sent, char *buf)
{
	size_t answered = 0;
	bool same = true, refused = false;
	for (;;) {
		size_t got;
		enum outcome o = relay_from_server(sock, buf, &got);
		if (o == SERVER_ENDED)
			return server_gone();
		if (o != KEEP_GOING)
			return o;
		if (answered == 0 && got >= 4 && memcmp(buf, "ERR ", 4) == 0)
			refused = true;
		size_t comparable = answered < sent->len ? sent->len - answered : 0;
		if (got > comparable || memcmp(buf, sent->data + answered, got) != 0)
			same = false;
		answered += got;
		if (memchr(buf, '\n', got))
			break;
	}
	if (!refused || same)
		return KEEP_GOING;
	enum outcome o = relay_until_close(sock, buf);
	return o == SERVER_ENDED ? server_gone() : o;
}

static enum outcome prompt(void)
{
	return print_or_fail(PROMPT, sizeof PROMPT - 1);
}

/* What the terminal gave: sent at once; a complete line waits for its echo. */
static enum outcome on_typed(int sock, struct line *line, char *buf)
{
	ssize_t n = read(STDIN_FILENO, buf, CHUNK);
	if (n < 0 && errno == EINTR)
		return KEEP_GOING;
	if (n < 0) {
		fprintf(stderr, "echo-client: reading the terminal: %s\n", error_text(errno));
		return FAILED;
	}
	if (n == 0)
		return INPUT_ENDED;
	if (!write_all(sock, buf, (size_t)n)) {
		if (errno != EPIPE && errno != ECONNRESET) {
			fprintf(stderr, "echo-client: %s\n", socket_error_text(errno));
			return FAILED;
		}
		/* The server is gone; whatever it said before leaving is still ours
		 * to print. */
		enum outcome o = relay_until_close(sock, buf);
		return o == SERVER_ENDED ? server_gone() : o;
	}
	if (!line_append(line, buf, (size_t)n)) {
		fprintf(stderr, "echo-client: out of memory\n");
		return FAILED;
	}
	if (buf[n - 1] != '\n')
		return KEEP_GOING;
	enum outcome o = await_echo(sock, line, buf);
	line->len = 0;
	return o == KEEP_GOING ? prompt() : o;
}

/* Waits for the next line, or for the server to speak (or close) first. */
static enum outcome step(int sock, struct line *line, char *buf)
{
	struct pollfd fds[2] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = sock, .events = POLLIN },
	};
	if (poll(fds, 2, -1) < 0) {
		if (errno == EINTR)
			return KEEP_GOING;
		fprintf(stderr, "echo-client: poll: %s\n", error_text(errno));
		return FAILED;
	}
	if (fds[1].revents) {
		size_t got;
		enum outcome o = relay_from_server(sock, buf, &got);
		return o == SERVER_ENDED ? server_gone() : o;
	}
	if (fds[0].revents)
		return on_typed(sock, line, buf);
	return KEEP_GOING;
}

/* After Ctrl-D: the server echoes any unfinished line, then closes. */
static int finish(int sock, char *buf)
{
	if (print_or_fail("\n", 1) != KEEP_GOING)
		return 1;
	if (shutdown(sock, SHUT_WR) < 0) {
		fprintf(stderr, "echo-client: shutdown: %s\n", error_text(errno));
		return 1;
	}
	return relay_until_close(sock, buf) == SERVER_ENDED ? 0 : 1;
}

int interactive_run(int sock)
{
	char *buf = malloc(CHUNK);
	struct line line = { 0 };
	if (!buf) {
		fprintf(stderr, "echo-client: out of memory\n");
		return 1;
	}
	enum outcome o = prompt();
	while (o == KEEP_GOING)
		o = step(sock, &line, buf);
	int status = o == INPUT_ENDED ? finish(sock, buf) : 1;
	free(line.data);
	free(buf);
	return status;
}
