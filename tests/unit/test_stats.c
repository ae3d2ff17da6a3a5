/* Unit tests for common/stats.c's per-worker counts: children of a fork count
 * into the same counters as the parent, and the summary line and the --verbose
 * per-worker lines report them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stats.h"

#include "check.h"

/* Runs fn(st) with stderr going into buf (NUL-terminated). */
static void capture_stderr(void (*fn)(const struct echo_stats *), const struct echo_stats *st,
                           char *buf, size_t size)
{
	int pipefd[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	if (saved < 0 || pipe(pipefd) < 0 || dup2(pipefd[1], STDERR_FILENO) < 0) {
		perror("test_stats: redirecting stderr");
		exit(1);
	}
	close(pipefd[1]);
	fn(st);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = read(pipefd[0], buf, size - 1); /* a few short lines: one read, well below the pipe's buffer */
	buf[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
}

static void summary(const struct echo_stats *st)
{
	stats_print_summary(st, "test");
}

int main(void)
{
	struct echo_stats *st = stats_create(true);
	char out[1024];
	pid_t pid;
	int status;

	capture_stderr(summary, st, out, sizeof out);
	CHECK(strstr(out, "spread=") == NULL, "no spread without workers: %s", out);

	stats_track_workers(st, 3);
	CHECK(st->workers == 3, "3 workers tracked, not %u", st->workers);
	stats_worker_served(st, 0);
	/* Worker 2 is a child process: its counts land in the parent's page. */
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 5; i++)
			stats_worker_served(st, 2);
		stats_worker_echoed(st, 2, 7);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && status == 0, "the child ran");
	stats_worker_served(st, 3); /* beyond the tracked workers: ignored */
	CHECK(atomic_load(&st->served_by[2]) == 5, "the child's 5 seen by the parent");

	capture_stderr(summary, st, out, sizeof out);
	CHECK(strstr(out, " spread=0/5\n") != NULL, "min 0 (worker 1), max 5: %s", out);
	capture_stderr(stats_log_workers, st, out, sizeof out);
	CHECK(strcmp(out, "worker 0: connections=1 messages=0\nworker 1: connections=0 messages=0\n"
	                  "worker 2: connections=5 messages=7\n") == 0,
	      "one line per worker: %s", out);
	stats_destroy(st);

	printf("test_stats: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
