/* protocol: the facts of the wire protocol that more than one module needs.
 *
 * The protocol itself is in docs/PROTOCOL.md; this header is the one place
 * its fixed lines and sizes are spelled out in code, and protocol.c holds the
 * one way a server ends a conversation it has an error line for.
 */
#ifndef ECHOLAB_PROTOCOL_H
#define ECHOLAB_PROTOCOL_H

#include <stdbool.h>

/* Sent when a message reaches --max-line bytes without an LF; the rest of the
 * connection's input is then read and discarded until the client closes. */
#define PROTOCOL_ERR_TOO_LONG "ERR line too long\n"
/* Sent to a client the server cannot take (--max-clients, descriptors). */
#define PROTOCOL_ERR_BUSY "ERR server busy\n"
/* Length of one of the lines above, without the terminating NUL. */
#define PROTOCOL_LEN(line) (sizeof(line) - 1)

/* The largest single read: a blocking connection's read size, and the size of
 * the one read buffer an event loop shares between all its connections. */
#define PROTOCOL_READ_CHUNK (64 * 1024)

/* The end of a conversation that has sent its last line ("ERR ..."): FIN, so
 * the client reads the whole line and then EOF, then take the client's input
 * and throw it away. Closing a socket with unread input would make the kernel
 * send RST instead, which can destroy the line in flight before the client
 * reads it. */
void protocol_finish(int fd);
/* Reads and discards input, at most `rounds` reads, never blocking
 * (MSG_DONTWAIT), whatever the socket's mode: the bounded drain of a client
 * refused with "ERR server busy". Returns true once the client has closed
 * (or the socket failed): close the socket now. Returns false when nothing
 * more is ready or the rounds ran out: the client may still be sending. (A
 * connection's own drain after "ERR line too long" is the core's DRAINING
 * phase, conn.h.) */
bool protocol_discard_input(int fd, int rounds);

#endif
