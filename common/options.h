/* options: the command line that every server model shares. */
#ifndef ECHOLAB_OPTIONS_H
#define ECHOLAB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

struct server_opts {
	const char *host;      /* NULL: every IPv6 and IPv4 address (dual-stack) */
	const char *port;      /* "0" asks the kernel for a free port */
	size_t max_line;       /* longest message, LF included */
	unsigned max_clients;  /* connections served at once; more get "ERR server busy" */
	unsigned idle_timeout; /* seconds without activity before closing; 0: never */
	bool verbose;          /* log each connection's open and close on stderr */
};

#define OPTIONS_DEFAULT_PORT "8080"
#define OPTIONS_DEFAULT_MAX_LINE 4096
#define OPTIONS_DEFAULT_MAX_CLIENTS 1024

/* Fills *o from argv. On a usage error it prints the problem and exits 2; after
 * --help it prints the usage and exits 0. */
void options_parse(struct server_opts *o, const char *prog, int argc, char **argv);

/* Parses a whole decimal number in [min, max]; false if it is not one. */
bool parse_number(const char *text, unsigned long long min, unsigned long long max,
                  unsigned long long *out);
/* The value of option --name, or a message naming the problem and exit 2.
 * Shared with the client, so servers and client reject "12x", "-1" and
 * overflow with the same words. */
unsigned long long option_number(const char *prog, const char *name, const char *text,
                                 unsigned long long min, unsigned long long max);

#endif
