/* loop: what every event loop does around its wait, written once.
 *
 * An event-driven model keeps a wait set (fd_sets, a pollfd array, an epoll
 * instance, libev watchers) and this: the client count for --max-clients, the
 * idle list, and the opening, serving and closing of connections. Each model
 * file then holds only its wait set and how it waits, and the select, poll
 * and epoll files line up side by side.
 */
#ifndef ECHOLAB_LOOP_H
#define ECHOLAB_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "idle.h"
#include "server.h"

/* From a pointer to a struct's member back to the struct: how a model that
 * wraps struct conn in its own struct (poll, epoll, libev, uring) gets from the connection
 * loop.c hands it to its own bookkeeping. The wrapper's first member must be
 * the struct conn: loop_accept allocates the whole wrapper and loop_close
 * frees it through the conn. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Where a loop is handed its clients when it does not accept them itself:
 * another thread accepts, admits them under --max-clients (accept_admit) and
 * hands each to one loop (models/acceptor.c). `fd` is what the loop watches
 * for "clients handed over" (an eventfd); take() returns the next such
 * client's descriptor (with its peer), or -1 when none is left; closed() is
 * told each time one of them is gone, for the hander's count of what each
 * loop holds. The model embeds this in its own struct (container_of). */
struct loop_intake {
	int fd;
	int (*take)(struct loop_intake *in, struct peer *peer);
	void (*closed)(struct loop_intake *in);
};

struct loop {
	struct server *srv;
	/* where loop_accept takes clients from: the listener, or the intake when
	 * there is one (the listener then only counts and refuses) */
	struct listener *listener;
	struct loop_intake *intake;
	struct idle_list idle;
	unsigned worker; /* counted as this worker in the stats (stats_worker_served) */
	int64_t now_ms;  /* the time of the last wake-up: one clock read per wake */
	/* The one read buffer of a readiness loop (PROTOCOL_READ_CHUNK bytes,
	 * allocated by its first loop_serve; a completion loop has none): every
	 * connection reads into it and keeps only what it must (see conn.h). */
	char *rbuf;
	/* Giving the heap back: the last time a connection was served, opened or
	 * closed, and whether anything happened since the last malloc_trim. */
	int64_t last_busy_ms;
	bool heap_dirty;
};

/* A loop over the server's listening socket. */
void loop_init(struct loop *l, struct server *srv);
/* Worker `worker`'s loop over a listening socket of its own (reuseport: one
 * per thread). --max-clients still counts the connections of every loop
 * together (accept_admit). */
void loop_init_worker(struct loop *l, struct server *srv, struct listener *listener,
                      unsigned worker);
/* Worker `worker`'s loop, handed its clients through `in` instead of
 * accepting them (see struct loop_intake). */
void loop_init_handed(struct loop *l, struct server *srv, struct loop_intake *in,
                      unsigned worker);
/* The descriptor that is readable when clients wait for loop_accept: the
 * intake's, or the listener's. */
int loop_intake_fd(const struct loop *l);
/* pthread_barrier_wait, dying on an error: a model that runs loops in
 * threads (reuseport) has each wait once its wait set is open, and the
 * thread that started them too, before it announces "listening on", so that
 * every descriptor the server keeps is open by then. */
void loop_barrier_wait(pthread_barrier_t *b);
/* Names the thread that runs worker i's loop "worker I", for top -H, ps -L
 * and /proc/PID/task/TID/comm; a failure is only logged (it is cosmetic). */
void loop_name_worker(pthread_t thread, unsigned i);
/* Reads the clock; call once after every wake-up. Once the loop has been
 * quiet for LOOP_TRIM_AFTER_MS after some activity, it also gives the heap's
 * free memory back to the system (malloc_trim), so a burst of clients does
 * not leave the server's RSS at its peak for ever. */
void loop_tick(struct loop *l);
#define LOOP_TRIM_AFTER_MS 1000
/* Something was allocated or freed: the heap is worth trimming once the
 * loop has been quiet for LOOP_TRIM_AFTER_MS (loop_tick). loop_open_conn,
 * loop_touch and loop_close call it; a loop that keeps its connections its
 * own way (coro: coroutines) calls it on every opening, serving and
 * closing. */
void loop_mark_busy(struct loop *l);
/* How long the wait may last: until the next idle expiry or the heap trim;
 * -1 for ever. */
int loop_timeout_ms(const struct loop *l);

/* Accepts (or takes from the intake) the next waiting client and returns it as a new connection of
 * `size` bytes (at least sizeof(struct conn): a model may wrap struct conn,
 * as its first member, in a struct of its own; see container_of). Clients it cannot take are told
 * "ERR server busy" and closed on the way: over --max-clients, or on a
 * descriptor >= fd_limit (LOOP_ANY_FD: no such limit). NULL once no client is
 * waiting; call it until then on every wake-up, since taking one client per
 * wake-up would let the backlog grow under a burst of connects. */
struct conn *loop_accept(struct loop *l, size_t size, int fd_limit);
#define LOOP_ANY_FD ACCEPT_ANY_FD
/* Takes an accepted client fd (non-blocking) as a new connection of `size`
 * bytes, or refuses it and returns NULL: accept_admit decides (accept.h), and
 * no memory for the connection refuses too. For loops that accept by other
 * means (io_uring's accept); loop_accept uses it. */
struct conn *loop_open_conn(struct loop *l, int fd, const struct peer *peer, size_t size,
                            int fd_limit);
/* Activity on the connection (it sent something, or made room for more echo):
 * pushes back its idle deadline. loop_serve does it; a completion loop calls
 * it for every receive or send that completes. */
void loop_touch(struct loop *l, struct conn *c);
/* Delivers readiness to the connection, returns what it wants next. A
 * readable connection is read up to `reads` times (conn_on_readable):
 * LOOP_READS_LEVEL for a level-triggered loop, which is simply told again
 * while more is waiting; an edge-triggered loop reads more per wake-up and
 * learns from *drained (may be NULL) whether it must come back by itself. */
enum conn_want loop_serve(struct loop *l, struct conn *c, bool readable, bool writable,
                          unsigned reads, bool *drained);
#define LOOP_READS_LEVEL 1
/* The loop's one read buffer (PROTOCOL_READ_CHUNK bytes), allocated on first
 * use: what loop_serve reads into, and what a library that reads for us
 * (libuv's allocation callback) is handed to read into. */
char *loop_read_buffer(struct loop *l);
void loop_close(struct loop *l, struct conn *c);
/* loop_close for a loop whose library owns the socket and the memory (libuv
 * closes the descriptor with its handle, and the connection may be freed
 * only once the handle's close callback has run): everything loop_close does
 * but the close(2) and the free. */
void loop_release(struct loop *l, struct conn *c);
/* The connection that has been idle too long, if any (marked for the log). */
struct conn *loop_next_expired(struct loop *l);
/* Shutdown, one connection at a time: the quietest one still in the idle
 * list (marked for the log), NULL when none is left. A loop that cannot close
 * a connection at once (io_uring: requests in flight) takes it off the list
 * with idle_remove and closes it later. */
struct conn *loop_next_to_stop(struct loop *l);
/* Shutdown: closes every connection still open and frees the read buffer. */
void loop_close_all(struct loop *l);

#endif
