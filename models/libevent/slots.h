/* slots: libevent's small allocations, packed outside malloc's heap.
 *
 * libevent keeps a record per descriptor it has ever watched (its evmap:
 * 20 bytes on epoll), made the first time the descriptor is watched and
 * kept until the base is freed. From malloc, these records land among the
 * connections of a wave of clients, about one per page (a connection with
 * its partial line fills a page), and once the wave is gone each pins the
 * page it sits on: 6.8 MB above the start after waves of 1,500 connections
 * (the waves case of tests/scale.bats), where epoll.c comes back within
 * 0.4 MB. Here every request of up to SLOTS_SIZE bytes gets a slot in one
 * mapping of its own, packed. The larger ones (the descriptor map, the
 * epoll_wait array: arrays that grow in the middle of a wave, on top of the
 * heap) each get a mapping of their own too, from mapped_realloc
 * (common/mapped.h); libevent makes a dozen or so, in all.
 *
 * The three functions are what event_set_mem_functions takes, and it takes
 * no context: the slots are the process's, as malloc's heap is.
 */
#ifndef ECHOLAB_SLOTS_H
#define ECHOLAB_SLOTS_H

#include <stddef.h>

#define SLOTS_SIZE 32 /* bytes: keeps malloc's 16-byte alignment */

void *slots_malloc(size_t size);
void *slots_realloc(void *ptr, size_t size);
void slots_free(void *ptr);

#endif
