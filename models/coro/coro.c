/* coro: see coro.h. The switch itself is switch.c's switch_to.
 *
 * Why a hand-written switch and not _setjmp/_longjmp, which also skip the
 * signal mask: longjmp may only go back to a frame still live on the same
 * stack. Jumping to another stack is undefined, and with _FORTIFY_SOURCE
 * glibc checks it (__longjmp_chk): a jump to a stack pointer below the
 * current one, off a signal stack, aborts with "longjmp causes
 * uninitialized stack frame", which a jump between two stacks meets
 * whenever the other one lies lower. A coroutine would still need
 * makecontext for its first entry, too. switch.c does both jobs, the first
 * entry and every switch, in a dozen instructions that say exactly what is
 * saved: what the ABI makes a callee keep, nothing more.
 */
#include "coro.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"

/* AddressSanitizer keeps a shadow of every stack; it must be told when the
 * thread moves to another one, or it reports false overflows. Elsewhere
 * these are nothing. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define switch_begin(save, bottom, size) __sanitizer_start_switch_fiber((save), (bottom), (size))
#define switch_end(save, bottom, size) __sanitizer_finish_switch_fiber((save), (bottom), (size))
#else
#define switch_begin(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define switch_end(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

/* The handler finds the runtime through the alternate stack it runs on:
 * the kernel hands over that stack's address (uc_stack), and the
 * runtime's address is stored just below where the stack starts. So no
 * global variable is needed. */
#define ALTSTACK_HEADER 64

/* Async-signal-safe appending: no printf in a signal handler. */
static size_t append(char *buf, size_t len, size_t cap, const char *s)
{
	while (*s != '\0' && len + 1 < cap)
		buf[len++] = *s++;
	buf[len] = '\0';
	return len;
}

static size_t append_kib(char *buf, size_t len, size_t cap, size_t bytes)
{
	char digits[24];
	size_t i = sizeof digits - 1, kib = bytes / 1024;

	digits[i] = '\0';
	do
		digits[--i] = (char)('0' + kib % 10);
	while ((kib /= 10) > 0 && i > 0);
	return append(buf, len, cap, digits + i);
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	const ucontext_t *uc = uctx;
	char *base = uc->uc_stack.ss_sp;
	struct coro_runtime *rt;
	struct coro *co;
	char msg[256];
	size_t n = 0;

	memcpy(&rt, base - ALTSTACK_HEADER, sizeof rt);
	co = rt->running;
	if (co == NULL || (char *)si->si_addr < co->map || (char *)si->si_addr >= co->map + rt->page) {
		/* Not a coroutine's overflow: what SIGSEGV did before (the
		 * default: a core), when the faulting access runs again. */
		sigaction(sig, &rt->old_segv, NULL);
		return;
	}
	n = append(msg, n, sizeof msg, program_invocation_short_name);
	n = append(msg, n, sizeof msg, ": stack overflow: the coroutine of ");
	n = append(msg, n, sizeof msg, co->label);
	n = append(msg, n, sizeof msg, " ran past its ");
	n = append_kib(msg, n, sizeof msg, co->map_size - rt->page);
	n = append(msg, n, sizeof msg, " KiB stack into its guard page; aborting\n");
	if (write(STDERR_FILENO, msg, n) < 0) {
		/* nothing more to be done about it */
	}
	abort();
}

void coro_runtime_init(struct coro_runtime *rt, size_t stack_size)
{
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	stack_t ss;

	memset(rt, 0, sizeof *rt);
	rt->stack_size = stack_size;
	rt->page = (size_t)sysconf(_SC_PAGESIZE);
	/* SIGSTKSZ is enough for the handler, not for a sanitizer's own. */
	rt->altstack_size = ALTSTACK_HEADER + (SIGSTKSZ > 65536 ? SIGSTKSZ : 65536);
	rt->altstack = malloc(rt->altstack_size);
	if (rt->altstack == NULL)
		die("out of memory for the signal stack");
	memcpy(rt->altstack, &rt, sizeof rt);
	ss = (stack_t){.ss_sp = rt->altstack + ALTSTACK_HEADER,
	               .ss_size = rt->altstack_size - ALTSTACK_HEADER};
	sigemptyset(&sa.sa_mask);
	if (sigaltstack(&ss, NULL) < 0 || sigaction(SIGSEGV, &sa, &rt->old_segv) < 0)
		die("cannot install the stack overflow handler: %s", error_text(errno));
}

