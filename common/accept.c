#include "accept.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "protocol.h"
#include "signals.h"
#include "stats.h"

void accept_refuse(struct listener *l, int fd)
{
	/* A fresh socket's send buffer is empty, so this never blocks or comes up
	 * short in practice; MSG_DONTWAIT guarantees the first. */
	if (send(fd, PROTOCOL_ERR_BUSY, PROTOCOL_LEN(PROTOCOL_ERR_BUSY),
	         MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* The client is already gone; closing is all that is left. */
	}
	/* FIN after the line, then take what the client already sent (see
	 * protocol.h), but without waiting and at most 16 reads: a refusal must
	 * never block the server or cost it much. */
	protocol_finish(fd);
	(void)protocol_discard_input(fd, 16);
	close(fd);
	stats_add(&l->stats->refused, 1);
}

bool accept_admit(struct listener *l, int fd, unsigned max_clients, int fd_limit)
{
	/* The place is taken in the same step as the check (stats_admit), so
	 * that two loops, threads or processes admitting at once can never both
	 * take the last one. */
	if (fd < fd_limit && stats_admit(l->stats, max_clients))
		return true;
	accept_refuse(l, fd);
	return false;
}

void accept_release(const struct listener *l)
{
	stats_release(l->stats);
}

void accept_withdraw(struct listener *l, int fd)
{
	/* A client the model could not set up is not served: its place goes
	 * back, or --max-clients would shrink by one at every failure. */
	accept_release(l);
	accept_refuse(l, fd);
}

/* Out of descriptors: give the spare back to take the waiting client, refuse
 * it, and take the spare again. Returns false if even that failed (the system
 * table is full and someone else took our slot), in which case the caller
 * must pause rather than retry at once. Someone else can be another thread of
 * ours: hence accept_fit_max_clients for servers of several loops. */
static bool refuse_without_descriptors(struct listener *l)
{
	int fd;

	if (l->spare_fd < 0)
		l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (l->spare_fd < 0)
		return false;
	close(l->spare_fd);
	l->spare_fd = -1;
	fd = accept(l->fd, NULL, NULL);
	if (fd >= 0)
		accept_refuse(l, fd);
	l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0;
}

bool accept_recover(struct listener *l, int err)
{
	switch (err) {
	case EINTR:
		errno = err;
		return !stop_requested;
	case ECONNABORTED: /* the client left while queued: take the next */
	case EPROTO:
		return true;
	case EMFILE:
	case ENFILE:
		if (refuse_without_descriptors(l))
			return true; /* one fewer waiting: look at the next */
		{
			/* Not even the spare could be had back. Nothing frees a
			 * descriptor sooner than a short pause; retrying now
			 * would only spin. */
			struct timespec pause = {0, 50 * 1000 * 1000};
			nanosleep(&pause, NULL);
		}
		errno = EAGAIN;
		return false;
	case EAGAIN: /* nothing (more) waiting */
	case EBADF:
	case ENOTSOCK:
		/* EBADF, ENOTSOCK: the descriptor is no longer our listener;
		 * a signal handler closed it (a prefork worker whose master
		 * died). The caller hears it from errno, not the log. */
		errno = err;
		return false;
	default:
		/* ENOBUFS, ENOMEM, EPERM (firewall): this client is lost but the
		 * next one may not be; say so and carry on. */
		log_error("accept: %s", error_text(err));
		errno = EAGAIN;
		return false;
	}
}

/* Accepts once: what the event loops call directly, and the step that
 * accept_or_signal (after its poll) and accept_sleeping repeat. Returns the
 * descriptor; -1 with errno EAGAIN when there is nothing (more) to take now.
 * On a listener made blocking (accept_sleeping) it sleeps in accept(). */
int accept_nonblocking(struct listener *l, struct peer *peer)
{
	struct sockaddr_storage ss;
	socklen_t len;

	for (;;) {
		len = sizeof ss;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		             SOCK_CLOEXEC | (l->nonblocking_clients ? SOCK_NONBLOCK : 0));
		if (fd >= 0) {
			peer_format(peer, (struct sockaddr *)&ss, len);
			return fd;
		}
		if (!accept_recover(l, errno))
			return -1;
	}
}

int accept_or_signal(struct listener *l, struct signals *sig, struct peer *peer)
{
	struct pollfd pfd[2] = {{.fd = l->fd, .events = POLLIN}, {.fd = sig->fd, .events = POLLIN}};

	while (!stop_requested) {
		/* The signals are a descriptor like the listener (signals.h): a
		 * SIGTERM that arrives while clients keep the listener ready is seen
		 * on this very round, not when the connection storm ends. */
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll on the listening socket: %s", error_text(errno));
		}
		if (pfd[1].revents != 0) {
			unsigned found = signals_take(sig);

			if (found & SIGNALS_STOP)
				break;
			if (found & SIGNALS_CHILD)
				return ACCEPT_CHILD;
		}
		if (pfd[0].revents == 0)
			continue;
		int fd = accept_nonblocking(l, peer);
		if (fd >= 0)
			return fd;
	}
	return ACCEPT_STOP;
}

int accept_sleeping(struct listener *l, struct peer *peer)
{
	/* No poll first: the point is to sleep in accept() itself, where the
	 * kernel wakes one waiter per connection. accept_nonblocking gives up on EINTR
	 * once stop_requested is set, and on a descriptor closed under it. */
	while (!stop_requested) {
		int fd = accept_nonblocking(l, peer);
		if (fd >= 0)
			return fd;
		if (errno == EBADF || errno == ENOTSOCK)
			break; /* the listener was closed under us */
	}
	return -1;
}

/* Descriptors open in this process now, counted in /proc/self/fd (less the
 * one the count itself opens); -1 if that cannot be read. */
static long descriptors_open(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1;
}

void accept_fit_max_clients(struct server_opts *o, unsigned reserve)
{
	struct rlimit rl;
	long open_now = descriptors_open(), room;

	/* No limit, or none we can count against: nothing to fit. */
	if (open_now < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (rlim_t)LONG_MAX)
		return;
	/* Every admitted client holds one descriptor until it closes; what the
	 * server opens for itself later must still find a free slot. */
	room = (long)rl.rlim_cur - open_now - (long)reserve;
	if (room < 1)
		die("the descriptor limit (ulimit -n %ld) leaves no room for a client: the server "
		    "needs %ld of its own", (long)rl.rlim_cur, open_now + (long)reserve);
	if (room >= (long)o->max_clients)
		return;
	log_error("--max-clients lowered from %u to %ld: the descriptor limit (ulimit -n %ld) "
	          "less the server's own %ld descriptors",
	          o->max_clients, room, (long)rl.rlim_cur, open_now + (long)reserve);
	o->max_clients = (unsigned)room;
}
