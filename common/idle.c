#include "idle.h"

#include <stddef.h>

void idle_init(struct idle_list *l, unsigned timeout_seconds)
{
	l->head.prev = l->head.next = &l->head;
	l->timeout_ms = (int64_t)timeout_seconds * 1000;
}

void idle_remove(struct idle_link *c)
{
	if (c->next == NULL)
		return;
	c->prev->next = c->next;
	c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

void idle_touch(struct idle_list *l, struct idle_link *c, int64_t now_ms)
{
	c->last_active_ms = now_ms;
	idle_remove(c);
	c->prev = l->head.prev;
	c->next = &l->head;
	l->head.prev->next = c;
	l->head.prev = c;
}

int idle_wait_ms(const struct idle_list *l, int64_t now_ms)
{
	const struct idle_link *first = l->head.next;
	int64_t left;

	if (l->timeout_ms == 0 || first == &l->head)
		return -1;
	left = first->last_active_ms + l->timeout_ms - now_ms;
	if (left < 0)
		return 0;
	return left > 86400000 ? 86400000 : (int)left;
}

struct idle_link *idle_first_expired(const struct idle_list *l, int64_t now_ms)
{
	struct idle_link *first = l->head.next;

	if (l->timeout_ms == 0 || first == &l->head)
		return NULL;
	return now_ms - first->last_active_ms >= l->timeout_ms ? first : NULL;
}

struct idle_link *idle_first(const struct idle_list *l)
{
	return l->head.next == &l->head ? NULL : l->head.next;
}
