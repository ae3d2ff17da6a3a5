#include "mapped.h"

#include <sys/mman.h>

/* The mapping's length sits in front of the block: 16 bytes, so the block
 * keeps the 16-byte alignment malloc promises. */
#define HEADER 16

void *mapped_realloc(void *ptr, size_t size)
{
	char *block = ptr ? (char *)ptr - HEADER : NULL;
	size_t old = block ? *(size_t *)block : 0, len = size + HEADER;

	if (size == 0) {
		if (block != NULL)
			munmap(block, old);
		return NULL;
	}
	if (block == NULL)
		block = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else if (len > old || len < old / 2)
		block = mremap(block, old, len, MREMAP_MAYMOVE);
	else
		return ptr; /* fits, and shrinking by less than half is not worth a call */
	if (block == MAP_FAILED)
		return NULL;
	*(size_t *)block = len;
	return block + HEADER;
}
