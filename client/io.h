/* io: whole-buffer writes for the blocking parts of the client. */
#ifndef ECHOLAB_CLIENT_IO_H
#define ECHOLAB_CLIENT_IO_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all of buf to fd (a socket, file, pipe or terminal), retrying short
 * writes and EINTR. False with errno set on failure. The client ignores
 * SIGPIPE, so a vanished peer shows up here as EPIPE, never as a signal. */
bool write_all(int fd, const void *buf, size_t len);

/* "connection reset by server" style text for a failed socket call. */
const char *socket_error_text(int err);

#endif
