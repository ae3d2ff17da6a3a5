/* window: see window.h. */
#include "window.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "load_worker.h" /* LOAD_DRAIN_SECONDS: the same grace as the stream load */

bool window_open(struct window *w, const struct load_opts *o, int epfd)
{
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	/* Left blocked afterwards: a second Ctrl-C must not kill the report. */
	if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0) {
		fprintf(stderr, "echo-client: sigprocmask: %s\n", strerror(errno));
		return false;
	}
	w->signal_fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (w->signal_fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, w->signal_fd, &ev) < 0) {
		fprintf(stderr, "echo-client: signalfd: %s\n", strerror(errno));
		return false;
	}
	w->start_ns = clock_now_ns();
	w->measure_from_ns = w->start_ns + (int64_t)(o->warmup_s * NS_PER_SEC);
	w->end_ns = w->measure_from_ns + (int64_t)(o->duration_s * NS_PER_SEC);
	w->closed = false;
	return true;
}

void window_close(struct window *w)
{
	if (w->signal_fd >= 0)
		close(w->signal_fd);
	w->signal_fd = -1;
}

void window_stop(struct window *w, int64_t now)
{
	struct signalfd_siginfo info;
	while (read(w->signal_fd, &info, sizeof info) == (ssize_t)sizeof info)
		; /* one stop is enough; drain the rest */
	if (now < w->end_ns)
		w->end_ns = now;
}

bool window_advance(struct window *w, int64_t now)
{
	if (w->closed || now < w->end_ns)
		return false;
	w->closed = true;
	w->drain_until_ns = now + LOAD_DRAIN_SECONDS * NS_PER_SEC;
	return true;
}

int window_wait_ms(const struct window *w, int64_t now, int cap_ms)
{
	int64_t deadline = w->closed ? w->drain_until_ns : w->end_ns;
	int64_t ms = (deadline - now + 999999) / 1000000;
	if (ms < 0)
		return 0;
	return ms > cap_ms ? cap_ms : (int)ms;
}

double window_measured_s(const struct window *w, int64_t finished_ns)
{
	int64_t end = w->end_ns < finished_ns ? w->end_ns : finished_ns;
	return end > w->measure_from_ns ? (double)(end - w->measure_from_ns) / NS_PER_SEC : 0.0;
}
