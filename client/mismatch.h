/* mismatch: what to say when an echo is not what was sent.
 *
 * Shared by every load mode. A server refusing us sends an "ERR ..." line in
 * place of the echo, and that line is the best explanation; otherwise the
 * first byte that differs is named. */
#ifndef ECHOLAB_CLIENT_MISMATCH_H
#define ECHOLAB_CLIENT_MISMATCH_H

#include <stddef.h>
#include <stdint.h>

/* got: the len bytes received where want (the bytes of message `seq` from
 * byte `offset` on) were expected, and known to differ from them. */
void mismatch_text(char *why, size_t size, const char *got, size_t len, const char *want,
                   size_t offset, uint64_t seq);

#endif
