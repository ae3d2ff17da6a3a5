/* epoll.h: the epoll model's loop, for the models that run it more than once. */
#ifndef ECHOLAB_EPOLL_H
#define ECHOLAB_EPOLL_H

#include <pthread.h>

#include "loop.h"

/* Serves the loop's clients with one epoll instance, which also watches the
 * server's signalfd, until a stop is requested: those it accepts from
 * loop->listener (epoll, reuseport), or those it is handed through
 * loop->intake (acceptor); closes every connection of
 * the loop before returning. With `ready` not NULL, waits at that barrier
 * once the epoll instance is open, before the first wait. */
void epoll_serve(struct loop *loop, pthread_barrier_t *ready);

#endif
