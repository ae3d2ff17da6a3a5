#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cmdline.h"

bool parse_number(const char *text, unsigned long long min, unsigned long long max,
                  unsigned long long *out)
{
	char *end;
	unsigned long long value;

	/* strtoull accepts "-1" (and wraps it), leading spaces and "+"; a number on
	 * a command line is digits only. */
	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	value = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < min || value > max)
		return false;
	*out = value;
	return true;
}

unsigned long long option_number(const char *prog, const char *name, const char *text,
                                 unsigned long long min, unsigned long long max)
{
	unsigned long long value;

	if (!parse_number(text, min, max, &value)) {
		fprintf(stderr, "%s: --%s: '%s' is not a whole number from %llu to %llu\n", prog,
		        name, text, min, max);
		exit(2);
	}
	return value;
}

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > OPTIONS_MAX_WORKERS ? OPTIONS_MAX_WORKERS : (unsigned)n;
}

static void print_usage(const char *prog, const struct model_info *m)
{
	printf("%s: %s\n\nusage: %s [options]\n", prog, m->summary, prog);
	printf("  --host ADDR          address to listen on (default: every IPv6 and IPv4 address)\n"
	       "  --port N             %s port, 0 picks a free one (default " OPTIONS_DEFAULT_PORT
	       ")\n",
	       (m->flags & MODEL_DATAGRAM) ? "UDP" : "TCP");
	if (m->flags & MODEL_DATAGRAM)
		printf("  --max-line N         longest datagram in bytes; longer ones are answered\n"
		       "                       \"ERR line too long\" (default %d)\n",
		       OPTIONS_DEFAULT_MAX_LINE);
	else
		printf("  --max-line N         longest message in bytes, LF included (default %d)\n"
		       "  --max-clients N      clients served at once; more get \"ERR server busy\" "
		       "(default %d)\n"
		       "  --idle-timeout SECS  close a connection quiet for this long; 0 never "
		       "(default 0)\n",
		       OPTIONS_DEFAULT_MAX_LINE, OPTIONS_DEFAULT_MAX_CLIENTS);
	if (m->flags & MODEL_WORKERS) {
		if (m->default_workers == WORKERS_ONLINE_CPUS)
			printf("  --workers N          workers, 1 to %d (default: one per online CPU, "
			       "here %u)\n", OPTIONS_MAX_WORKERS, online_cpus());
		else
			printf("  --workers N          workers, 1 to %d (default %u)\n",
			       OPTIONS_MAX_WORKERS, m->default_workers);
	}
	printf("  --verbose            log each %s on stderr\n"
	       "  --help               show this and exit\n",
	       (m->flags & MODEL_DATAGRAM) ? "datagram" : "connection's open and close");
	if (m->env_help != NULL)
		printf("\nenvironment:\n%s", m->env_help);
}

enum { OPT_HOST = 1, OPT_PORT, OPT_MAX_LINE, OPT_MAX_CLIENTS, OPT_IDLE, OPT_WORKERS,
       OPT_VERBOSE, OPT_HELP };

static const struct cmdline_option server_options[] = {
	{"host", true, OPT_HOST},
	{"port", true, OPT_PORT},
	{"max-line", true, OPT_MAX_LINE},
	{"max-clients", true, OPT_MAX_CLIENTS},
	{"idle-timeout", true, OPT_IDLE},
	{"workers", true, OPT_WORKERS},
	{"verbose", false, OPT_VERBOSE},
	{"help", false, OPT_HELP},
	{NULL, false, 0},
};

/* An option every model knows, but this one has no use for: say so, rather
 * than "unknown", and say where it does apply. The model knows only its own
 * flags, so the message names the kind of model that takes --workers. */
static void refuse_inapplicable(const struct cmdline *cl, const struct model_info *m, int opt)
{
	if (opt == OPT_WORKERS && !(m->flags & MODEL_WORKERS))
		cmdline_usage_error(cl, "--workers: the %s model has no workers (only a pool, or "
		                    "a model with one loop per worker, takes --workers: its "
		                    "--help lists it)", m->name);
	if ((opt == OPT_MAX_CLIENTS || opt == OPT_IDLE) && (m->flags & MODEL_DATAGRAM))
		cmdline_usage_error(cl, "--%s: the %s model has no connections to limit",
		                    cl->name, m->name);
}

void options_parse(struct server_opts *o, const struct model_info *m, int argc, char **argv)
{
	char prog[64];
	struct cmdline cl;
	int opt;

	snprintf(prog, sizeof prog, "echo-%s", m->name);
	*o = (struct server_opts){
		.port = OPTIONS_DEFAULT_PORT,
		.max_line = OPTIONS_DEFAULT_MAX_LINE,
		.max_clients = OPTIONS_DEFAULT_MAX_CLIENTS,
	};
	if (m->flags & MODEL_WORKERS)
		o->workers = m->default_workers == WORKERS_ONLINE_CPUS ? online_cpus()
		                                                        : m->default_workers;
	cmdline_init(&cl, prog, argc, argv);
	while ((opt = cmdline_next(&cl, server_options)) != 0) {
		refuse_inapplicable(&cl, m, opt);
		switch (opt) {
		case OPT_HOST:
			o->host = cl.value;
			break;
		case OPT_PORT:
			option_number(prog, "port", cl.value, 0, 65535);
			o->port = cl.value;
			break;
		case OPT_MAX_LINE:
			/* 64 MiB: a connection may hold this much of an unfinished
			 * message, so the bound is what keeps its memory bounded. */
			o->max_line = option_number(prog, "max-line", cl.value, 1, 64u << 20);
			break;
		case OPT_MAX_CLIENTS:
			o->max_clients = option_number(prog, "max-clients", cl.value, 1, 1000000);
			break;
		case OPT_IDLE:
			o->idle_timeout = option_number(prog, "idle-timeout", cl.value, 0, 2000000);
			break;
		case OPT_WORKERS:
			o->workers = option_number(prog, "workers", cl.value, 1, OPTIONS_MAX_WORKERS);
			break;
		case OPT_VERBOSE:
			o->verbose = true;
			break;
		case OPT_HELP:
			print_usage(prog, m);
			exit(0);
		}
	}
}
