#include "slots.h"

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "mapped.h"

/* Address space, not memory: a page is used only once a slot on it is (8 M
 * slots, far more descriptors than a process may open). */
#define RESERVED ((size_t)256 << 20)

static struct {
	char *base, *next; /* the mapping; the first slot never handed out */
	void *freed;       /* slots given back, each holding the next one's address */
} pool;

static bool owned(const void *p)
{
	return pool.base != NULL && (const char *)p >= pool.base &&
	       (const char *)p < pool.base + RESERVED;
}

void *slots_malloc(size_t size)
{
	void *p;

	if (size > SLOTS_SIZE)
		return mapped_realloc(NULL, size);
	if (pool.freed != NULL) {
		p = pool.freed;
		pool.freed = *(void **)p;
		return p;
	}
	if (pool.base == NULL) {
		p = mmap(NULL, RESERVED, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return mapped_realloc(NULL, size);
		pool.base = pool.next = p;
	}
	if (pool.next == pool.base + RESERVED)
		return mapped_realloc(NULL, size); /* every slot is taken: a page of its own */
	p = pool.next;
	pool.next += SLOTS_SIZE;
	return p;
}

void slots_free(void *ptr)
{
	if (!owned(ptr)) {
		mapped_realloc(ptr, 0);
		return;
	}
	*(void **)ptr = pool.freed;
	pool.freed = ptr;
}

void *slots_realloc(void *ptr, size_t size)
{
	void *p;

	if (ptr == NULL)
		return slots_malloc(size);
	if (!owned(ptr))
		return mapped_realloc(ptr, size);
	if (size <= SLOTS_SIZE)
		return ptr;
	if ((p = mapped_realloc(NULL, size)) == NULL)
		return NULL;
	memcpy(p, ptr, SLOTS_SIZE);
	slots_free(ptr);
	return p;
}
