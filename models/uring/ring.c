#include "ring.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "log.h"

static int ring_open(struct io_uring *ring)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int rc = -EINVAL;

	/* EINVAL: flags this kernel does not know; anything else is final. */
	for (size_t i = 0; i < sizeof tries / sizeof tries[0] && rc == -EINVAL; i++) {
		struct io_uring_params p = {.flags = tries[i] | IORING_SETUP_CQSIZE,
		                            .cq_entries = RING_CQ_ENTRIES};

		rc = io_uring_queue_init_params(RING_SQ_ENTRIES, ring, &p);
	}
	return rc;
}

static bool kernel_at_least(long major, long minor)
{
	struct utsname u;
	char *end;
	long ma, mi;

	if (uname(&u) < 0)
		return false;
	ma = strtol(u.release, &end, 10); /* "6.1.0-18-amd64" */
	if (end == u.release || *end != '.')
		return false;
	mi = strtol(end + 1, &end, 10);
	return ma > major || (ma == major && mi >= minor);
}

void ring_setup(struct io_uring *ring, struct bufring *bufs)
{
	int rc;

	if (!kernel_at_least(6, 0))
		die("io_uring unavailable: multishot recv needs Linux 6.0 or later");
	rc = ring_open(ring);
	if (rc < 0)
		die("io_uring unavailable: io_uring_setup: %s%s", strerror(-rc),
		    rc == -ENOSYS  ? " (a kernel without io_uring, or a seccomp filter)"
		    : rc == -EPERM ? " (sysctl kernel.io_uring_disabled, or a seccomp filter)"
		                   : "");
	rc = bufring_open(bufs, ring);
	if (rc == -ENOMEM)
		die("out of memory for the provided buffers");
	if (rc < 0)
		die("io_uring unavailable: io_uring_register_buf_ring: %s", strerror(-rc));
}

void ring_teardown(struct io_uring *ring, struct bufring *bufs)
{
	io_uring_queue_exit(ring); /* the kernel lets go of the buffers */
	bufring_close(bufs);
}

struct io_uring_sqe *ring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (sqe == NULL) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
		if (sqe == NULL)
			die("io_uring: no submission slot after submitting");
	}
	return sqe;
}

void ring_cancel_fd(struct io_uring *ring, int fd, uint64_t user_data)
{
	struct io_uring_sqe *sqe = ring_sqe(ring);

	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data64(sqe, user_data);
}

void ring_cancel(struct io_uring *ring, uint64_t target, uint64_t user_data)
{
	struct io_uring_sqe *sqe = ring_sqe(ring);

	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, user_data);
}
