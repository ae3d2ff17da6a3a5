/* idle: which connection has been quiet the longest, in O(1).
 *
 * Every connection shares one timeout length, so ordering them by last activity
 * is the same as ordering them by deadline: a connection that does something
 * moves to the tail, and the only one that can expire next is at the head. No
 * loop ever scans all its connections to find the idle ones. The list holds
 * every connection even without a timeout, so it is also how a loop finds
 * them all at shutdown.
 */
#ifndef ECHOLAB_IDLE_H
#define ECHOLAB_IDLE_H

#include <stdbool.h>
#include <stdint.h>

struct idle_link {
	struct idle_link *prev, *next;
	int64_t last_active_ms;
};

struct idle_list {
	struct idle_link head;   /* sentinel: head.next is the quietest connection */
	int64_t timeout_ms;      /* 0: connections never expire */
};

void idle_init(struct idle_list *l, unsigned timeout_seconds);
/* Marks activity now: (re)links the connection at the tail. */
void idle_touch(struct idle_list *l, struct idle_link *c, int64_t now_ms);
void idle_remove(struct idle_link *c);
/* Milliseconds until the quietest connection expires, for the loop's wait;
 * 0 when it is overdue, -1 when nothing can expire. */
int idle_wait_ms(const struct idle_list *l, int64_t now_ms);
/* The quietest connection if it has expired, else NULL. */
struct idle_link *idle_first_expired(const struct idle_list *l, int64_t now_ms);
/* The quietest connection, expired or not; NULL when the list is empty. */
struct idle_link *idle_first(const struct idle_list *l);

#endif
