/* Unit tests for common/idle.c: the quietest connection is always at the head,
 * whatever order connections are touched in. */
#include <stdio.h>

#include "idle.h"

#include "check.h"

int main(void)
{
	struct idle_list list;
	struct idle_link a = {0}, b = {0}, c = {0};

	idle_init(&list, 0);
	idle_touch(&list, &a, 0);
	CHECK(idle_wait_ms(&list, 0) == -1, "timeout 0 never expires");
	CHECK(idle_first_expired(&list, 1000000) == NULL, "timeout 0 never expires");
	idle_remove(&a);

	idle_init(&list, 2);
	CHECK(idle_wait_ms(&list, 0) == -1, "an empty list has nothing to wait for");
	idle_touch(&list, &a, 0);
	idle_touch(&list, &b, 500);
	idle_touch(&list, &c, 900);
	CHECK(idle_wait_ms(&list, 1000) == 1000, "a expires 2000 ms after 0");
	idle_touch(&list, &a, 1000); /* a moves behind c */
	CHECK(idle_wait_ms(&list, 1000) == 1500, "b is now the quietest");
	CHECK(idle_first_expired(&list, 2499) == NULL, "b not expired before 2500");
	CHECK(idle_first_expired(&list, 2500) == &b, "b expires at 2500");
	idle_remove(&b);
	CHECK(idle_first_expired(&list, 2900) == &c, "then c");
	idle_remove(&c);
	idle_remove(&c); /* removing twice is harmless */
	CHECK(idle_first_expired(&list, 2900) == NULL, "a is not due until 3000");
	CHECK(idle_wait_ms(&list, 5000) == 0, "overdue means wait 0, never negative");
	idle_remove(&a);
	CHECK(idle_wait_ms(&list, 5000) == -1, "empty again");

	printf("test_idle: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
