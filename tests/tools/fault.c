/* fault.so: an LD_PRELOAD shim that makes one chosen library call fail, so
 * that the tests can run the error paths no healthy machine takes.
 *
 *   LD_PRELOAD=build/tests/fault.so ECHOLAB_FAULT=SPEC[,SPEC...] PROGRAM...
 *
 * SPEC is CALL[:KEY=VALUE...]:
 *   CALL      accept4, epoll_ctl, malloc, send (send, sendmsg, and write
 *             and writev on a client's socket: libuv writes with those),
 *             io_uring_submit (io_uring_submit and
 *             io_uring_submit_and_wait_timeout), or sigpipe (see below)
 *   nth=N     the Nth matching call fails (default 1), once ...
 *   every=K   ... or every Kth matching call from the Nth on
 *   run=R     and the R-1 calls after each of those as well (default 1): a
 *             retry that fails again, say the wait for writability after
 *             an EAGAIN
 *   errno=E   the error: ENOMEM, ENOBUFS, EMFILE, EAGAIN, EBUSY, EINTR,
 *             ENOSPC (default: ENOMEM; EAGAIN for send)
 *   op=ADD    epoll_ctl: only this operation counts (ADD, MOD or DEL)
 *   min=BYTES malloc: only requests of at least BYTES count
 * Only calls about a client's connection count for epoll_ctl and send (a
 * connected socket, not the listener, the signals or an eventfd), and for
 * send only on a non-blocking socket, where EAGAIN is what the kernel could
 * answer at any moment. io_uring_get_sqe cannot be made to fail: liburing
 * defines it inline in the program itself, so the submission is the call
 * taken here. A failed io_uring submission returns -ERRNO and submits nothing.
 *
 * sigpipe: the program's request to ignore SIGPIPE is answered "done" but not
 * carried out, so that a send without MSG_NOSIGNAL to a vanished client kills
 * it, as it would in a program that does not ignore SIGPIPE.
 *
 * The counters live in memory shared with forked children, so "the Nth
 * accept4" means the Nth of the whole server, whichever process made it.
 * Every injected failure is said on standard error, one line:
 *   fault: CALL call N fails with ERRNO
 *
 * Built without the sanitizers, whatever SANITIZE says (a preloaded library
 * must not need their runtime); under ASan run the program with
 * ASAN_OPTIONS=verify_asan_link_order=0, since this library comes first. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct io_uring;
struct io_uring_cqe;
struct __kernel_timespec;

enum call { C_ACCEPT4, C_EPOLL_CTL, C_MALLOC, C_SEND, C_URING_SUBMIT, C_SIGPIPE, C_CALLS };

static const char *const call_names[C_CALLS] = {"accept4", "epoll_ctl", "malloc",
                                                "send", "io_uring_submit", "sigpipe"};

struct fault {
	bool on;
	long nth, every, run, min_size;
	int err, op;
	atomic_long *count; /* shared with forked children */
};

static struct fault faults[C_CALLS];
static atomic_int ready; /* 0 not parsed yet, 1 parsing, 2 parsed */

static const struct {
	const char *name;
	int value;
} errnos[] = {{"ENOMEM", ENOMEM}, {"ENOBUFS", ENOBUFS}, {"EMFILE", EMFILE}, {"EAGAIN", EAGAIN},
              {"EBUSY", EBUSY},   {"EINTR", EINTR},     {"ENOSPC", ENOSPC}};

static void say(const char *fmt, ...)
{
	char line[200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere else to say it */
	}
}

static _Noreturn void bad_spec(const char *spec, const char *why)
{
	say("fault.so: ECHOLAB_FAULT: %s: %s", spec, why);
	_exit(2);
}

static const char *errno_name(int e)
{
	for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
		if (errnos[i].value == e)
			return errnos[i].name;
	return "?";
}

static void parse_key(struct fault *f, const char *spec, const char *key)
{
	const char *eq = strchr(key, '=');
	char *end;
	long v;

	if (eq == NULL)
		bad_spec(spec, "KEY=VALUE expected after the call");
	if (strncmp(key, "errno=", 6) == 0) {
		for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
			if (strcmp(eq + 1, errnos[i].name) == 0)
				f->err = errnos[i].value;
		if (f->err == 0)
			bad_spec(spec, "unknown errno");
		return;
	}
	if (strncmp(key, "op=", 3) == 0) {
		if (strcmp(eq + 1, "ADD") == 0)
			f->op = EPOLL_CTL_ADD;
		else if (strcmp(eq + 1, "MOD") == 0)
			f->op = EPOLL_CTL_MOD;
		else if (strcmp(eq + 1, "DEL") == 0)
			f->op = EPOLL_CTL_DEL;
		else
			bad_spec(spec, "op is ADD, MOD or DEL");
		return;
	}
	v = strtol(eq + 1, &end, 10);
	if (*end != '\0' || v < 1)
		bad_spec(spec, "a positive number expected");
	if (strncmp(key, "nth=", 4) == 0)
		f->nth = v;
	else if (strncmp(key, "every=", 6) == 0)
		f->every = v;
	else if (strncmp(key, "run=", 4) == 0)
		f->run = v;
	else if (strncmp(key, "min=", 4) == 0)
		f->min_size = v;
	else
		bad_spec(spec, "unknown key (nth, every, run, errno, op, min)");
}

