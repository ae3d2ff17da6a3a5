#include "accept_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "signals.h"

static const char *const names[] = {
	[ACCEPT_LOCK_NONE] = "none",
	[ACCEPT_LOCK_FCNTL] = "fcntl",
	[ACCEPT_LOCK_MUTEX] = "mutex",
};

const char *accept_lock_name(enum accept_lock_kind kind)
{
	return names[kind];
}

enum accept_lock_kind accept_lock_from_env(void)
{
	const char *value = getenv(ACCEPT_LOCK_ENV);

	if (value == NULL || value[0] == '\0')
		return ACCEPT_LOCK_NONE;
	for (unsigned k = 0; k < sizeof names / sizeof names[0]; k++)
		if (strcmp(value, names[k]) == 0)
			return (enum accept_lock_kind)k;
	log_error("%s: unknown value '%s' (none, fcntl or mutex)", ACCEPT_LOCK_ENV, value);
	exit(2);
}

static void mutex_init(struct accept_lock *l)
{
	pthread_mutexattr_t attr;

	/* The mutex must live in memory the children share after fork(): an
	 * anonymous MAP_SHARED page, as UNP's my_lock_init does with /dev/zero. */
	l->mutex = mmap(NULL, sizeof(pthread_mutex_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	                -1, 0);
	if (l->mutex == MAP_FAILED)
		die("mmap: cannot allocate the accept mutex");
	if (pthread_mutexattr_init(&attr) != 0 ||
	    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(l->mutex, &attr) != 0)
		die("cannot create a robust process-shared mutex");
	pthread_mutexattr_destroy(&attr);
}

void accept_lock_init(struct accept_lock *l, enum accept_lock_kind kind)
{
	*l = (struct accept_lock){.kind = kind, .fd = -1, .mutex = NULL};
	if (kind == ACCEPT_LOCK_FCNTL) {
		/* Any file we can write will do; a memfd leaves nothing behind in
		 * the file system (UNP uses mkstemp and unlink for the same end). */
		l->fd = memfd_create("echolab-accept-lock", MFD_CLOEXEC);
		if (l->fd < 0)
			die("memfd_create: cannot create the accept lock file: %s", error_text(errno));
	} else if (kind == ACCEPT_LOCK_MUTEX) {
		mutex_init(l);
	}
}

/* F_SETLKW sleeps until the lock is ours; a signal interrupts it (EINTR),
 * which is how a waiting child hears SIGTERM. The lock belongs to this
 * process, so the kernel releases it if we die. */
static bool fcntl_lock(int fd, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};

	while (fcntl(fd, type == F_UNLCK ? F_SETLK : F_SETLKW, &fl) < 0) {
		if (errno != EINTR)
			die("fcntl: the accept lock: %s", error_text(errno));
		if (stop_requested)
			return false;
	}
	return true;
}

/* pthread_mutex_lock is not interrupted by signals (it goes back to sleep
 * after the handler). A child waiting here at shutdown gets its turn once
 * the holder, interrupted in accept(), gives the mutex back; it then sees
 * stop_requested and passes the mutex on. */
static void mutex_lock(pthread_mutex_t *m)
{
	int err = pthread_mutex_lock(m);

	if (err == EOWNERDEAD) {
		/* The previous holder died holding it. We hold it now; all it
		 * protected was "one child in accept()", which needs no repair. */
		log_error("accept lock: its holder died holding it; recovered");
		err = pthread_mutex_consistent(m);
	}
	if (err != 0)
		die("the accept mutex: %s", error_text(err));
}

bool accept_lock_take(struct accept_lock *l)
{
	switch (l->kind) {
	case ACCEPT_LOCK_NONE:
		return !stop_requested;
	case ACCEPT_LOCK_FCNTL:
		if (!fcntl_lock(l->fd, F_WRLCK))
			return false;
		break;
	case ACCEPT_LOCK_MUTEX:
		mutex_lock(l->mutex);
		break;
	}
	if (stop_requested) {
		accept_lock_give(l);
		return false;
	}
	return true;
}

void accept_lock_give(struct accept_lock *l)
{
	if (l->kind == ACCEPT_LOCK_FCNTL)
		fcntl_lock(l->fd, F_UNLCK);
	else if (l->kind == ACCEPT_LOCK_MUTEX)
		pthread_mutex_unlock(l->mutex);
}

void accept_lock_destroy(struct accept_lock *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->mutex != NULL) {
		pthread_mutex_destroy(l->mutex);
		munmap(l->mutex, sizeof(pthread_mutex_t));
	}
}
