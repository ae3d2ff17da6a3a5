/* coro: coroutines over one thread, for models/coro.c.
 *
 * A coroutine is a function running on a stack of its own. coro_resume
 * switches from the loop to it; inside, coro_park switches back, and the
 * next coro_resume continues right after that coro_park, every local
 * variable as it was. That is all a goroutine is, minus Go's growable stacks
 * and its scheduler.
 *
 * The switch (switch.h) saves only what a called function must keep
 * according to the ABI, the callee-saved registers, the stack pointer and
 * the floating-point control words, in user space: no system call, as in
 * Go's runtime (gogo, mcall), which never gives a goroutine a signal mask
 * of its own. glibc's swapcontext(3), kept where that switch is not written
 * (other than x86-64), also saves and restores the signal mask with an
 * rt_sigprocmask system call on every switch: two per resume-and-park.
 *
 * The stack is an mmap of stack_size bytes whose lowest page is PROT_NONE,
 * the guard: a coroutine that runs past its stack touches the guard and
 * faults, instead of silently writing over whatever lies below. A SIGSEGV
 * handler, on an alternate signal stack (the faulting stack has no room
 * left to run one), sees that the fault is in the running coroutine's guard
 * page, says which coroutine overflowed and aborts. The caller's own struct
 * (struct coro first) lives at the top of the same mapping, so an idle
 * coroutine whose frames stay small costs one page of memory.
 *
 * A finished coroutine's stack is kept for the next one, up to CORO_SPARES
 * of them (Go keeps a stack cache too): a new connection then costs no mmap,
 * mprotect or page fault, and a closed one no munmap, whose TLB flush is
 * the dearest of them all. Past that many, stacks go back to the system at
 * once, so memory follows the connections.
 */
#ifndef ECHOLAB_CORO_H
#define ECHOLAB_CORO_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "switch.h"

struct coro_runtime;

struct coro {
	struct coro_ctx ctx; /* where its registers are while it is parked */
	struct coro_runtime *rt;
	void (*fn)(struct coro *);
	char *map; /* the mapping: guard page, stack, then the caller's struct */
	size_t map_size;
	bool done;       /* fn has returned */
	char label[64];  /* who this is, for the overflow report */
	void *fake_stack; /* AddressSanitizer's bookkeeping across switches */
};

#define CORO_SPARES 256

/* One per thread that runs coroutines. */
struct coro_runtime {
	size_t stack_size;    /* of every coroutine's mapping, guard page included */
	char *spare;          /* finished stacks kept for reuse, linked through their tops */
	unsigned spares;
	struct coro_ctx loop; /* where the loop's are while a coroutine runs */
	struct coro *running; /* NULL while the loop runs */
	size_t page;
	char *altstack;       /* the SIGSEGV handler's stack */
	size_t altstack_size;
	struct sigaction old_segv; /* what SIGSEGV did before: for faults not ours */
	const void *loop_stack;    /* AddressSanitizer: the loop's stack */
	size_t loop_stack_size;
};

/* Installs the overflow report (the SIGSEGV handler and its stack); exits 1
 * if it cannot. Every coroutine gets a mapping of stack_size bytes. */
void coro_runtime_init(struct coro_runtime *rt, size_t stack_size);
void coro_runtime_destroy(struct coro_runtime *rt);
/* A new coroutine that will run fn, not started: `size` bytes (at least
 * sizeof(struct coro), which must come first) at the top of its stack.
 * label names it in the overflow report. NULL with errno set when out of
 * memory or mappings. */
struct coro *coro_create(struct coro_runtime *rt, size_t size, void (*fn)(struct coro *),
                         const char *label);
/* Runs co until it parks or fn returns (then coro_done is true). */
void coro_resume(struct coro *co);
/* From inside co: back to the loop, until the next coro_resume. */
void coro_park(struct coro *co);
bool coro_done(const struct coro *co);
/* Gives back the stack of a coroutine that is done, or never started. */
void coro_destroy(struct coro *co);

#endif
