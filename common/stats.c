#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "log.h"

struct echo_stats *stats_create(bool shared_with_children)
{
	/* An anonymous shared mapping survives fork() as the same memory in parent
	 * and children, which is all the fork model needs to add up its counts. */
	void *p = mmap(NULL, sizeof(struct echo_stats), PROT_READ | PROT_WRITE,
	               (shared_with_children ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap: cannot allocate the statistics page");
	return p; /* mmap'd memory is zeroed: every counter starts at 0 */
}

void stats_destroy(struct echo_stats *st)
{
	munmap(st, sizeof *st);
}

void stats_add(atomic_ullong *counter, unsigned long long n)
{
	/* Relaxed: the counters are read once, after every writer is finished. */
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static double seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void stats_print_summary(const struct echo_stats *st, const char *model)
{
	struct rusage self, children;

	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	/* Children's CPU counts too, as in Stevens' servers: for the fork model
	 * that is where the work happens. Peak memory is the larger of the two:
	 * the kernel keeps only the largest child's, not a sum. */
	log_msg("summary: model=%s connections=%llu refused=%llu messages=%llu bytes=%llu "
	        "user=%.3fs sys=%.3fs maxrss_kb=%ld",
	        model, (unsigned long long)atomic_load(&st->connections),
	        (unsigned long long)atomic_load(&st->refused),
	        (unsigned long long)atomic_load(&st->messages),
	        (unsigned long long)atomic_load(&st->bytes),
	        seconds(self.ru_utime) + seconds(children.ru_utime),
	        seconds(self.ru_stime) + seconds(children.ru_stime),
	        self.ru_maxrss > children.ru_maxrss ? self.ru_maxrss : children.ru_maxrss);
}
