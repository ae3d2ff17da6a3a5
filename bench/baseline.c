/* echo-baseline: a labelled CEILING for the benchmarks, not a server model.
 *
 * The smallest epoll loop that echoes every byte it reads: no framing, no limits,
 * no idle timeout, no logging. Real models pay for those; this shows what kernel
 * and loopback cost alone, so "model X reaches 80% of baseline" means something.
 * Level-triggered, one read per readiness: a ping-pong client costs epoll_wait +
 * read + write per message; edge-triggered would need a read until EAGAIN (one
 * more, failing, per message) and a ready list of our own for fairness. Bytes the
 * socket refuses are set aside and the connection waits for EPOLLOUT *instead of*
 * EPOLLIN, so a client that does not read cannot make us buffer without bound.
 * messages=0 in the summary: counting LFs would touch every byte, the very cost a
 * ceiling leaves out. The load client counts messages itself.
 */
#include <err.h>
#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn { int fd; char *owed; size_t off, len; }; /* owed: echo not yet sent */

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }
static unsigned long long n_conns, n_bytes;
static char buf[64 * 1024]; /* shared: each read is echoed before the next one */

static int watch(int ep, int op, struct conn *c, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	return epoll_ctl(ep, op, c->fd, &ev);
}

/* One readiness event: pay off what is owed, or else read and echo; -1: drop it.
 * A non-blocking send takes what fits and returns, so a short count means "buffer
 * full": no retry loop. No EINTR: our signals are blocked except in epoll_pwait. */
static int serve(int ep, struct conn *c)
{
	bool paying = c->owed != NULL; /* then we asked for EPOLLOUT, not EPOLLIN */
	ssize_t n = paying ? (ssize_t)(c->len - c->off) : read(c->fd, buf, sizeof buf);
	if (n <= 0)
		return n < 0 && errno == EAGAIN ? 0 : -1; /* 0: peer closed, owed nothing */
	ssize_t w = send(c->fd, paying ? c->owed + c->off : buf, (size_t)n, MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN)
		return -1; /* MSG_NOSIGNAL: a vanished peer is EPIPE here, not SIGPIPE */
	w = w < 0 ? 0 : w;
	n_bytes += (size_t)w;
	if (paying) {
		if ((c->off += (size_t)w) < c->len)
			return 0;
		free(c->owed), c->owed = NULL;
		return watch(ep, EPOLL_CTL_MOD, c, EPOLLIN);
	}
	if (w == n)
		return 0;
	c->len = (size_t)(n - w), c->off = 0; /* short write: park the rest aside */
	if (!(c->owed = malloc(c->len)))
		return -1;
	memcpy(c->owed, buf + w, c->len);
	return watch(ep, EPOLL_CTL_MOD, c, EPOLLOUT);
}

/* Takes every queued connection; an error (EAGAIN, or EMFILE) ends the batch.
 * After EMFILE the listener stays readable and we spin: fine for a ceiling. */
static void accept_all(int ep, int lfd)
{
	for (int fd; (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
		struct conn *c = calloc(1, sizeof *c);
		if (c && (c->fd = fd, watch(ep, EPOLL_CTL_ADD, c, EPOLLIN) == 0))
			n_conns++;
		else
			close(fd), free(c);
	}
}

/* Listens on host:port and prints the address the kernel chose, as the models do. */
static int listen_and_announce(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *ai;
	int one = 1, fd, gai = getaddrinfo(host, port, &hints, &ai);
	if (gai)
		errx(1, "%s: %s", host, gai_strerror(gai));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
		err(1, "listen on %s port %s", host, port);
	freeaddrinfo(ai);
	struct sockaddr_storage ss; /* port 0: the kernel picked; ask which */
	socklen_t len = sizeof ss;
	char name[NI_MAXHOST], serv[NI_MAXSERV];
	getsockname(fd, (struct sockaddr *)&ss, &len);
	getnameinfo((struct sockaddr *)&ss, len, name, sizeof name, serv, sizeof serv,
	            NI_NUMERICHOST | NI_NUMERICSERV);
	printf(ss.ss_family == AF_INET6 ? "listening on [%s]:%s\n" : "listening on %s:%s\n",
	       name, serv);
	fflush(stdout); /* whoever started us is waiting for this line on a pipe */
	return fd;
}

/* Our own peak resident set (VmHWM), as the models report it: ru_maxrss
 * would carry the peak of whatever process forked us before exec. */
static long own_peak_kb(long fallback)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = fallback;

	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *port = "0"; /* a ceiling has no business off-host */
	for (int i = 1; i < argc; i += 2) {
		const char **opt = !strcmp(argv[i], "--port") ? &port
		                 : !strcmp(argv[i], "--host") ? &host : NULL;
		if (!opt || i + 1 == argc)
			return fputs("usage: echo-baseline [--port N] [--host ADDR]\n", stderr), 2;
		*opt = argv[i + 1];
	}
	struct rlimit rl; /* one descriptor per client: allow as many as we are let */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
		rl.rlim_cur = rl.rlim_max, setrlimit(RLIMIT_NOFILE, &rl);
	/* SIGINT/TERM are blocked except inside epoll_pwait: no race with testing stop. */
	sigset_t block, during_wait;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL), sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block), sigaddset(&block, SIGINT), sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &during_wait);

	struct conn listener = { .fd = listen_and_announce(host, port) };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || watch(ep, EPOLL_CTL_ADD, &listener, EPOLLIN) < 0)
		err(1, "epoll");

	struct epoll_event evs[256];
	while (!stop) {
		int n = epoll_pwait(ep, evs, 256, -1, &during_wait);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == &listener)
				accept_all(ep, listener.fd);
			else if (serve(ep, c) < 0)
				close(c->fd), free(c->owed), free(c); /* close leaves the set */
		}
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr, "summary: model=baseline connections=%llu messages=0 bytes=%llu "
	        "user=%.3fs sys=%.3fs maxrss_kb=%ld\n", n_conns, n_bytes,
	        ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	        ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, own_peak_kb(ru.ru_maxrss));
	return 0;
}
