/* echo_blocking: the blocking driver of the connection core (conn.h), the
 * per-connection loop of the blocking models (iterative, fork, threads,
 * prefork, prethreaded).
 *
 * Send what is owed, else read (and echo what the read completed), repeat:
 * the protocol is the core's, the same as every event loop's; this loop only
 * blocks. The idle timeout is the socket's SO_RCVTIMEO/SO_SNDTIMEO. Returns
 * when the client is done, breaks the protocol, times out, vanishes, or a
 * stop is requested, having counted what it echoed. The caller closes fd:
 * only the caller knows who else might be looking at that descriptor number.
 */
#ifndef ECHOLAB_ECHO_BLOCKING_H
#define ECHOLAB_ECHO_BLOCKING_H

#include "peer.h"
#include "server.h"

/* Returns the messages it echoed, for a pool's per-worker count
 * (stats_worker_echoed). */
unsigned long long echo_blocking(const struct server *s, int fd, const struct peer *peer);

/* The stack a thread that runs echo_blocking needs. The loop keeps its read
 * buffer on the heap and its frames are small, so a thread needs little. glibc's
 * default (8 MiB of address space, though only touched pages cost memory)
 * would cap a model at a few thousand threads on a 32-bit machine and wastes
 * address space everywhere. Sanitizers need more. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ECHO_BLOCKING_STACK_SIZE (1024 * 1024)
#else
#define ECHO_BLOCKING_STACK_SIZE (64 * 1024)
#endif

#endif
