/* cmdline: long options, read the same way by every program of echolab.
 *
 * getopt_long reports its failures by one character ('?' or ':') and leaves
 * the caller to guess which argument was wrong; with "-xy" it is not even
 * argv[optind - 1]. A dozen options do not need that machinery, so this reads
 * them directly and names the problem itself:
 *   --name VALUE and --name=VALUE     an option that takes a value
 *   --na                              any unambiguous prefix, as getopt_long
 *   anything else                     a message naming it, and exit 2
 */
#ifndef ECHOLAB_CMDLINE_H
#define ECHOLAB_CMDLINE_H

#include <stdbool.h>

struct cmdline_option {
	const char *name; /* without the dashes; NULL ends a table */
	bool takes_value;
	int id;           /* what cmdline_next returns for it: not 0 */
};

struct cmdline {
	const char *prog; /* names the program in every message */
	int argc;
	char **argv;
	int next;          /* the next argument to read */
	const char *value; /* the value of the option just returned, or NULL */
	const char *name;  /* its full name, for messages about its value */
};

void cmdline_init(struct cmdline *cl, const char *prog, int argc, char **argv);
/* The id of the next option in argv, 0 when there are none left. An unknown,
 * ambiguous or malformed option, a missing value or a stray argument: a
 * message on stderr and exit 2. */
int cmdline_next(struct cmdline *cl, const struct cmdline_option *options);
/* Prints "PROG: <message> (try --help)" and exits 2. */
_Noreturn void cmdline_usage_error(const struct cmdline *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
