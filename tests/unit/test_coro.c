/* test_coro: models/coro/'s coroutines switch and keep their locals, and a
 * coroutine that runs past its stack is reported by name and aborts the
 * process (in a child), instead of writing over the memory below it. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "coro.h"

#define STACK (64 * 1024)

struct counter {
	struct coro co;
	int seen; /* what the coroutine last counted, seen from outside */
};

static void count_to_three(struct coro *co)
{
	struct counter *c = (struct counter *)co;

	for (int i = 1; i <= 3; i++) { /* i lives on the coroutine's stack */
		c->seen = i;
		coro_park(co);
	}
}

/* Not a tail call (the frame is used after the call returns), so it really
 * grows: 256 KiB of frames at least, far past the stack. */
static unsigned recurse(unsigned depth)
{
	volatile char frame[256];

	frame[0] = (char)depth;
	if (depth == 1024)
		return 0;
	return recurse(depth + 1) + frame[0];
}

static void overflow(struct coro *co)
{
	(void)co;
	recurse(0);
}

static void test_switching(struct coro_runtime *rt)
{
	struct counter *c = (struct counter *)coro_create(rt, sizeof *c, count_to_three, "t");

	CHECK(c != NULL, "created");
	if (c == NULL)
		return;
	for (int i = 1; i <= 3; i++) {
		coro_resume(&c->co);
		CHECK(c->seen == i && !coro_done(&c->co), "resume %d: seen %d", i, c->seen);
	}
	coro_resume(&c->co);
	CHECK(coro_done(&c->co), "done after its function returned");
	coro_destroy(&c->co);
}

/* In a child: the report on its stderr, then death by SIGABRT. */
static void test_overflow(void)
{
	char out[512] = {0};
	int pipefd[2], status = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd) < 0 || (pid = fork()) < 0) {
		perror("test_coro");
		exit(1);
	}
	if (pid == 0) {
		struct coro_runtime rt;
		struct coro *co;

		dup2(pipefd[1], STDERR_FILENO);
		coro_runtime_init(&rt, STACK);
		co = coro_create(&rt, sizeof *co, overflow, "client 127.0.0.1:4242");
		if (co != NULL)
			coro_resume(co);
		_exit(0); /* not reached when the report works */
	}
	close(pipefd[1]);
	n = read(pipefd[0], out, sizeof out - 1);
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "aborted (status %#x)", status);
	CHECK(n > 0 && strstr(out, "stack overflow: the coroutine of client 127.0.0.1:4242 "
	                           "ran past its 60 KiB stack") != NULL,
	      "reported: %s", out);
}

int main(void)
{
	struct coro_runtime rt;

	coro_runtime_init(&rt, STACK);
	test_switching(&rt);
	test_switching(&rt); /* again, on the first one's stack, kept as a spare */
	coro_runtime_destroy(&rt);
	test_overflow();
	printf("test_coro: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
