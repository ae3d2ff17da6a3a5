/* payload: see payload.h. */
#include "payload.h"

#include <stdlib.h>

/* About this many bytes of table: big enough for thousands of distinct small
 * messages, small enough to stay in cache while every echo is compared to it. */
#define TABLE_TARGET_BYTES (4u << 20)
#define MIN_ENTRIES 2
#define MAX_ENTRIES 4096
/* Spreads connections over the table so that two connections rarely expect the
 * same message at the same moment (odd, so coprime with power-of-two counts). */
#define CONNECTION_STRIDE 7919u

/* xorshift64*: fast, decent, and the same on every run. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 2685821657736338717ull;
}

/* 255 values: every byte except LF. */
static char body_byte(uint64_t random)
{
	unsigned value = (unsigned)(random >> 32) % 255;
	return (char)(value >= '\n' ? value + 1 : value);
}

static void fill_entry(char *entry, size_t size, uint64_t seed)
{
	uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i + 1 < size; i++)
		entry[i] = body_byte(next_random(&state));
	entry[size - 1] = '\n';
}

bool payload_init(struct payload *p, size_t size)
{
	size_t count = TABLE_TARGET_BYTES / size;
	if (count < MIN_ENTRIES)
		count = MIN_ENTRIES;
	if (count > MAX_ENTRIES)
		count = MAX_ENTRIES;
	p->table = malloc(count * size);
	if (!p->table)
		return false;
	p->size = size;
	p->count = count;
	for (size_t i = 0; i < count; i++)
		fill_entry(p->table + i * size, size, i);
	return true;
}

void payload_destroy(struct payload *p)
{
	free(p->table);
	p->table = NULL;
}

size_t payload_entry(const struct payload *p, uint64_t conn, uint64_t n)
{
	return (size_t)((conn * CONNECTION_STRIDE + n) % p->count);
}
