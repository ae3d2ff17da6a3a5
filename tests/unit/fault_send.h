/* fault_send.h: the unit tests' hand on the server's sends.
 *
 * A test binary that includes this defines send() and sendmsg() itself; the
 * code under test (common/conn.c, common/echo_blocking.c, linked from the
 * static library) then calls these, which pass straight to the kernel unless
 * a fault is armed for the descriptor: the sends may take `limit` bytes
 * more in all (a socket buffer with that much room: the send that reaches it
 * comes back short, the next fails with EAGAIN), or each at most `chunk`
 * bytes (short sends, as a signal can cause on a blocking socket), or fail
 * with an errno (a reset). This is how a test puts a partial write or EAGAIN at an exact
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
	size_t chunk; /* > 0: each send takes at most this many bytes (short, never EAGAIN) */
	int fail;     /* != 0: once `limit` is used up (or at once, limit -1),
	                 sends fail with this errno instead of EAGAIN */
	size_t calls; /* sends attempted on fd */
} fault = {-1, -1, 0, 0, 0};

static void fault_clear(void)
{
	fault.limit = -1;
	fault.fail = 0;
	fault.chunk = 0;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr m = *msg;
	struct iovec iov[8];
	size_t left;

	if (fd == fault.fd)
		fault.calls++;
	if (fd == fault.fd && fault.fail && fault.limit <= 0) {
		errno = fault.fail;
		return -1;
	}
	if (fd == fault.fd && fault.limit == 0) {
		errno = EAGAIN;
		return -1;
	}
	if (fd == fault.fd && (fault.limit > 0 || fault.chunk > 0) && m.msg_iovlen <= 8) {
		/* The same iovecs, cut to `limit` (or `chunk`) bytes. */
		left = fault.limit > 0 ? (size_t)fault.limit : (size_t)-1;
		if (fault.chunk > 0 && fault.chunk < left)
			left = fault.chunk;
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
