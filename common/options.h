/* options: the command line that every server model shares.
 *
 * A model describes itself once (struct model_info); its --help then names it,
 * says what it is, and lists only the options and environment variables that
 * apply to it, and options that do not apply are refused.
 */
#ifndef ECHOLAB_OPTIONS_H
#define ECHOLAB_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum model_flags {
	MODEL_WORKERS = 1 << 0,  /* takes --workers N: a pool or one loop per worker */
	MODEL_DATAGRAM = 1 << 1, /* no connections: --max-clients, --idle-timeout refused */
};

struct model_info {
	const char *name;         /* "poll": the program is echo-poll */
	const char *summary;      /* what the model is, one line for --help */
	unsigned flags;           /* enum model_flags */
	unsigned default_workers; /* with MODEL_WORKERS; WORKERS_ONLINE_CPUS: one per CPU */
	const char *env_help;     /* --help lines for environment variables, or NULL */
};

#define WORKERS_ONLINE_CPUS 0
#define OPTIONS_MAX_WORKERS 4096

struct server_opts {
	const char *host;      /* NULL: every IPv6 and IPv4 address (dual-stack) */
	const char *port;      /* "0" asks the kernel for a free port */
	size_t max_line;       /* longest message, LF included */
	unsigned max_clients;  /* connections served at once; more get "ERR server busy" */
	unsigned idle_timeout; /* seconds without activity before closing; 0: never */
	unsigned workers;      /* processes or threads, for MODEL_WORKERS; else 0 */
	bool verbose;          /* log each connection's open and close on stderr */
};

#define OPTIONS_DEFAULT_PORT "8080"
#define OPTIONS_DEFAULT_MAX_LINE 4096
#define OPTIONS_DEFAULT_MAX_CLIENTS 1024

/* Fills *o from argv for the model. On a usage error it prints the problem and
 * exits 2; after --help it prints the usage and exits 0. */
void options_parse(struct server_opts *o, const struct model_info *model, int argc,
                   char **argv);

/* Parses a whole decimal number in [min, max]; false if it is not one. */
bool parse_number(const char *text, unsigned long long min, unsigned long long max,
                  unsigned long long *out);
/* The value of option --name, or a message naming the problem and exit 2.
 * Shared with the client, so servers and client reject "12x", "-1" and
 * overflow with the same words. */
unsigned long long option_number(const char *prog, const char *name, const char *text,
                                 unsigned long long min, unsigned long long max);

#endif
