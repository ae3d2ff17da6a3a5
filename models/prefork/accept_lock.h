/* accept_lock: how the processes of a pool take turns at accept() (UNP
 * §30.6-30.8), chosen with ECHOLAB_ACCEPT_LOCK=none|fcntl|mutex.
 *
 *   none   every idle child blocks in accept() on the shared listening
 *          socket. Linux queues them as exclusive waiters and wakes one per
 *          connection, so there is no thundering herd (there is one for
 *          select/poll/epoll on a shared listener: every waiter is woken).
 *   fcntl  a POSIX record lock (F_SETLKW) on a file around accept(): one child
 *          is in accept(), the others sleep in fcntl(). The kernel drops a
 *          dead holder's lock by itself.
 *   mutex  a pthread mutex in a MAP_SHARED page (PTHREAD_PROCESS_SHARED),
 *          robust: if its holder dies, the next locker gets EOWNERDEAD, marks
 *          it consistent and carries on, so a child killed with SIGKILL while
 *          holding it cannot freeze the pool.
 *
 * The lock is created before the children are forked; they inherit it.
 */
#ifndef ECHOLAB_ACCEPT_LOCK_H
#define ECHOLAB_ACCEPT_LOCK_H

#include <pthread.h>
#include <stdbool.h>

enum accept_lock_kind { ACCEPT_LOCK_NONE, ACCEPT_LOCK_FCNTL, ACCEPT_LOCK_MUTEX };

struct accept_lock {
	enum accept_lock_kind kind;
	int fd;                 /* fcntl: the file whose lock is taken (a memfd) */
	pthread_mutex_t *mutex; /* mutex: in a page shared with the children */
};

#define ACCEPT_LOCK_ENV "ECHOLAB_ACCEPT_LOCK"

/* The kind ECHOLAB_ACCEPT_LOCK names (none when unset or empty). An unknown
 * value: a message naming it and the accepted ones, exit 2. */
enum accept_lock_kind accept_lock_from_env(void);
const char *accept_lock_name(enum accept_lock_kind kind);

/* Creates the lock; exits 1 if it cannot. */
void accept_lock_init(struct accept_lock *l, enum accept_lock_kind kind);
/* Waits for this process's turn. Returns false, not holding the lock, once a
 * stop is requested. */
bool accept_lock_take(struct accept_lock *l);
void accept_lock_give(struct accept_lock *l);
void accept_lock_destroy(struct accept_lock *l);

#endif
