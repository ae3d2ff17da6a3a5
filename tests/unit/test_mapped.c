/* test_mapped: mapped_realloc keeps realloc's contract, and its blocks live
 * outside the heap (the point of it). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mapped.h"

int main(void)
{
	char *p = mapped_realloc(NULL, 100);

	CHECK(p != NULL, "allocates");
	CHECK(((uintptr_t)p & 15) == 0, "16-byte aligned: %p", (void *)p);
	memset(p, 'a', 100);
	/* grows across several pages, keeping the contents */
	p = mapped_realloc(p, 1 << 20);
	CHECK(p != NULL && memcmp(p, "aaaa", 4) == 0 && p[99] == 'a', "grown, contents kept");
	p[(1 << 20) - 1] = 'z';
	/* a small shrink keeps the block; a big one moves it, contents kept */
	CHECK(mapped_realloc(p, (1 << 20) - 4096) == p, "shrinking by a little keeps the block");
	p = mapped_realloc(p, 200);
	CHECK(p != NULL && p[0] == 'a' && p[99] == 'a', "shrunk, contents kept");
	/* not from the heap: above the program break */
	CHECK((char *)p > (char *)sbrk(0), "above the program break: not in the heap");
	CHECK(mapped_realloc(p, 0) == NULL, "size 0 frees");
	CHECK(mapped_realloc(NULL, 0) == NULL, "size 0 of nothing is nothing");

	printf("test_mapped: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
