/* io: whole-buffer writes for the blocking parts of the client. */
#ifndef ECHOLAB_CLIENT_IO_H
#define ECHOLAB_CLIENT_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"

/* Writes all of buf to fd (a socket, file, pipe or terminal), retrying short
 * writes and EINTR. False with errno set on failure. The client ignores
 * SIGPIPE, so a vanished peer shows up here as EPIPE, never as a signal. */
bool write_all(int fd, const void *buf, size_t len);

/* "connection reset by server" style text for a failed socket call,
 * lower-case like every reason in a message (log.h's error_text), in storage
 * that lasts as long as the enclosing block. */
#define socket_error_text(err) \
	socket_error_text_into((err), (char[MID_SENTENCE_MAX]){0}, MID_SENTENCE_MAX)
const char *socket_error_text_into(int err, char *buf, size_t size);

#endif
