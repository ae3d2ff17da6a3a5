/* mapped: memory outside malloc's heap, for arrays that only ever grow.
 *
 * An array that grows with the busiest moment so far and is never shrunk
 * (libev's per-descriptor watcher lists, its pending events; libevent's
 * descriptor map and its epoll_wait array) is reallocated
 * in the middle of a burst, when malloc places it at the top of the heap,
 * above everything the burst allocated. A heap gives memory back only from
 * its top, so once the burst is over every freed page below the array stays
 * resident: free, not leaked, and never returned. Given its own mapping
 * instead (mmap, mremap to grow), such an array pins nothing.
 *
 * Each block costs at least a page; use it for a few large arrays, never for
 * many small objects.
 */
#ifndef ECHOLAB_MAPPED_H
#define ECHOLAB_MAPPED_H

#include <stddef.h>

/* realloc's contract: ptr NULL allocates, size 0 frees (and returns NULL),
 * else the block is resized keeping its contents. NULL when out of memory
 * (the old block is then left as it was). */
void *mapped_realloc(void *ptr, size_t size);

#endif
