/* echo_blocking: the blocking driver of the connection core (conn.h), the
 * per-connection loop of the blocking models (iterative, fork, threads,
 * prefork, prethreaded), and with echo_waiting (below) of a model that runs
 * such loops as coroutines.
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

#include <stdbool.h>

#include "conn.h"
#include "peer.h"
#include "server.h"

/* Returns the messages it echoed, for a pool's per-worker count
 * (stats_worker_echoed). */
unsigned long long echo_blocking(const struct server *s, int fd, const struct peer *peer);

/* The same loop over a non-blocking socket, for a runtime that runs many
 * such loops in one thread (a coroutine per connection). Where a blocking
 * socket would block, before each read and before each send of bytes still
 * owed, the loop calls wait(); the echo of what a read brings is sent at
 * once, as every readiness loop sends it (conn_on_readable). The idle
 * timeout is the waiter's. */
struct echo_waiter {
	/* Returns once fd is ready for `want` (CONN_WANT_READ or
	 * CONN_WANT_WRITE) or a stop is requested: true. False when the idle
	 * timeout ran out first, or when the runtime cannot wait for fd: then
	 * it sets `why`, the reason the connection is closed with. */
	bool (*wait)(struct echo_waiter *w, enum conn_want want);
	/* The read buffer (PROTOCOL_READ_CHUNK bytes), shared by every loop of
	 * the runtime: a loop uses it only within a read, never across a wait. */
	char *rbuf;
	const char *why;
};
void echo_waiting(const struct server *s, int fd, const struct peer *peer,
                  struct echo_waiter *w);

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
