/* window: see window.h. */
#include "window.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"

bool window_block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	/* Left blocked afterwards: a second Ctrl-C must not kill the report. */
	int err = pthread_sigmask(SIG_BLOCK, set, NULL);
	if (err != 0)
		fprintf(stderr, "echo-client: sigprocmask: %s\n", strerror(err));
	return err == 0;
}

bool window_open(struct window *w, const struct load_opts *o, int epfd)
{
	sigset_t stop;
	if (!window_block_stop_signals(&stop))
		return false;
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
	window_end_at(w, now);
}

void window_end_at(struct window *w, int64_t at)
{
	if (at < w->end_ns)
		w->end_ns = at;
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
