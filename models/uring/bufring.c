#include "bufring.h"

#include "conn.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM_SIZE ((size_t)BUFRING_COUNT * BUFRING_SIZE)
#define LARGE_MEM_SIZE ((size_t)BUFRING_LARGE_COUNT * BUFRING_LARGE_SIZE)

_Static_assert(BUFRING_IDS <= 0xffff, "a buffer's id and a parked count fit an unsigned short");

static bool is_large(int bid)
{
	return bid >= BUFRING_COUNT;
}

static void give_back(struct bufring *b, int bid)
{
	if (is_large(bid))
		io_uring_buf_ring_add(b->large_br, (char *)bufring_data(b, bid), BUFRING_LARGE_SIZE,
		                      (unsigned short)bid,
		                      io_uring_buf_ring_mask(BUFRING_LARGE_COUNT), b->large_returned++);
	else
		io_uring_buf_ring_add(b->br, (char *)bufring_data(b, bid), BUFRING_SIZE,
		                      (unsigned short)bid, io_uring_buf_ring_mask(BUFRING_COUNT),
		                      b->returned++);
}

/* One group: its ring of `count` entries, page-aligned (liburing 2.3 has no
 * io_uring_setup_buf_ring: the ring's memory is ours, registered by hand). */
static int register_group(struct io_uring *ring, struct io_uring_buf_ring **br, unsigned count,
                          int group)
{
	struct io_uring_buf_reg reg = {.ring_entries = count, .bgid = (unsigned short)group};
	int rc;

	if (posix_memalign((void **)br, (size_t)sysconf(_SC_PAGESIZE),
	                   count * sizeof(struct io_uring_buf)) != 0)
		return -ENOMEM;
	reg.ring_addr = (uint64_t)(uintptr_t)*br;
	rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc == 0)
		io_uring_buf_ring_init(*br);
	return rc;
}

int bufring_open(struct bufring *b, struct io_uring *ring)
{
	int rc;

	*b = (struct bufring){.mem = MAP_FAILED, .large_mem = MAP_FAILED};
	/* The small buffers populated now: the kernel writes into every one
	 * sooner or later, so they are a fixed cost of the server, resident
	 * from the start, not growth that appears with the first busy clients.
	 * The large ones become resident only once long messages use them. */
	b->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
	              MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	b->large_mem = mmap(NULL, LARGE_MEM_SIZE, PROT_READ | PROT_WRITE,
	                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rc = b->mem == MAP_FAILED || b->large_mem == MAP_FAILED ? -ENOMEM : 0;
	if (rc == 0)
		rc = register_group(ring, &b->br, BUFRING_COUNT, BUFRING_GROUP);
	if (rc == 0)
		rc = register_group(ring, &b->large_br, BUFRING_LARGE_COUNT, BUFRING_LARGE_GROUP);
	if (rc < 0) {
		bufring_close(b);
		return rc;
	}
	for (int bid = 0; bid < BUFRING_IDS; bid++)
		give_back(b, bid);
	bufring_publish(b);
	return 0;
}

void bufring_close(struct bufring *b)
{
	free(b->br);
	free(b->large_br);
	if (b->mem != MAP_FAILED && b->mem != NULL)
		munmap(b->mem, MEM_SIZE);
	if (b->large_mem != MAP_FAILED && b->large_mem != NULL)
		munmap(b->large_mem, LARGE_MEM_SIZE);
	*b = (struct bufring){0};
}

void bufring_publish(struct bufring *b)
{
	if (b->returned > 0)
		io_uring_buf_ring_advance(b->br, b->returned);
	if (b->large_returned > 0)
		io_uring_buf_ring_advance(b->large_br, b->large_returned);
	b->returned = b->large_returned = 0;
}

void bufring_give_back(struct bufring *b, int bid)
{
	give_back(b, bid);
}

const char *bufring_data(const struct bufring *b, int bid)
{
	if (is_large(bid))
		return b->large_mem + (size_t)(bid - BUFRING_COUNT) * BUFRING_LARGE_SIZE;
	return b->mem + (size_t)bid * BUFRING_SIZE;
}

bool bufring_prep_recv(struct io_uring_sqe *sqe, int fd, const struct bufring_held *h)
{
	if (h->large)
		io_uring_prep_recv(sqe, fd, NULL, 0, 0); /* length 0: the buffer's */
	else
		io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = h->large ? BUFRING_LARGE_GROUP : BUFRING_GROUP;
	return !h->large;
}

bool bufring_regroup(struct bufring_held *h, int bid, int n)
{
	bool was = h->large;

	if (n == BUFRING_SIZE && bid >= 0 && !is_large(bid))
		h->large = true;
	else if (n == -ENOBUFS)
		h->large = false;
	return h->large != was;
}

bool bufring_parked_full(const struct bufring_held *h)
{
	return h->parked >= BUFRING_PARK_LIMIT;
}

void bufring_park(struct bufring *b, struct bufring_held *h, int bid, size_t len)
{
	b->len[bid] = (unsigned)len;
	h->parked += (unsigned)len;
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
	h->parked -= b->len[bid];
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
		h->loan_len = (unsigned)in_place;
	} else {
		give_back(b, bid);
	}
	return ok;
}

/* Whether n bytes in buffer bid can be handed to the core now. Not while
 * it has no room; nor, for a large buffer of a connection still echoing,
 * while a loan is out: the core would copy them (it sends in place only
 * when it holds nothing), where waiting for the loan to end lets them go
 * out in place too. (Input to discard is always taken at once.) */
static bool can_take(const struct conn *c, const struct bufring_held *h, int bid, size_t n)
{
	return conn_has_room(c, n) && !(h->lending && is_large(bid) && c->phase == CONN_ECHOING);
}

bool bufring_take_or_park(struct bufring *b, struct conn *c, struct bufring_held *h, int bid,
                          size_t n)
{
	if (h->count == 0 && (n == 0 || can_take(c, h, bid, n)))
		return hand_over(b, c, h, bid, n);
	if (n == 0)
		h->eof = true;
	else
		bufring_park(b, h, bid, n);
	return true;
}

bool bufring_take_parked(struct bufring *b, struct conn *c, struct bufring_held *h)
{
	while (h->count > 0 && can_take(c, h, h->head, bufring_parked_len(b, h))) {
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
	h->loan_off += (unsigned)n;
	h->loan_len -= (unsigned)n;
	if (h->loan_len == 0)
		bufring_end_loan(b, h);
}

void bufring_end_loan(struct bufring *b, struct bufring_held *h)
{
	if (h->lending)
		give_back(b, h->loan_bid);
	h->lending = false;
}
