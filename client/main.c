/* echo-client: talk to any echolab server.
 *
 *   stdin a terminal   interactive: a prompt, one line at a time
 *   stdin redirected   pipe: stdin to the server, its echo to stdout, verbatim
 *   --load             load generator: many connections, a measured report
 *
 * Exit status: 0 success, 1 failure (cannot connect, error, mismatch, the
 * server went away early), 2 bad usage.
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connect.h"
#include "interactive.h"
#include "load.h"
#include "options.h"
#include "pipe.h"

#define PROG "echo-client"
#define DEFAULT_HOST "localhost"

/* Generous bounds that still keep a run's memory sane: each connection keeps a
 * send time per message in flight, and the payload table holds a few messages. */
#define MAX_CONNECTIONS 1000000
#define MAX_SIZE (64ull << 20) /* the servers' own --max-line bound */
#define MAX_DEPTH 65536
#define MAX_IN_FLIGHT (16ull << 20) /* connections x depth */
#define MAX_SECONDS 1e6
#define MAX_RATE 1000000000ull
#define MAX_THREADS 1024

static const char usage_text[] =
	"usage: " PROG " [--host HOST] [--port PORT]\n"
	"       " PROG " --load [--host HOST] [--port PORT] [load options]\n"
	"\n"
	"Without --load: if standard input is a terminal, prompts for lines and prints\n"
	"each echo; otherwise copies standard input to the server and everything the\n"
	"server sends to standard output, byte for byte, until the server closes.\n"
	"\n"
	"  --host HOST        server name or address (default " DEFAULT_HOST ")\n"
	"  --port PORT        server port (default " OPTIONS_DEFAULT_PORT ")\n"
	"  --help             show this help\n"
	"\n"
	"Load generator (--load): connects everything first, runs a warm-up that is\n"
	"not counted, measures, then waits up to 2 s for the echoes in flight. Every\n"
	"echoed byte is checked. Reports messages/s, MB/s and latency percentiles.\n"
	"\n"
	"  --load             run the load generator\n"
	"  --connections N    connections (default 10)\n"
	"  --size BYTES       bytes per message, LF included, at least 1 (default 64)\n"
	"  --depth N          messages in flight per connection; 1 = ping-pong (default 1)\n"
	"  --duration SECS    measured time, decimals allowed (default 5)\n"
	"  --warmup SECS      unmeasured time before it (default 1)\n"
	"  --rate N           open loop: N messages/s in total on a fixed schedule, latency\n"
	"                     from each message's due time; 0 = closed loop (default 0)\n"
	"  --threads N        threads sharing the connections, one epoll loop each (default 1)\n"
	"  --json             print one JSON object instead of the text report\n"
	"\n"
	"Exit status: 0 success, 1 connection failure or any error, 2 bad usage.\n";

struct client_opts {
	const char *host;
	const char *port;
	bool load;
	bool load_option_seen; /* the first load-only option, for "needs --load" */
	const char *load_option_name;
	struct load_opts load_opts;
};

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try --help)\n");
	exit(2);
}

/* Seconds as digits with an optional fraction ("2", "0.5", ".25"); no sign, no
 * exponent, nothing strtod alone would let through such as "inf" or "0x10". */
static double seconds_option(const char *name, const char *text, double min, bool min_allowed)
{
	size_t whole = strspn(text, "0123456789");
	size_t fraction = text[whole] == '.' ? strspn(text + whole + 1, "0123456789") : 0;
	size_t length = whole + (text[whole] == '.' ? 1 + fraction : 0);
	double value = whole + fraction > 0 && text[length] == '\0' ? strtod(text, NULL) : -1;
	if (value < min || (value == min && !min_allowed) || value > MAX_SECONDS) {
		fprintf(stderr, PROG ": --%s: '%s' is not a number of seconds %s %g and at most %.0f\n",
		        name, text, min_allowed ? "from" : "above", min, MAX_SECONDS);
		exit(2);
	}
	return value;
}

enum {
	OPT_HOST = 1, OPT_PORT, OPT_HELP, OPT_LOAD, OPT_CONNECTIONS, OPT_SIZE, OPT_DEPTH,
	OPT_DURATION, OPT_WARMUP, OPT_RATE, OPT_THREADS, OPT_JSON,
};

static const struct option long_options[] = {
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "load", no_argument, NULL, OPT_LOAD },
	{ "connections", required_argument, NULL, OPT_CONNECTIONS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "depth", required_argument, NULL, OPT_DEPTH },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ NULL, 0, NULL, 0 },
};

