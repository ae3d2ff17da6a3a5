/* histogram: see histogram.h for the bucket layout. */
#include "histogram.h"

#include <string.h>

void histogram_init(struct histogram *h)
{
	memset(h, 0, sizeof *h);
}

/* Values below SUB_BUCKETS get one bucket each. Above, a value whose highest set
 * bit is `top` lands in row (top - SUB_BITS + 1), at the column given by the
 * SUB_BITS bits just below the top bit. */
static unsigned bucket_of(uint64_t value)
{
	if (value < HISTOGRAM_SUB_BUCKETS)
		return (unsigned)value;
	unsigned top = 63 - (unsigned)__builtin_clzll(value);
	if (top >= HISTOGRAM_MAX_BITS)
		return HISTOGRAM_BUCKETS - 1;
	unsigned shift = top - HISTOGRAM_SUB_BITS;
	unsigned column = (unsigned)(value >> shift) & (HISTOGRAM_SUB_BUCKETS - 1);
	return (shift + 1) * HISTOGRAM_SUB_BUCKETS + column;
}

/* The middle of the bucket: the value that is never further than half a bucket
 * from any sample it stands for. */
static uint64_t bucket_middle(unsigned bucket)
{
	if (bucket < HISTOGRAM_SUB_BUCKETS)
		return bucket;
	unsigned shift = bucket / HISTOGRAM_SUB_BUCKETS - 1;
	uint64_t column = bucket % HISTOGRAM_SUB_BUCKETS;
	uint64_t lowest = (HISTOGRAM_SUB_BUCKETS + column) << shift;
	return lowest + ((1ull << shift) >> 1);
}

void histogram_record(struct histogram *h, uint64_t value)
{
	h->counts[bucket_of(value)]++;
	h->total++;
	if (value > h->max)
		h->max = value;
}

void histogram_merge(struct histogram *into, const struct histogram *from)
{
	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->total += from->total;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t histogram_percentile(const struct histogram *h, double percent)
{
	if (h->total == 0)
		return 0;
	if (percent >= 100.0)
		return h->max;
	/* The rank of the sample we want, counting from 1: ceil(percent of the
	 * total), and at least the first. */
	double wanted = percent / 100.0 * (double)h->total;
	uint64_t rank = wanted > 0 ? (uint64_t)wanted : 0;
	if ((double)rank < wanted || rank == 0)
		rank++;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t middle = bucket_middle(i);
			return middle < h->max ? middle : h->max;
		}
	}
	return h->max;
}

uint64_t histogram_max(const struct histogram *h)
{
	return h->max;
}

uint64_t histogram_count(const struct histogram *h)
{
	return h->total;
}