static void parse_spec(char *spec, atomic_long *counts)
{
	char *save = NULL, *word = strtok_r(spec, ":", &save);
	int c;

	for (c = 0; c < C_CALLS; c++)
		if (word != NULL && strcmp(word, call_names[c]) == 0)
			break;
	if (c == C_CALLS)
		bad_spec(spec, "unknown call");
	faults[c] = (struct fault){.on = true, .nth = 1, .run = 1, .op = -1, .count = &counts[c],
	                           .err = c == C_SEND ? EAGAIN : ENOMEM};
	while ((word = strtok_r(NULL, ":", &save)) != NULL)
		parse_key(&faults[c], spec, word);
}

/* Parsed once, by whichever call comes first (the constructor, usually). */
static void setup(void)
{
	int expected = 0;
	const char *env;
	char copy[512], *save = NULL, *spec;
	atomic_long *counts;

	if (!atomic_compare_exchange_strong(&ready, &expected, 1))
		return;
	env = getenv("ECHOLAB_FAULT");
	if (env != NULL && *env != '\0') {
		counts = mmap(NULL, sizeof(atomic_long) * C_CALLS, PROT_READ | PROT_WRITE,
		              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (counts == MAP_FAILED)
			bad_spec(env, "mmap failed");
		snprintf(copy, sizeof copy, "%s", env);
		for (spec = strtok_r(copy, ",", &save); spec != NULL; spec = strtok_r(NULL, ",", &save))
			parse_spec(spec, counts);
	}
	atomic_store(&ready, 2);
}

__attribute__((constructor)) static void fault_init(void)
{
	setup();
}

/* Counts a matching call; true if this one must fail (errno set). */
static bool fails(enum call c)
{
	struct fault *f = &faults[c];
	long n;

	if (atomic_load(&ready) != 2 || !f->on)
		return false;
	n = atomic_fetch_add(f->count, 1) + 1;
	if (n < f->nth)
		return false;
	if ((f->every == 0 ? n - f->nth : (n - f->nth) % f->every) >= f->run)
		return false;
	say("fault: %s call %ld fails with %s", call_names[c], n, errno_name(f->err));
	errno = f->err;
	return true;
}

/* A connected socket: the connections of clients, not a listener or any
 * other descriptor (an epoll set, a signalfd, an eventfd). */
static bool is_client_socket(int fd)
{
	int listening = 0, type = 0;
	socklen_t len = sizeof listening, tlen = sizeof type;

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM &&
	       getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && !listening;
}

/* The next definition of the function being defined: libc's, or the
 * sanitizer's interceptor in front of it. */
#define REAL(fn) \
	static __typeof__(&fn) real; \
	if (real == NULL) \
		*(void **)&real = dlsym(RTLD_NEXT, #fn)

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	REAL(accept4);
	if (fails(C_ACCEPT4))
		return -1;
	return real(fd, addr, len, flags);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	REAL(epoll_ctl);
	if ((faults[C_EPOLL_CTL].op < 0 || faults[C_EPOLL_CTL].op == op) && is_client_socket(fd) &&
	    fails(C_EPOLL_CTL))
		return -1;
	return real(epfd, op, fd, ev);
}

/* A sanitizer's runtime allocates while it starts, from inside dlsym, where
 * a dlsym of ours would find nothing: its malloc is taken by name instead
 * (weak: absent, and NULL, in a program without one). */
extern void *__interceptor_malloc(size_t size) __attribute__((weak));

void *malloc(size_t size)
{
	static void *(*real)(size_t);

	if (real == NULL && __interceptor_malloc != NULL)
		real = __interceptor_malloc;
	if (real == NULL) {
		/* dlsym itself may allocate: that one gets no memory, and dlsym
		 * copes (it only caches an error text). */
		static _Thread_local bool resolving;
		if (resolving)
			return NULL;
		resolving = true;
		*(void **)&real = dlsym(RTLD_NEXT, "malloc");
		resolving = false;
	}
	if (faults[C_MALLOC].on && size >= (size_t)faults[C_MALLOC].min_size && fails(C_MALLOC))
		return NULL;
	return real(size);
}

static bool send_fails(int fd)
{
	int fl;

	if (!faults[C_SEND].on)
		return false;
	fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK) && is_client_socket(fd) && fails(C_SEND);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	REAL(send);
	if (send_fails(fd))
		return -1;
	return real(fd, buf, len, flags);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	REAL(sendmsg);
	if (send_fails(fd))
		return -1;
	return real(fd, msg, flags);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	if (send_fails(fd))
		return -1;
	return real(fd, buf, len);
}

ssize_t writev(int fd, const struct iovec *iov, int count)
{
	REAL(writev);
	if (send_fails(fd))
		return -1;
	return real(fd, iov, count);
}

int io_uring_submit(struct io_uring *ring)
{
	REAL(io_uring_submit);
	if (fails(C_URING_SUBMIT))
		return -errno;
	return real(ring);
}

int io_uring_submit_and_wait_timeout(struct io_uring *ring, struct io_uring_cqe **cqe,
                                     unsigned wait_nr, struct __kernel_timespec *ts,
                                     sigset_t *sigmask)
{
	REAL(io_uring_submit_and_wait_timeout);
	if (fails(C_URING_SUBMIT))
		return -errno;
	return real(ring, cqe, wait_nr, ts, sigmask);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	REAL(sigaction);
	if (sig == SIGPIPE && act != NULL && act->sa_handler == SIG_IGN && faults[C_SIGPIPE].on) {
		say("fault: sigpipe: SIGPIPE left at its default action");
		return real(sig, NULL, old);
	}
	return real(sig, act, old);
}