/* Handles one load-only option; false if `opt` is not one. */
static bool load_option(struct load_opts *l, int opt, const char *arg)
{
	switch (opt) {
	case OPT_CONNECTIONS:
		l->connections = option_number(PROG, "connections", arg, 1, MAX_CONNECTIONS);
		return true;
	case OPT_SIZE:
		l->size = option_number(PROG, "size", arg, 1, MAX_SIZE);
		return true;
	case OPT_DEPTH:
		l->depth = option_number(PROG, "depth", arg, 1, MAX_DEPTH);
		return true;
	case OPT_DURATION:
		l->duration_s = seconds_option("duration", arg, 0, false);
		return true;
	case OPT_WARMUP:
		l->warmup_s = seconds_option("warmup", arg, 0, true);
		return true;
	case OPT_RATE:
		l->rate = option_number(PROG, "rate", arg, 0, MAX_RATE);
		return true;
	case OPT_THREADS:
		l->threads = option_number(PROG, "threads", arg, 1, MAX_THREADS);
		return true;
	case OPT_JSON:
		l->json = true;
		return true;
	default:
		return false;
	}
}

static const char *option_name(int opt)
{
	for (const struct option *p = long_options; p->name; p++)
		if (p->val == opt)
			return p->name;
	return "?";
}

static void one_option(struct client_opts *o, int opt, char **argv)
{
	const char *current = argv[optind - 1];
	switch (opt) {
	case OPT_HOST:
		o->host = optarg;
		break;
	case OPT_PORT:
		option_number(PROG, "port", optarg, 1, 65535);
		o->port = optarg;
		break;
	case OPT_HELP:
		fputs(usage_text, stdout);
		exit(0);
	case OPT_LOAD:
		o->load = true;
		break;
	case ':':
		usage_error("%s needs a value", current);
		break;
	default:
		if (!load_option(&o->load_opts, opt, optarg))
			usage_error("unknown option '%s'", current);
		if (!o->load_option_seen) {
			o->load_option_seen = true;
			o->load_option_name = option_name(opt);
		}
	}
}

/* Combinations each option alone cannot judge. */
static void check_combination(const struct client_opts *o)
{
	const struct load_opts *l = &o->load_opts;
	if (!o->load && o->load_option_seen)
		usage_error("--%s only applies to --load", o->load_option_name);
	if (!o->load)
		return;
	if (l->threads > l->connections) {
		fprintf(stderr, PROG ": --threads %u is more than --connections %lu (try --help)\n",
		        l->threads, l->connections);
		exit(2);
	}
	if ((unsigned long long)l->connections * l->depth > MAX_IN_FLIGHT) {
		fprintf(stderr, PROG ": --connections x --depth is more than %llu messages in "
		        "flight (try --help)\n", MAX_IN_FLIGHT);
		exit(2);
	}
}

static void parse_command_line(struct client_opts *o, int argc, char **argv)
{
	*o = (struct client_opts){
		.host = DEFAULT_HOST,
		.port = OPTIONS_DEFAULT_PORT,
		.load_opts = {
			.connections = LOAD_DEFAULT_CONNECTIONS,
			.size = LOAD_DEFAULT_SIZE,
			.depth = LOAD_DEFAULT_DEPTH,
			.duration_s = LOAD_DEFAULT_DURATION,
			.warmup_s = LOAD_DEFAULT_WARMUP,
			.threads = LOAD_DEFAULT_THREADS,
		},
	};
	/* Our own messages, so that the complaint names this program whatever
	 * path it was started by. */
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":", long_options, NULL)) != -1)
		one_option(o, opt, argv);
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	check_combination(o);
}

/* If we were started with stdin, stdout or stderr closed, the socket would get
 * one of those numbers and our output would go to the server. open() returns
 * the lowest free number, so each gap is filled with /dev/null in turn. */
static void keep_standard_descriptors_taken(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			exit(1);
}

int main(int argc, char **argv)
{
	struct client_opts o;
	keep_standard_descriptors_taken();
	parse_command_line(&o, argc, argv);
	/* A server that vanishes, or a reader of stdout that does, shows up as EPIPE
	 * from the call that wrote, where it can be handled, instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	if (o.load)
		return load_run(o.host, o.port, &o.load_opts);
	int sock = connect_to(o.host, o.port, NULL);
	if (sock < 0)
		return 1;
	int status = isatty(STDIN_FILENO) ? interactive_run(sock) : pipe_run(sock);
	close(sock);
	return status;
}
