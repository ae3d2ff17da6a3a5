/* check.h: the one assertion the C unit tests share. A failed CHECK reports
 * and counts, and the test goes on, so one run shows every failure. */
#ifndef ECHOLAB_CHECK_H
#define ECHOLAB_CHECK_H

#include <stdio.h>

static int failures, checks;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		checks++;                                                       \
		if (!(cond)) {                                                  \
			failures++;                                             \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
		}                                                               \
	} while (0)

#endif
