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
#include <stdint.h>

#include "bufring.h"

#define RING_SQ_ENTRIES 4096
#define RING_CQ_ENTRIES 32768

void ring_setup(struct io_uring *ring, struct bufring *bufs);
void ring_teardown(struct io_uring *ring, struct bufring *bufs);

/* A free submission queue entry; when the queue is full, what is queued is
 * submitted first to make room. */
struct io_uring_sqe *ring_sqe(struct io_uring *ring);

/* Queues the cancel of the request whose user_data is `target` (found in a
 * hash); the cancel's own completion carries `user_data`. */
void ring_cancel(struct io_uring *ring, uint64_t target, uint64_t user_data);
/* The same for every request on descriptor fd (a scan of all that are in
 * flight: for the listener at shutdown, not per connection). */
void ring_cancel_fd(struct io_uring *ring, int fd, uint64_t user_data);

/* user_data names what a completion belongs to without any table: the
 * address of its owner (8-byte aligned, so its low 3 bits are free) plus a
 * tag of what the request was. Set after the prep helper, which may reset it. */
#define RING_TAG_MASK 7u

static inline uint64_t ring_user_data(void *owner, unsigned tag)
{
	return (uint64_t)(uintptr_t)owner | tag;
}

static inline void ring_set_tag(struct io_uring_sqe *sqe, void *owner, unsigned tag)
{
	io_uring_sqe_set_data64(sqe, ring_user_data(owner, tag));
}

static inline void *ring_owner(uint64_t user_data)
{
	return (void *)(uintptr_t)(user_data & ~(uint64_t)RING_TAG_MASK);
}

static inline unsigned ring_tag(uint64_t user_data)
{
	return (unsigned)(user_data & RING_TAG_MASK);
}

#endif
