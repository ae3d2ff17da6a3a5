/* Unit tests for client/histogram.c and client/payload.c, the two pieces of the
 * load generator whose answers can be checked exactly: percentiles must stay
 * within the promised relative error of the true ones, and every message must
 * be the same bytes each time it is asked for, with its only LF at the end.
 *
 * Links with build/client/histogram.o and build/client/payload.o. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../client/histogram.h"
#include "../../client/payload.h"

#include "check.h"

/* Half a bucket of 1/128: 0.4%, plus rounding. */
#define MAX_RELATIVE_ERROR 0.005

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The exact percentile by the same rank rule: the ceil(p% * n)-th smallest. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double percent)
{
	double wanted = percent / 100.0 * (double)n;
	size_t rank = (size_t)wanted;
	if ((double)rank < wanted || rank == 0)
		rank++;
	return sorted[rank - 1];
}

static void check_close(uint64_t got, uint64_t want, const char *what, double percent)
{
	double diff = got > want ? (double)(got - want) : (double)(want - got);
	double error = want ? diff / (double)want : diff;
	CHECK(error <= MAX_RELATIVE_ERROR, "%s p%g: got %llu, exact %llu", what, percent,
	      (unsigned long long)got, (unsigned long long)want);
}

/* Samples spread over 1 ns to about 100 s, the range the load generator uses:
 * a random mantissa shifted by a random power of two. */
static void test_percentiles_match_sorted_samples(void)
{
	enum { N = 200000 };
	uint64_t *samples = malloc(N * sizeof *samples);
	struct histogram *h = malloc(sizeof *h);
	histogram_init(h);
	uint64_t state = 88172645463325252ull;
	for (size_t i = 0; i < N; i++) {
		state ^= state << 13, state ^= state >> 7, state ^= state << 17;
		samples[i] = (1 + (state >> 8) % 1000) << (state % 27);
		histogram_record(h, samples[i]);
	}
	qsort(samples, N, sizeof *samples, compare_u64);
	const double percents[] = { 0.1, 1, 10, 50, 90, 99, 99.9, 99.99 };
	for (size_t i = 0; i < sizeof percents / sizeof *percents; i++)
		check_close(histogram_percentile(h, percents[i]),
		            exact_percentile(samples, N, percents[i]), "spread", percents[i]);
	CHECK(histogram_max(h) == samples[N - 1], "max %llu", (unsigned long long)histogram_max(h));
	CHECK(histogram_percentile(h, 100) == samples[N - 1], "p100 is the max");
	CHECK(histogram_count(h) == N, "count %llu", (unsigned long long)histogram_count(h));
	free(samples);
	free(h);
}

static void test_small_values_are_exact(void)
{
	struct histogram h;
	histogram_init(&h);
	for (uint64_t v = 1; v <= 100; v++)
		histogram_record(&h, v);
	CHECK(histogram_percentile(&h, 50) == 50, "p50 %llu",
	      (unsigned long long)histogram_percentile(&h, 50));
	CHECK(histogram_percentile(&h, 99) == 99, "p99 %llu",
	      (unsigned long long)histogram_percentile(&h, 99));
	CHECK(histogram_percentile(&h, 0) == 1, "p0 is the smallest");
}

static void test_empty_and_huge(void)
{
	struct histogram h;
	histogram_init(&h);
	CHECK(histogram_percentile(&h, 50) == 0, "empty p50");
	CHECK(histogram_max(&h) == 0, "empty max");
	histogram_record(&h, UINT64_MAX);
	CHECK(histogram_max(&h) == UINT64_MAX, "huge max kept exactly");
	CHECK(histogram_percentile(&h, 50) <= UINT64_MAX, "huge value counted");
}

/* Merging two halves must answer exactly as one histogram of everything. */
static void test_merge_equals_single(void)
{
	struct histogram *all = malloc(sizeof *all), *a = malloc(sizeof *a), *b = malloc(sizeof *b);
	histogram_init(all);
	histogram_init(a);
	histogram_init(b);
	for (uint64_t v = 1; v < 3000000; v = v * 11 / 10 + 1) {
		histogram_record(all, v);
		histogram_record(v % 2 ? a : b, v);
	}
	histogram_merge(a, b);
	CHECK(memcmp(a->counts, all->counts, sizeof all->counts) == 0, "merged buckets differ");
	CHECK(a->total == all->total && a->max == all->max, "merged totals differ");
	free(all);
	free(a);
	free(b);
}

static void test_payload_messages(size_t size)
{
	struct payload p;
	CHECK(payload_init(&p, size), "payload_init(%zu)", size);
	for (size_t e = 0; e < p.count; e++) {
		const char *m = payload_message(&p, e);
		CHECK(m[size - 1] == '\n', "size %zu entry %zu: no final LF", size, e);
		CHECK(memchr(m, '\n', size - 1) == NULL, "size %zu entry %zu: LF inside", size, e);
	}
	/* Consecutive messages of a connection are consecutive entries (mod count),
	 * which is what lets the load generator send a pipeline with one iovec. */
	for (uint64_t conn = 0; conn < 5; conn++)
		for (uint64_t n = 0; n < 3 * p.count; n++)
			CHECK(payload_entry(&p, conn, n + 1) == (payload_entry(&p, conn, n) + 1) % p.count,
			      "conn %llu message %llu", (unsigned long long)conn, (unsigned long long)n);
	if (size > 8 && p.count > 1)
		CHECK(memcmp(payload_message(&p, 0), payload_message(&p, 1), size) != 0,
		      "entries should differ");
	payload_destroy(&p);
}

int main(void)
{
	test_percentiles_match_sorted_samples();
	test_small_values_are_exact();
	test_empty_and_huge();
	test_merge_equals_single();
	test_payload_messages(1);
	test_payload_messages(64);
	test_payload_messages(65536);
	printf("test_load_histogram: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
