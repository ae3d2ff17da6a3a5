/* histogram: latency distribution in constant memory and bounded relative error.
 *
 * A load run sees millions of samples, so keeping and sorting them is out. Values
 * are counted in log-linear buckets instead (the HdrHistogram idea): each power of
 * two is split into HISTOGRAM_SUB_BUCKETS equal parts, so a bucket is never wider
 * than 1/128 of the values it holds and any percentile read back is within 0.4%
 * of a real sample. Small values (below the number of sub-buckets) are exact.
 *
 * Values are plain integers; the load generator records nanoseconds, which makes
 * the range 1 ns .. about 2^37 ns (137 s). Larger values are counted in the top
 * bucket, and the exact maximum is kept aside.
 *
 * Each load thread owns one histogram and the threads' histograms are merged at
 * the end, so nothing here is shared or locked.
 */
#ifndef ECHOLAB_HISTOGRAM_H
#define ECHOLAB_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 7
#define HISTOGRAM_SUB_BUCKETS (1u << HISTOGRAM_SUB_BITS)
#define HISTOGRAM_MAX_BITS 37 /* values up to 2^37 - 1 are bucketed precisely */
#define HISTOGRAM_BUCKETS ((HISTOGRAM_MAX_BITS - HISTOGRAM_SUB_BITS + 1) * HISTOGRAM_SUB_BUCKETS)

struct histogram {
	uint64_t counts[HISTOGRAM_BUCKETS];
	uint64_t total;
	uint64_t max;
};

void histogram_init(struct histogram *h);
void histogram_record(struct histogram *h, uint64_t value);
/* Adds every sample of `from` into `into`. */
void histogram_merge(struct histogram *into, const struct histogram *from);
/* The value below which `percent` (0..100) of the samples fall, within the
 * bucket precision; never more than the maximum. 0 when empty. */
uint64_t histogram_percentile(const struct histogram *h, double percent);
uint64_t histogram_max(const struct histogram *h);
uint64_t histogram_count(const struct histogram *h);

#endif
