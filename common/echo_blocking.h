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

#endif
