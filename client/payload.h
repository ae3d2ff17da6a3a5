/* payload: what the load generator sends, and therefore what it expects back.
 *
 * Checking an echo needs the original bytes. Keeping a copy of everything in
 * flight would cost memory and a copy per message; instead every message is a
 * pure function of (connection, message number), so the expected bytes can be
 * looked up again when the echo arrives and compared with one memcmp.
 *
 * The lookup is free because the messages are precomputed: a table of `count`
 * distinct messages of `size` bytes each, laid end to end, each ending in its
 * only LF. Message n of connection c is entry (c * STRIDE + n) mod count, so a
 * connection's consecutive messages are consecutive in memory: a whole pipeline
 * of them is sent straight from the table with one writev, without copying, and
 * a stream of echoes is checked against the table in long runs.
 *
 * Bodies are pseudo-random bytes of every value but LF (CR and NUL included), so
 * a server that mangles any byte, drops one, duplicates a message or crosses
 * two connections' streams is caught.
 */
#ifndef ECHOLAB_CLIENT_PAYLOAD_H
#define ECHOLAB_CLIENT_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct payload {
	char *table;  /* count * size bytes */
	size_t size;  /* bytes per message, LF included */
	size_t count; /* distinct messages in the table */
};

bool payload_init(struct payload *p, size_t size);
void payload_destroy(struct payload *p);

/* Index in the table of message `n` of connection `conn`. */
size_t payload_entry(const struct payload *p, uint64_t conn, uint64_t n);

static inline const char *payload_message(const struct payload *p, size_t entry)
{
	return p->table + entry * p->size;
}

#endif
