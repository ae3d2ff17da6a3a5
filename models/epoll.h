/* epoll.h: the epoll model's loop, for the models that run it more than once. */
#ifndef ECHOLAB_EPOLL_H
#define ECHOLAB_EPOLL_H

#include "loop.h"

/* Serves loop->listener with one epoll instance, which also watches the
 * server's signalfd, until a stop is requested; closes every connection of
 * the loop before returning. */
void epoll_serve(struct loop *loop);

#endif
