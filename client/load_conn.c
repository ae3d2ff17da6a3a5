/* load_conn: see load_conn.h. */
#include "load_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "io.h"
#include "mismatch.h"

/* One read takes this much: large, so that a deep pipeline of echoes is
 * checked in long runs with few system calls. */
#define RX_BUFFER_SIZE (256 * 1024)
#define IOV_BATCH 64

bool load_conns_init(struct load_conns *cs, const int *fds, size_t count, uint64_t first,
                     uint64_t stride, unsigned depth, const struct payload *payload,
                     const struct schedule *schedule, const struct window *window,
                     struct load_tally *tally)
{
	*cs = (struct load_conns){
		.count = count, .payload = payload, .depth = depth, .schedule = schedule,
		.window = window, .tally = tally,
	};
	cs->list = calloc(count, sizeof *cs->list);
	cs->sent_at_storage = calloc(count * depth, sizeof *cs->sent_at_storage);
	cs->rx_buf = malloc(RX_BUFFER_SIZE);
	if (!cs->list || !cs->sent_at_storage || !cs->rx_buf) {
		for (size_t i = 0; i < count; i++)
			close(fds[i]);
		cs->count = 0;
		return false;
	}
	for (size_t i = 0; i < count; i++) {
		struct load_conn *c = &cs->list[i];
		c->fd = fds[i];
		c->id = first + (uint64_t)i * stride;
		c->released = schedule ? 0 : UINT64_MAX;
		c->sent_at = cs->sent_at_storage + i * depth;
	}
	cs->open_count = count;
	return true;
}

static void load_conn_close(struct load_conns *cs, struct load_conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	cs->open_count--;
}

void load_conns_destroy(struct load_conns *cs)
{
	for (size_t i = 0; i < cs->count; i++)
		load_conn_close(cs, &cs->list[i]);
	free(cs->list);
	free(cs->sent_at_storage);
	free(cs->rx_buf);
}

void load_conn_fail(struct load_conns *cs, struct load_conn *c, const char *why)
{
	load_errors_add(&cs->tally->errors, "connection %llu: %s", (unsigned long long)c->id, why);
	load_conn_close(cs, c);
}

static const char *message_at(const struct load_conns *cs, uint64_t id, uint64_t seq)
{
	return payload_message(cs->payload, payload_entry(cs->payload, id, seq));
}

/* ---- sending ---------------------------------------------------------- */

/* The send time latency is measured from: when the schedule said (open loop),
 * or now, when it is actually handed to the kernel (closed loop). Counting
 * from the due time means a server that stalls cannot hide the stall by
 * slowing the client down (no "coordinated omission"). */
static void stamp_new_messages(struct load_conns *cs, struct load_conn *c, int64_t now)
{
	uint64_t limit = c->rx_seq + cs->depth;
	if (limit > c->released)
		limit = c->released;
	for (; c->stamped < limit; c->stamped++)
		c->sent_at[c->stamped % cs->depth] =
			cs->schedule ? schedule_due_ns(cs->schedule, c->id, c->stamped) : now;
}

/* Consecutive messages are consecutive in the table until it wraps, so a
 * pipeline is one or two iovecs however deep it is. */
static int gather(const struct load_conns *cs, const struct load_conn *c, struct iovec *iov,
                  size_t *bytes)
{
	const struct payload *p = cs->payload;
	uint64_t seq = c->tx_seq;
	size_t skip = c->tx_off;
	int n = 0;
	*bytes = 0;
	while (seq < c->stamped && n < IOV_BATCH) {
		size_t entry = payload_entry(p, c->id, seq);
		uint64_t span = p->count - entry; /* consecutive in the table */
		if (span > c->stamped - seq)
			span = c->stamped - seq;
		iov[n].iov_base = (char *)payload_message(p, entry) + skip;
		iov[n].iov_len = (size_t)span * p->size - skip;
		*bytes += iov[n].iov_len;
		seq += span;
		skip = 0;
		n++;
	}
	return n;
}

