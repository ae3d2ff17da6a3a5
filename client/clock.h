/* clock: the one time base of the client, in nanoseconds.
 *
 * CLOCK_MONOTONIC never jumps when the wall clock is set, so differences are
 * true durations; on Linux it is read through the vDSO, cheap enough to call
 * once per event. */
#ifndef ECHOLAB_CLIENT_CLOCK_H
#define ECHOLAB_CLIENT_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL

static inline int64_t clock_now_ns(void)
{
	struct timespec ts;
	/* Cannot fail for CLOCK_MONOTONIC with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

#endif
