/* schedule: see schedule.h. */
#include "schedule.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"

/* Shortest gap between two wake-ups of the timer: above ~50,000 messages a
 * second per thread each wake-up releases several messages (their latency
 * still counts from when each was due), rather than the client spinning on
 * its timer and measuring itself. */
#define MIN_TIMER_GAP_NS 20000

static uint64_t id_of(const struct schedule *s, size_t local)
{
	return s->first + (uint64_t)local * s->stride;
}

/* The run's last message due by `at` (at >= start). */
static uint64_t last_due(const struct schedule *s, int64_t at)
{
	return (uint64_t)((double)(at - s->start_ns) / s->ns_per_message);
}

/* Past this thread's last connection, the cursor goes on with the first
 * one's next message. */
static void wrap_cursor(struct schedule *s)
{
	if (s->next == s->count) {
		s->next = 0;
		s->round++;
	}
	s->next_due_ns = schedule_due_ns(s, id_of(s, s->next), s->round);
}

bool schedule_open(struct schedule *s, int64_t start_ns, unsigned long rate,
                   uint64_t connections, uint64_t first, uint64_t stride, size_t count)
{
	*s = (struct schedule){
		.start_ns = start_ns, .ns_per_message = (double)NS_PER_SEC / (double)rate,
		.connections = connections, .first = first, .stride = stride, .count = count,
		.timer_armed_for = -1,
	};
	wrap_cursor(s);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return s->timer_fd >= 0;
}

void schedule_close(struct schedule *s)
{
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	s->timer_fd = -1;
}

int64_t schedule_due_ns(const struct schedule *s, uint64_t id, uint64_t seq)
{
	uint64_t k = seq * s->connections + id;
	return s->start_ns + (int64_t)((double)k * s->ns_per_message);
}

uint64_t schedule_due_by(const struct schedule *s, uint64_t id, int64_t at)
{
	if (at < s->start_ns)
		return 0;
	uint64_t last = last_due(s, at);
	return last >= id ? (last - id) / s->connections + 1 : 0;
}

/* Walking the cursor message by message would cost O(messages due), and at
 * a huge --rate the client would spend its time counting instead of
 * sending. The cursor jumps instead, straight past the last message due. */
bool schedule_catch_up(struct schedule *s, int64_t now)
{
	uint64_t n = s->connections;
	if (now < s->start_ns)
		return false;
	uint64_t last = last_due(s, now);
	if (last < s->round * n + id_of(s, s->next) + n)
		return false; /* less than a round behind: the cursor walk is as cheap */
	/* The cursor: the first of our connections after `last` in its round. */
	s->round = last / n;
	s->next = 0;
	while (s->next < s->count && id_of(s, s->next) <= last % n)
		s->next++;
	wrap_cursor(s);
	return true;
}

bool schedule_take_due(struct schedule *s, int64_t now, size_t *local)
{
	if (s->next_due_ns > now)
		return false;
	*local = s->next++;
	wrap_cursor(s);
	return true;
}

bool schedule_arm(struct schedule *s, int64_t now)
{
	int64_t at = s->next_due_ns;

	if (at < now + MIN_TIMER_GAP_NS)
		at = now + MIN_TIMER_GAP_NS;
	if (s->timer_armed_for > now && s->timer_armed_for <= at)
		return true; /* already set to wake us in time */
	/* The timer is never read: each expiry is a fresh edge for the thread's
	 * edge-triggered epoll, and re-arming it resets its count. */
	struct itimerspec when = {
		.it_value = { .tv_sec = at / NS_PER_SEC, .tv_nsec = at % NS_PER_SEC },
	};
	if (timerfd_settime(s->timer_fd, TFD_TIMER_ABSTIME, &when, NULL) < 0)
		return false;
	s->timer_armed_for = at;
	return true;
}

int64_t schedule_lateness(const struct schedule *s, uint64_t id, uint64_t written, int64_t end)
{
	if (end <= s->start_ns || written >= schedule_due_by(s, id, end))
		return 0;
	return end - schedule_due_ns(s, id, written);
}

uint64_t schedule_due_in(unsigned long rate, double seconds)
{
	return (uint64_t)((double)rate * seconds);
}