static void advance_tx(struct load_conn *c, size_t bytes, size_t size)
{
	uint64_t offset = c->tx_off + bytes;
	c->tx_seq += offset / size;
	c->tx_off = (size_t)(offset % size);
}

/* A short write means the socket buffer is full; the edge-triggered EPOLLOUT
 * brings us back. */
void load_conn_flush(struct load_conns *cs, struct load_conn *c, int64_t now)
{
	stamp_new_messages(cs, c, now);
	while (c->tx_seq < c->stamped) {
		struct iovec iov[IOV_BATCH];
		size_t want;
		struct msghdr msg = { .msg_iov = iov };
		msg.msg_iovlen = (size_t)gather(cs, c, iov, &want);
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				load_conn_fail(cs, c, socket_error_text(errno));
			return;
		}
		advance_tx(c, (size_t)n, cs->payload->size);
		if ((size_t)n < want)
			return;
	}
}

/* ---- receiving -------------------------------------------------------- */

static void complete_message(struct load_conns *cs, struct load_conn *c, int64_t now)
{
	int64_t sent = c->sent_at[c->rx_seq % cs->depth];
	if (window_counts(cs->window, now)) {
		histogram_record(&cs->tally->latency, (uint64_t)(now > sent ? now - sent : 0));
		cs->tally->messages++;
	}
	cs->tally->completed++;
	c->rx_seq++;
	c->rx_off = 0;
}

static void explain_mismatch(struct load_conns *cs, struct load_conn *c, const char *got,
                             size_t len)
{
	char why[160];
	mismatch_text(why, sizeof why, got, len, message_at(cs, c->id, c->rx_seq) + c->rx_off,
	              c->rx_off, c->rx_seq);
	load_conn_fail(cs, c, why);
}

/* Checks received bytes against the messages in flight, completing each one
 * whose last byte arrives. */
static void check_echo(struct load_conns *cs, struct load_conn *c, const char *got, size_t len,
                       int64_t now)
{
	size_t size = cs->payload->size;
	while (len > 0) {
		if (c->rx_seq == c->stamped) {
			load_conn_fail(cs, c, "server sent bytes beyond the messages sent");
			return;
		}
		size_t take = size - c->rx_off;
		if (take > len)
			take = len;
		if (memcmp(got, message_at(cs, c->id, c->rx_seq) + c->rx_off, take) != 0) {
			explain_mismatch(cs, c, got, take);
			return;
		}
		got += take;
		len -= take;
		c->rx_off += take;
		if (c->rx_off == size)
			complete_message(cs, c, now);
	}
}

/* Reads and checks until the socket is drained; returns the time the last
 * bytes were in our hands, which is when their echoes count as complete. */
static int64_t receive(struct load_conns *cs, struct load_conn *c, bool until_eof)
{
	int64_t now = clock_now_ns();
	for (;;) {
		ssize_t n = recv(c->fd, cs->rx_buf, RX_BUFFER_SIZE, 0);
		if (n > 0) {
			now = clock_now_ns();
			check_echo(cs, c, cs->rx_buf, (size_t)n, now);
			if (c->fd < 0 || ((size_t)n < RX_BUFFER_SIZE && !until_eof))
				break;
		} else if (n == 0) {
			load_conn_fail(cs, c, "server closed the connection");
			break;
		} else if (errno != EINTR) {
			if (errno != EAGAIN)
				load_conn_fail(cs, c, socket_error_text(errno));
			break;
		}
	}
	return now;
}

/* Latency runs from just before a message is handed to the kernel (or from
 * when it was due) to just after its echo is read: the send and receive calls
 * are part of what the caller of a server waits for. */
void load_conn_on_event(struct load_conns *cs, struct load_conn *c, uint32_t events)
{
	int64_t now;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* With a hang-up pending there is no later edge to come back on: read
		 * on to the end so the close is seen now. */
		now = receive(cs, c, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
		if (c->fd < 0)
			return;
	} else {
		now = clock_now_ns();
	}
	load_conn_flush(cs, c, now);
}
