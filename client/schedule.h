/* schedule: the open-loop timetable (--rate N), one per load thread.
 *
 * Message k of the run is due at start + k/N seconds and belongs to
 * connection k mod connections, so message `seq` of connection `id` is
 * message seq * connections + id: every due time is one multiplication, and
 * how many of a connection's messages are due by a time is one division.
 * Nothing about the schedule is stored per message.
 *
 * A thread owns the connections first, first + stride, ... (first its index,
 * stride the thread count); their due times come round in that order every
 * round, so the next message due on the thread is always at a cursor that
 * walks its connections. A timerfd wakes the thread when it is due.
 *
 * The report's verdict on the schedule lives here too: how many messages a
 * window made due, and whether the echoes kept up with them.
 */
#ifndef ECHOLAB_CLIENT_SCHEDULE_H
#define ECHOLAB_CLIENT_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct schedule {
	int64_t start_ns;        /* message 0 is due then */
	double ns_per_message;   /* 1/rate */
	uint64_t connections;    /* of the whole run */
	uint64_t first, stride;  /* this thread's connections: first + i * stride */
	size_t count;            /* ... for i < count */
	/* The cursor: the next message due on this thread is message `round` of
	 * this thread's connection `next`, at next_due_ns. */
	uint64_t round;
	size_t next;
	int64_t next_due_ns;
	int timer_fd;            /* wakes the thread at next_due_ns */
	int64_t timer_armed_for;
};

/* Sets the schedule up for one thread's connections and creates its timer.
 * False, errno set, if timerfd_create fails (timer_fd is -1 then). */
bool schedule_open(struct schedule *s, int64_t start_ns, unsigned long rate,
                   uint64_t connections, uint64_t first, uint64_t stride, size_t count);
void schedule_close(struct schedule *s);

/* When message `seq` of connection `id` is due. */
int64_t schedule_due_ns(const struct schedule *s, uint64_t id, uint64_t seq);

/* How many of connection id's messages are due by `at` (0 before the start). */
uint64_t schedule_due_by(const struct schedule *s, uint64_t id, int64_t at);

/* A round or more fell due since the cursor (a stall, or a rate faster than the
 * thread can wake)? Then moves the cursor past `now` in one step and returns
 * true: the caller releases schedule_due_by(now) messages to each connection. */
bool schedule_catch_up(struct schedule *s, int64_t now);

/* The cursor's message is due by `now`? Then gives its connection (index
 * among this thread's), moves the cursor on one message and returns true. */
bool schedule_take_due(struct schedule *s, int64_t now, size_t *local);

/* Sets the timer to wake the thread when the cursor's message is due (no
 * sooner than a short gap from now). False, errno set, if timerfd_settime fails. */
bool schedule_arm(struct schedule *s, int64_t now);

/* How long, at `end`, connection id's oldest message due by then had been
 * waiting to be written, its first `written` messages being written; 0 if
 * none was waiting. */
int64_t schedule_lateness(const struct schedule *s, uint64_t id, uint64_t written, int64_t end);

/* Messages a rate makes due in a window of that many seconds. */
uint64_t schedule_due_in(unsigned long rate, double seconds);

/* The open-loop schedule counts as kept when the echoes completed in the
 * window are at least this share of the messages it made due there. Below
 * it the rate measured is what the client and server managed together, not
 * the rate asked, and the report says so. */
#define SCHEDULE_KEPT_SHARE 0.9

static inline bool schedule_kept(uint64_t echoes, uint64_t scheduled)
{
	return (double)echoes >= SCHEDULE_KEPT_SHARE * (double)scheduled;
}

#endif
