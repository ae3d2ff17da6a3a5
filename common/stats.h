/* stats: the counters behind the shutdown summary.
 *
 * Counters are C11 atomics so the thread model can update them without a lock;
 * the fork model puts them in a MAP_SHARED page so children count into the same
 * place. Single-threaded models pay one uncontended atomic add per read.
 */
#ifndef ECHOLAB_STATS_H
#define ECHOLAB_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct echo_stats {
	atomic_ullong connections; /* connections served (refused ones not counted) */
	atomic_ullong refused;     /* connections turned away with "ERR server busy" */
	atomic_ullong messages;    /* complete messages echoed */
	atomic_ullong bytes;       /* bytes echoed, trailing partial messages included */
};

struct echo_stats *stats_create(bool shared_with_children);
void stats_destroy(struct echo_stats *st);
void stats_add(atomic_ullong *counter, unsigned long long n);
/* One line on stderr: the counters, plus user and system CPU seconds and peak
 * resident memory of the server and its reaped children (getrusage). */
void stats_print_summary(const struct echo_stats *st, const char *model);

#endif
