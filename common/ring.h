/* ring: an io_uring instance set up the fastest way this kernel allows, with
 * its provided buffers (bufring.h); or, where io_uring cannot serve at all,
 * one line saying why and exit status 1.
 *
 * Setup flags, best first: SINGLE_ISSUER | DEFER_TASKRUN (Linux 6.1) makes
 * the kernel run completion work only when the one thread enters the ring to
 * wait, in one batch, instead of interrupting it; COOP_TASKRUN (5.19) is the
 * next best; then none. The completion queue is sized for a burst from
 * 10,000 connections (RING_CQ_ENTRIES), the submission queue much smaller.
 * Unavailable: a kernel older than 6.0 (multishot recv), io_uring switched
 * off (sysctl kernel.io_uring_disabled) or filtered (a seccomp profile, as
 * in many container runtimes): "io_uring unavailable: REASON".
 */
#ifndef ECHOLAB_RING_H
#define ECHOLAB_RING_H

#include <liburing.h>

#include "bufring.h"

#define RING_SQ_ENTRIES 4096
#define RING_CQ_ENTRIES 32768

void ring_setup(struct io_uring *ring, struct bufring *bufs);
void ring_teardown(struct io_uring *ring, struct bufring *bufs);

#endif
