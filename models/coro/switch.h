/* switch: the stack switch under models/coro/coro.c, one routine per
 * architecture.
 *
 * A struct coro_ctx is a parked stack: whatever must be put back for it to
 * continue. switch_to(from, to) parks the running stack in `from` and
 * continues `to` where it parked; switch_make prepares a fresh stack so
 * that the first switch to it calls entry(arg), which must never return.
 *
 * On x86-64 the switch is a dozen instructions in user space (switch.c):
 * what the System V ABI says a called function must give back unchanged,
 * the callee-saved registers rbx, rbp, r12-r15, the stack pointer and the
 * floating-point control words (MXCSR, x87 control word), pushed on the
 * parked stack. Everything else a caller already expects a call to clobber.
 * No signal mask: the thread's mask stays the thread's, as in Go's runtime.
 * Elsewhere it is glibc's swapcontext, which also saves and restores the
 * signal mask with an rt_sigprocmask system call on every switch.
 */
#ifndef ECHOLAB_CORO_SWITCH_H
#define ECHOLAB_CORO_SWITCH_H

#include <stddef.h>

#if defined(__x86_64__)
struct coro_ctx {
	void *sp; /* the parked stack's top: its saved registers, then where to return */
};
#else
#include <ucontext.h>
struct coro_ctx {
	ucontext_t uc;
};
#endif

/* Sets ctx up so that the first switch_to(_, ctx) calls entry(arg) on the
 * stack [stack, stack + size). -1 with errno set on failure. */
int switch_make(struct coro_ctx *ctx, char *stack, size_t size, void (*entry)(void *), void *arg);
void switch_to(struct coro_ctx *from, const struct coro_ctx *to);

#endif
