/* count.c: an LD_PRELOAD library that counts a server's calls to the
 * allocator and to memcpy/memmove, and writes the totals on exit.
 *
 * Built and used by bench/copies.sh (not part of any model). The server's
 * own calls go through the PLT to these definitions; glibc's internal ones
 * do not, which is what we want: the copies and allocations the server's
 * code asks for. Totals go to the file named by $COUNT_OUT when the process
 * exits (a server stopped with SIGTERM exits normally):
 *     malloc N calloc N realloc N free N memcpy N memcpy_bytes N memmove N
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* glibc's own entry points: no dlsym (which allocates) on the malloc path */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static atomic_ulong n_malloc, n_calloc, n_realloc, n_free, n_memcpy, n_memcpy_bytes, n_memmove;
static void *(*real_memcpy)(void *, const void *, size_t);
static void *(*real_memmove)(void *, const void *, size_t);

void *malloc(size_t n)
{
	atomic_fetch_add_explicit(&n_malloc, 1, memory_order_relaxed);
	return __libc_malloc(n);
}

void *calloc(size_t k, size_t n)
{
	atomic_fetch_add_explicit(&n_calloc, 1, memory_order_relaxed);
	return __libc_calloc(k, n);
}

void *realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&n_realloc, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}

void free(void *p)
{
	if (p != NULL)
		atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
	__libc_free(p);
}

/* A byte loop until the constructor has found the real functions. */
static void *copy_bytes(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	if (dp < sp)
		for (size_t i = 0; i < n; i++)
			dp[i] = sp[i];
	else
		for (size_t i = n; i > 0; i--)
			dp[i - 1] = sp[i - 1];
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	atomic_fetch_add_explicit(&n_memcpy, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n_memcpy_bytes, n, memory_order_relaxed);
	return real_memcpy ? real_memcpy(d, s, n) : copy_bytes(d, s, n);
}

void *memmove(void *d, const void *s, size_t n)
{
	atomic_fetch_add_explicit(&n_memmove, 1, memory_order_relaxed);
	return real_memmove ? real_memmove(d, s, n) : copy_bytes(d, s, n);
}

__attribute__((constructor)) static void find_real(void)
{
	real_memcpy = (void *(*)(void *, const void *, size_t))dlsym(RTLD_NEXT, "memcpy");
	real_memmove = (void *(*)(void *, const void *, size_t))dlsym(RTLD_NEXT, "memmove");
}

__attribute__((destructor)) static void report(void)
{
	const char *path = getenv("COUNT_OUT");
	FILE *f = path ? fopen(path, "w") : NULL;

	if (f == NULL)
		return;
	fprintf(f, "malloc %lu calloc %lu realloc %lu free %lu memcpy %lu memcpy_bytes %lu memmove %lu\n",
	        atomic_load(&n_malloc), atomic_load(&n_calloc), atomic_load(&n_realloc),
	        atomic_load(&n_free), atomic_load(&n_memcpy), atomic_load(&n_memcpy_bytes),
	        atomic_load(&n_memmove));
	fclose(f);
}
