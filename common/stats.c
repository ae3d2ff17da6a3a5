#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "log.h"

/* Zeroed memory, shared with forked children or private. An anonymous shared
 * mapping survives fork() as the same memory in parent and children, which is
 * all the fork models need to add up their counts. */
static void *counter_pages(size_t size, bool shared)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
	               (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap: cannot allocate the statistics pages");
	return p; /* mmap'd memory is zeroed: every counter starts at 0 */
}

struct echo_stats *stats_create(bool shared_with_children)
{
	struct echo_stats *st = counter_pages(sizeof *st, shared_with_children);

	st->shared = shared_with_children;
	return st;
}

void stats_destroy(struct echo_stats *st)
{
	if (st->workers > 0) {
		munmap(st->served_by, st->workers * sizeof *st->served_by);
		munmap(st->echoed_by, st->workers * sizeof *st->echoed_by);
	}
	munmap(st, sizeof *st);
}

void stats_track_workers(struct echo_stats *st, unsigned workers)
{
	if (st->workers > 0 || workers == 0)
		return;
	st->served_by = counter_pages(workers * sizeof *st->served_by, st->shared);
	st->echoed_by = counter_pages(workers * sizeof *st->echoed_by, st->shared);
	st->workers = workers;
}

void stats_worker_served(struct echo_stats *st, unsigned worker)
{
	if (worker < st->workers)
		stats_add(&st->served_by[worker], 1);
}

void stats_worker_echoed(struct echo_stats *st, unsigned worker, unsigned long long n)
{
	if (worker < st->workers)
		stats_add(&st->echoed_by[worker], n);
}

void stats_log_workers(const struct echo_stats *st)
{
	for (unsigned i = 0; i < st->workers; i++)
		log_msg("worker %u: connections=%llu messages=%llu", i,
		        (unsigned long long)atomic_load(&st->served_by[i]),
		        (unsigned long long)atomic_load(&st->echoed_by[i]));
}

/* " spread=MIN/MAX" over the tracked workers, or "" without any. */
static void format_spread(const struct echo_stats *st, char *out, size_t size)
{
	unsigned long long min = 0, max = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < st->workers; i++) {
		unsigned long long n = atomic_load(&st->served_by[i]);

		if (i == 0 || n < min)
			min = n;
		if (n > max)
			max = n;
	}
	if (st->workers > 0)
		snprintf(out, size, " spread=%llu/%llu", min, max);
}

void stats_add(atomic_ullong *counter, unsigned long long n)
{
	/* Relaxed: the counters are read once, after every writer is finished. */
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

bool stats_admit(struct echo_stats *st, unsigned max)
{
	unsigned open = atomic_load_explicit(&st->open, memory_order_relaxed);

	/* Compare-and-swap rather than add-then-check: an add that overshoots
	 * and is taken back would, for that moment, make another loop refuse a
	 * client while a place was free. */
	do {
		if (open >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&st->open, &open, open + 1,
	                                                memory_order_relaxed,
	                                                memory_order_relaxed));
	return true;
}

void stats_release(struct echo_stats *st)
{
	atomic_fetch_sub_explicit(&st->open, 1, memory_order_relaxed);
}

static double seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* This process's own peak resident set in KiB: VmHWM of /proc/self/status,
 * or -1 if it cannot be read. Not getrusage's ru_maxrss: across exec Linux
 * keeps in it the peak of the image that called exec, so a server started
 * by a 60 MB Python would report 60 MB having touched 2. */
static long own_peak_kb(void)
{
	static const char key[] = "VmHWM:";
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	long kb = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, sizeof key - 1) == 0) {
			char *end;

			kb = strtol(line + sizeof key - 1, &end, 10); /* "VmHWM:    1628 kB" */
			if (end == line + sizeof key - 1 || kb < 0)
				kb = -1;
			break;
		}
	}
	fclose(f);
	return kb;
}

void stats_print_summary(const struct echo_stats *st, const char *model)
{
	struct rusage self, children;
	char spread[64];
	long peak = own_peak_kb();

	format_spread(st, spread, sizeof spread);
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &children);
	if (peak < 0)
		peak = self.ru_maxrss; /* no /proc: the best figure there is */
	/* Children's CPU counts too, as in Stevens' servers: for the fork model
	 * that is where the work happens. Peak memory is the larger of ours and
	 * the largest reaped child's: the kernel keeps a maximum over children,
	 * not a sum. A child's figure is its own: it never calls exec, and a
	 * forked process starts with no inherited peak. */
	log_msg("summary: model=%s connections=%llu refused=%llu messages=%llu bytes=%llu "
	        "user=%.3fs sys=%.3fs maxrss_kb=%ld%s",
	        model, (unsigned long long)atomic_load(&st->connections),
	        (unsigned long long)atomic_load(&st->refused),
	        (unsigned long long)atomic_load(&st->messages),
	        (unsigned long long)atomic_load(&st->bytes),
	        seconds(self.ru_utime) + seconds(children.ru_utime),
	        seconds(self.ru_stime) + seconds(children.ru_stime),
	        peak > children.ru_maxrss ? peak : children.ru_maxrss,
	        spread);
}
