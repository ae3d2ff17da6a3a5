/* echo_blocking: the per-connection loop the three blocking models share.
 *
 * Read, frame, write every complete message of the read in one write, repeat.
 * Each call blocks; the idle timeout is the socket's SO_RCVTIMEO/SO_SNDTIMEO.
 * Returns when the client is done, breaks the protocol, times out, vanishes, or
 * a stop is requested, having counted what it echoed. The caller closes fd:
 * only the caller knows who else might be looking at that descriptor number.
 */
#ifndef ECHOLAB_ECHO_BLOCKING_H
#define ECHOLAB_ECHO_BLOCKING_H

#include "peer.h"
#include "server.h"

void echo_blocking(const struct server *s, int fd, const struct peer *peer);

/* The stack a thread that runs echo_blocking needs. The loop keeps its buffer
 * on the heap and its frames are small, so a thread needs little. glibc's
 * default (8 MiB of address space, though only touched pages cost memory)
 * would cap a model at a few thousand threads on a 32-bit machine and wastes
 * address space everywhere. Sanitizers need more. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ECHO_BLOCKING_STACK_SIZE (1024 * 1024)
#else
#define ECHO_BLOCKING_STACK_SIZE (64 * 1024)
#endif

#endif
