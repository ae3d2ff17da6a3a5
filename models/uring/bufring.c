#include "bufring.h"

#include "conn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE ((size_t)BUFRING_COUNT * BUFRING_SIZE)

_Static_assert(BUFRING_SIZE <= 0xffff && BUFRING_COUNT <= 0xffff,
               "a parked buffer's id, length and count fit an unsigned short");

static void give_back(struct bufring *b, int bid)
{
	io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * BUFRING_SIZE, BUFRING_SIZE,
	                      (unsigned short)bid, io_uring_buf_ring_mask(BUFRING_COUNT),
	                      b->returned++);
}

int bufring_open(struct bufring *b, struct io_uring *ring)
{
	struct io_uring_buf_reg reg = {.ring_entries = BUFRING_COUNT, .bgid = BUFRING_GROUP};
	int rc;

	/* liburing 2.3 has no io_uring_setup_buf_ring: the ring's memory is
	 * ours, page-aligned, and registered by hand. */
	b->returned = 0;
	b->mem = NULL;
	if (posix_memalign((void **)&b->br, (size_t)sysconf(_SC_PAGESIZE),
	                   BUFRING_COUNT * sizeof(struct io_uring_buf)) != 0)
		return -ENOMEM;
	/* Populated now: the kernel writes into every buffer sooner or later, so
	 * the ring is a fixed cost of the server, resident from the start, not
	 * growth that appears with the first busy clients and never goes. */
	b->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
	              MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (b->mem == MAP_FAILED) {
		b->mem = NULL;
		free(b->br);
		return -ENOMEM;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)b->br;
	rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc < 0) {
		bufring_close(b);
		return rc;
	}
	io_uring_buf_ring_init(b->br);
	for (int bid = 0; bid < BUFRING_COUNT; bid++)
		give_back(b, bid);
	bufring_publish(b);
	return 0;
}

void bufring_close(struct bufring *b)
{
	free(b->br);
	if (b->mem != NULL)
		munmap(b->mem, MEM_SIZE);
	b->br = NULL;
	b->mem = NULL;
}

void bufring_publish(struct bufring *b)
{
	if (b->returned > 0)
		io_uring_buf_ring_advance(b->br, b->returned);
	b->returned = 0;
}

void bufring_give_back(struct bufring *b, int bid)
{
	give_back(b, bid);
}

const char *bufring_data(const struct bufring *b, int bid)
{
	return b->mem + (size_t)bid * BUFRING_SIZE;
}

void bufring_park(struct bufring *b, struct bufring_held *h, int bid, size_t len)
{
	b->len[bid] = (unsigned short)len;
	if (h->count == 0)
		h->head = (unsigned short)bid;
	else
		b->next[h->tail] = (unsigned short)bid;
	h->tail = (unsigned short)bid;
	h->count++;
}

size_t bufring_parked_len(const struct bufring *b, const struct bufring_held *h)
{
	return b->len[h->head];
}

int bufring_unpark(struct bufring *b, struct bufring_held *h)
{
	int bid = h->head;

	h->head = b->next[bid];
	h->count--;
	return bid;
}

void bufring_drop_parked(struct bufring *b, struct bufring_held *h)
{
	while (h->count > 0)
		give_back(b, bufring_unpark(b, h));
	h->eof = false;
}

/* n bytes in buffer bid (n == 0: the EOF) to the core; the buffer back to
 * the ring, or kept as the loan if the core owes bytes of it in place. False
 * when the core ran out of memory (it marked itself). */
static bool hand_over(struct bufring *b, struct conn *c, struct bufring_held *h, int bid,
                      size_t n)
{
	size_t in_place;
	bool ok;

	if (n == 0)
		return conn_received(c, NULL, 0);
	ok = conn_received_in_place(c, bufring_data(b, bid), n, &in_place);
	if (in_place > 0) {
		/* the core owes nothing else, so no loan is running */
		h->lending = true;
		h->loan_bid = (unsigned short)bid;
		h->loan_off = 0;
		h->loan_len = (unsigned short)in_place;
	} else {
		give_back(b, bid);
	}
	return ok;
}

bool bufring_take_or_park(struct bufring *b, struct conn *c, struct bufring_held *h, int bid,
                          size_t n)
{
	if (h->count == 0 && (n == 0 || conn_has_room(c, n)))
		return hand_over(b, c, h, bid, n);
	if (n == 0)
		h->eof = true;
	else
		bufring_park(b, h, bid, n);
	return true;
}

bool bufring_take_parked(struct bufring *b, struct conn *c, struct bufring_held *h)
{
	while (h->count > 0 && conn_has_room(c, bufring_parked_len(b, h))) {
		size_t len = bufring_parked_len(b, h);

		if (!hand_over(b, c, h, bufring_unpark(b, h), len))
			return false;
	}
	if (h->count == 0 && h->eof) {
		h->eof = false;
		return hand_over(b, c, h, -1, 0);
	}
	return true;
}

struct iovec bufring_to_send(const struct bufring *b, struct conn *c,
                             const struct bufring_held *h)
{
	if (h->lending)
		return (struct iovec){(char *)bufring_data(b, h->loan_bid) + h->loan_off,
		                      h->loan_len};
	return conn_to_send(c);
}

void bufring_sent(struct bufring *b, struct conn *c, struct bufring_held *h, size_t n,
                  struct echo_stats *st)
{
	conn_sent(c, n, st);
	if (!h->lending)
		return;
	h->loan_off = (unsigned short)(h->loan_off + n);
	h->loan_len = (unsigned short)(h->loan_len - n);
	if (h->loan_len == 0)
		bufring_end_loan(b, h);
}

void bufring_end_loan(struct bufring *b, struct bufring_held *h)
{
	if (h->lending)
		give_back(b, h->loan_bid);
	h->lending = false;
}
