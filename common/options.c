#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static const char usage_text[] =
	"usage: %s [options]\n"
	"  --host ADDR          address to listen on (default: every IPv6 and IPv4 address)\n"
	"  --port N             TCP port, 0 picks a free one (default " OPTIONS_DEFAULT_PORT ")\n"
	"  --max-line N         longest message in bytes, LF included (default %d)\n"
	"  --max-clients N      clients served at once; more get \"ERR server busy\" (default %d)\n"
	"  --idle-timeout SECS  close a connection quiet for this long; 0 never (default 0)\n"
	"  --verbose            log each connection's open and close on stderr\n"
	"  --help               show this and exit\n";

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

void options_parse(struct server_opts *o, const char *prog, int argc, char **argv)
{
	enum { OPT_HOST = 1, OPT_PORT, OPT_MAX_LINE, OPT_MAX_CLIENTS, OPT_IDLE, OPT_VERBOSE, OPT_HELP };
	static const struct option longopts[] = {
		{"host", required_argument, NULL, OPT_HOST},
		{"port", required_argument, NULL, OPT_PORT},
		{"max-line", required_argument, NULL, OPT_MAX_LINE},
		{"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
		{"idle-timeout", required_argument, NULL, OPT_IDLE},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	int opt;

	*o = (struct server_opts){
		.host = NULL,
		.port = OPTIONS_DEFAULT_PORT,
		.max_line = OPTIONS_DEFAULT_MAX_LINE,
		.max_clients = OPTIONS_DEFAULT_MAX_CLIENTS,
		.idle_timeout = 0,
		.verbose = false,
	};
	/* Our own messages name the problem in our words; getopt's would not say
	 * which program is complaining in a pipeline. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_HOST:
			o->host = optarg;
			break;
		case OPT_PORT:
			option_number(prog, "port", optarg, 0, 65535);
			o->port = optarg;
			break;
		case OPT_MAX_LINE:
			/* 64 MiB: a buffer per connection is this big, so the bound is
			 * what keeps memory per connection bounded. */
			o->max_line = option_number(prog, "max-line", optarg, 1, 64u << 20);
			break;
		case OPT_MAX_CLIENTS:
			o->max_clients = option_number(prog, "max-clients", optarg, 1, 1000000);
			break;
		case OPT_IDLE:
			o->idle_timeout = option_number(prog, "idle-timeout", optarg, 0, 2000000);
			break;
		case OPT_VERBOSE:
			o->verbose = true;
			break;
		case OPT_HELP:
			printf(usage_text, prog, OPTIONS_DEFAULT_MAX_LINE, OPTIONS_DEFAULT_MAX_CLIENTS);
			exit(0);
		case ':':
			fprintf(stderr, "%s: %s needs a value\n", prog, argv[optind - 1]);
			exit(2);
		default:
			fprintf(stderr, "%s: unknown option '%s' (try --help)\n", prog, argv[optind - 1]);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", prog, argv[optind]);
		exit(2);
	}
}
