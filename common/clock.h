/* clock: the one clock the servers read for timeouts. */
#ifndef ECHOLAB_CLOCK_H
#define ECHOLAB_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: never jumps with the wall clock. */
int64_t monotonic_ms(void);

#endif
