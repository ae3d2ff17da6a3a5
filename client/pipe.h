/* pipe: stdin to the server, the server to stdout, byte for byte.
 *
 * Used when stdin is not a terminal. Bytes are never interpreted, so any binary
 * stream round-trips. Returns the exit status: 0 once the server has closed and
 * everything it sent is on stdout, 1 on a reset or an I/O error. */
#ifndef ECHOLAB_CLIENT_PIPE_H
#define ECHOLAB_CLIENT_PIPE_H

int pipe_run(int sock);

#endif
