/* switch: see switch.h. On x86-64, the switch itself, in assembly (C cannot
 * name the stack pointer); elsewhere swapcontext. */
#include "switch.h"

#include <stdint.h>

#if defined(__x86_64__)
#include <string.h>

/* coro_switch(void **save, void *load): pushes the callee-saved registers
 * and the two control words on the running stack, stores the stack pointer
 * in *save, loads `load` and pops the same from there. Its `ret` returns
 * into whoever called coro_switch on that stack, or, the first time, into
 * coro_enter. The layout, from the saved stack pointer up:
 *   MXCSR (4 bytes), x87 control word (4), r15, r14, r13, r12, rbx, rbp,
 *   return address. */
__asm__(".text\n"
        ".p2align 4\n"
        ".type coro_switch, @function\n"
        "coro_switch:\n"
        "	pushq %rbp\n"
        "	pushq %rbx\n"
        "	pushq %r12\n"
        "	pushq %r13\n"
        "	pushq %r14\n"
        "	pushq %r15\n"
        "	subq $8, %rsp\n"
        "	stmxcsr (%rsp)\n"
        "	fnstcw 4(%rsp)\n"
        "	movq %rsp, (%rdi)\n" /* parked */
        "	movq %rsi, %rsp\n"   /* the other stack */
        "	ldmxcsr (%rsp)\n"
        "	fldcw 4(%rsp)\n"
        "	addq $8, %rsp\n"
        "	popq %r15\n"
        "	popq %r14\n"
        "	popq %r13\n"
        "	popq %r12\n"
        "	popq %rbx\n"
        "	popq %rbp\n"
        "	ret\n"
        ".size coro_switch, .-coro_switch\n"
        /* A fresh stack's first `ret` lands here, with the entry function
         * in r12 and its argument in r13 (switch_make put them there), and
         * the stack 16-byte aligned, as a call expects. entry never
         * returns; if it did, ud2 stops the process. */
        ".type coro_enter, @function\n"
        "coro_enter:\n"
        "	movq %r13, %rdi\n"
        "	callq *%r12\n"
        "	ud2\n"
        ".size coro_enter, .-coro_enter\n");

void coro_switch(void **save, void *load);
void coro_enter(void);

/* The ABI's initial values: all exceptions masked, round to nearest; x87
 * in double-extended precision. */
#define MXCSR_INITIAL 0x1F80u
#define X87_CW_INITIAL 0x037Fu

int switch_make(struct coro_ctx *ctx, char *stack, size_t size, void (*entry)(void *), void *arg)
{
	char *top = stack + size - ((uintptr_t)(stack + size) & 15); /* 16-byte aligned */
	uint64_t *sp = (uint64_t *)(void *)top;
	uint32_t control[2] = {MXCSR_INITIAL, X87_CW_INITIAL};

	/* After the first ret pops this, the stack pointer is `top`, aligned */
	*--sp = (uint64_t)(uintptr_t)coro_enter;
	*--sp = 0;                               /* rbp: 0 ends a backtrace's frame chain */
	*--sp = 0;                               /* rbx */
	*--sp = (uint64_t)(uintptr_t)entry;      /* r12 */
	*--sp = (uint64_t)(uintptr_t)arg;        /* r13 */
	*--sp = 0;                               /* r14 */
	*--sp = 0;                               /* r15 */
	memcpy(--sp, control, sizeof control);
	ctx->sp = sp;
	return 0;
}

void switch_to(struct coro_ctx *from, const struct coro_ctx *to)
{
	coro_switch(&from->sp, to->sp);
}

#else
#include <errno.h>

#include "log.h"

/* makecontext passes int arguments only: the entry and its argument are
 * kept in a struct at the stack's top, whose address comes in two halves. */
struct start {
	void (*entry)(void *);
	void *arg;
};

static void start(unsigned hi, unsigned lo)
{
	const struct start *s = (const struct start *)(((uintptr_t)hi << 32) | lo);

	s->entry(s->arg);
}

int switch_make(struct coro_ctx *ctx, char *stack, size_t size, void (*entry)(void *), void *arg)
{
	struct start *s = (struct start *)(((uintptr_t)stack + size - sizeof *s) & ~(uintptr_t)15);
	uintptr_t self = (uintptr_t)s;

	*s = (struct start){.entry = entry, .arg = arg};
	if (getcontext(&ctx->uc) != 0)
		return -1;
	ctx->uc.uc_stack.ss_sp = stack;
	ctx->uc.uc_stack.ss_size = (size_t)((char *)s - stack);
	ctx->uc.uc_link = NULL; /* entry never returns */
	makecontext(&ctx->uc, (void (*)(void))start, 2, (unsigned)(self >> 32), (unsigned)self);
	return 0;
}

void switch_to(struct coro_ctx *from, const struct coro_ctx *to)
{
	if (swapcontext(&from->uc, &to->uc) != 0)
		die("swapcontext: %s", error_text(errno));
}

#endif