/* The spare stacks are linked through the last bytes of each mapping. */
static char **next_spare(const struct coro_runtime *rt, char *map)
{
	return (char **)(map + rt->stack_size - sizeof(char *));
}

static void unmap(const struct coro_runtime *rt, char *map)
{
	if (munmap(map, rt->stack_size) < 0)
		log_error("munmap: %s", error_text(errno));
}

void coro_runtime_destroy(struct coro_runtime *rt)
{
	stack_t off = {.ss_flags = SS_DISABLE};
	char *map;

	while ((map = rt->spare) != NULL) {
		rt->spare = *next_spare(rt, map);
		unmap(rt, map);
	}

	if (sigaction(SIGSEGV, &rt->old_segv, NULL) < 0 || sigaltstack(&off, NULL) < 0)
		log_error("cannot remove the stack overflow handler: %s", error_text(errno));
	free(rt->altstack);
}

/* Where every coroutine begins, on its own stack. */
static void start(void *arg)
{
	struct coro *co = arg;
	struct coro_runtime *rt = co->rt;

	switch_end(NULL, &rt->loop_stack, &rt->loop_stack_size);
	co->fn(co);
	co->done = true;
	switch_begin(NULL, rt->loop_stack, rt->loop_stack_size); /* NULL: this stack is done */
	switch_to(&co->ctx, &rt->loop);
	abort(); /* nothing switches back to a finished coroutine */
}

/* The coroutine's stack: from above the guard page to below its struct. */
static char *stack_bottom(const struct coro *co)
{
	return co->map + co->rt->page;
}

static size_t stack_bytes(const struct coro *co)
{
	return (size_t)((const char *)co - stack_bottom(co));
}

/* A spare stack, or a new mapping with its guard page. */
static char *take_stack(struct coro_runtime *rt)
{
	char *map = rt->spare;

	if (map != NULL) {
		rt->spare = *next_spare(rt, map);
		rt->spares--;
		return map;
	}
	map = mmap(NULL, rt->stack_size, PROT_READ | PROT_WRITE,
	           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, rt->page, PROT_NONE) < 0) {
		unmap(rt, map);
		return NULL;
	}
	return map;
}

struct coro *coro_create(struct coro_runtime *rt, size_t size, void (*fn)(struct coro *),
                         const char *label)
{
	size_t top = (size + 63) & ~(size_t)63; /* the caller's struct, aligned */
	char *map = take_stack(rt);
	struct coro *co;

	if (map == NULL)
		return NULL;
	co = (struct coro *)(map + rt->stack_size - top);
	*co = (struct coro){.rt = rt, .fn = fn, .map = map, .map_size = rt->stack_size};
	strncpy(co->label, label, sizeof co->label - 1);
	if (switch_make(&co->ctx, stack_bottom(co), stack_bytes(co), start, co) < 0) {
		unmap(rt, map);
		return NULL;
	}
	return co;
}

void coro_resume(struct coro *co)
{
	struct coro_runtime *rt = co->rt;
	void *fake = NULL;

	rt->running = co;
	switch_begin(&fake, stack_bottom(co), stack_bytes(co));
	switch_to(&rt->loop, &co->ctx);
	switch_end(fake, NULL, NULL);
	rt->running = NULL;
}

void coro_park(struct coro *co)
{
	struct coro_runtime *rt = co->rt;

	switch_begin(&co->fake_stack, rt->loop_stack, rt->loop_stack_size);
	switch_to(&co->ctx, &rt->loop);
	switch_end(co->fake_stack, &rt->loop_stack, &rt->loop_stack_size);
}

bool coro_done(const struct coro *co)
{
	return co->done;
}

void coro_destroy(struct coro *co)
{
	struct coro_runtime *rt = co->rt;

	if (rt->spares < CORO_SPARES) {
		*next_spare(rt, co->map) = rt->spare;
		rt->spare = co->map;
		rt->spares++;
	} else {
		unmap(rt, co->map);
	}
}
