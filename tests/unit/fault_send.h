/* fault_send.h: the unit tests' hand on the server's sends.
 *
 * A test binary that includes this defines send() and sendmsg() itself; the
 * code under test (common/conn.c, common/echo_blocking.c, linked from the
 * static library) then calls these, which pass straight to the kernel unless
 * a fault is armed for the descriptor: the sends may take `limit` bytes
 * more in all (a socket buffer with that much room: the send that reaches it
 * comes back short, the next fails with EAGAIN), or fail with an errno (a
 * reset). This is how a test puts a partial write or EAGAIN at an exact
 * byte, which no socket buffer size can do (the kernel accounts buffers in
 * packets, not bytes). Nothing here is part of the servers.
 */
#ifndef ECHOLAB_FAULT_SEND_H
#define ECHOLAB_FAULT_SEND_H

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static struct {
	int fd;       /* the descriptor faults apply to; -1: none */
	long limit;   /* >= 0: bytes the sends may still take (0: EAGAIN); -1: any */
	int fail;     /* != 0: sends fail with this errno */
	size_t calls; /* sends attempted on fd */
} fault = {-1, -1, 0, 0};

static void fault_arm(int fd, long limit, int fail)
{
	fault.fd = fd;
	fault.limit = limit;
	fault.fail = fail;
}

static void fault_clear(void)
{
	fault.limit = -1;
	fault.fail = 0;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m = *msg;
	struct iovec iov[8];
	size_t left;

	if (fd == fault.fd)
		fault.calls++;
	if (fd == fault.fd && fault.fail) {
		errno = fault.fail;
		return -1;
	}
	if (fd == fault.fd && fault.limit == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (fd == fault.fd && fault.limit > 0 && m.msg_iovlen <= 8) {
		/* The same iovecs, cut to `limit` bytes. */
		left = (size_t)fault.limit;
		for (size_t i = 0; i < m.msg_iovlen; i++) {
			iov[i] = m.msg_iov[i];
			if (iov[i].iov_len > left)
				iov[i].iov_len = left;
			left -= iov[i].iov_len;
		}
		m.msg_iov = iov;
	}
	ssize_t n = syscall(SYS_sendmsg, fd, &m, flags);

	if (fd == fault.fd && fault.limit > 0 && n > 0)
		fault.limit -= n;
	return n;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct iovec iov = {(void *)buf, len};
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	return sendmsg(fd, &m, flags);
}

#endif
