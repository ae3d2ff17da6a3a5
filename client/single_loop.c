/* single_loop: see single_loop.h. */
#include "single_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "report.h"

#define MAX_EVENTS 64

bool single_loop_open(struct single_loop *s, const struct load_opts *o, const char *unit)
{
	*s = (struct single_loop){ .o = o, .epfd = -1, .win = { .signal_fd = -1 } };
	if (!payload_init(&s->payload, o->size)) {
		fprintf(stderr, "echo-client: out of memory for %zu-byte %s\n", o->size, unit);
		return false;
	}
	s->result = calloc(1, sizeof *s->result);
	if (!s->result) {
		fprintf(stderr, "echo-client: out of memory\n");
		return false;
	}
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		fprintf(stderr, "echo-client: epoll_create1: %s\n", strerror(errno));
		return false;
	}
	return true;
}

static void loop(struct single_loop *s, const struct single_loop_mode *mode)
{
	struct epoll_event events[MAX_EVENTS];
	int64_t now = clock_now_ns();
	for (unsigned long i = 0; i < s->o->connections; i++)
		mode->start(mode->ctx, i, now);
	for (;;) {
		window_advance(&s->win, now);
		if (!mode->go_on(mode->ctx, now))
			break;
		int n = epoll_wait(s->epfd, events, MAX_EVENTS,
		                   window_wait_ms(&s->win, now, mode->max_wait_ms));
		if (n < 0 && errno != EINTR) {
			load_errors_add(&s->errors, "epoll_wait: %s", strerror(errno));
			break;
		}
		now = clock_now_ns();
		for (int i = 0; i < n; i++) {
			if (!events[i].data.ptr)
				window_stop(&s->win, now);
			else
				mode->on_event(mode->ctx, events[i].data.ptr, events[i].events);
		}
	}
	s->result->duration_s = window_measured_s(&s->win, now);
}

int single_loop_run(struct single_loop *s, const struct single_loop_mode *mode)
{
	if (!window_open(&s->win, s->o, s->epfd))
		return 1;
	loop(s, mode);
	if (mode->at_end)
		mode->at_end(mode->ctx);
	load_result_errors(s->result, &s->errors);
	report_print(s->o, s->result);
	return s->result->errors ? 1 : 0;
}

void single_loop_close(struct single_loop *s)
{
	window_close(&s->win);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s->result);
	payload_destroy(&s->payload);
}
