/* io: whole-buffer writes for the blocking parts of the client. */
#ifndef ECHOLAB_CLIENT_IO_H
#define ECHOLAB_CLIENT_IO_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all of buf to fd (a file, pipe or terminal), retrying short writes and
 * EINTR. False with errno set on failure. */
bool write_all(int fd, const void *buf, size_t len);

/* The same for a socket, without SIGPIPE: a vanished server shows up as EPIPE or
 * ECONNRESET, never as a signal. */
bool send_all(int sock, const void *buf, size_t len);

/* "connection reset by server" style text for a failed socket call. */
const char *socket_error_text(int err);

#endif
