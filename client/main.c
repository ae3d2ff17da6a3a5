/* echo-client: talk to any echolab server.
 *
 *   stdin a terminal   interactive: a prompt, one line at a time
 *   stdin redirected   pipe: stdin to the server, its echo to stdout, verbatim
 *   --load             load generator: many connections, a measured report
 *
 * Exit status: 0 success, 1 failure (cannot connect, error, mismatch, the
 * server went away early), 2 bad usage (or more connections than the descriptor
 * limit allows: refused before anything is opened).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "churn.h"
#include "cmdline.h"
#include "connect.h"
#include "interactive.h"
#include "load.h"
#include "options.h"
#include "pipe.h"
#include "udp_load.h"
#include "udp_pipe.h"

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
	"usage: " PROG " [--host HOST] [--port PORT] [--udp]\n"
	"       " PROG " --load [--host HOST] [--port PORT] [--churn | --udp] [load options]\n"
	"\n"
	"Without --load: if standard input is a terminal, prompts for lines and prints\n"
	"each echo; otherwise copies standard input to the server and everything the\n"
	"server sends to standard output, byte for byte, until the server closes.\n"
	"\n"
	"  --host HOST        server name or address (default " DEFAULT_HOST ")\n"
	"  --port PORT        server port (default " OPTIONS_DEFAULT_PORT ")\n"
	"  --udp              talk to a UDP echo server (bin/echo-udp): each input line is\n"
	"                     one datagram (without its LF), each reply is printed with an\n"
	"                     LF; a reply missing for 1 s is asked for again, 3 times,\n"
	"                     then reported (exit 1)\n"
	"  --help             show this help\n"
	"\n"
	"Load generator (--load): connects everything first, runs a warm-up that is\n"
	"not counted, measures, then waits up to 20 s for the echoes in flight. Every\n"
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
	"  --hold N           first open N more connections, send one line on each, and\n"
	"                     keep them open and idle during the run (default 0); at most\n"
	"                     10,000 a second, progress on stderr; past one address's\n"
	"                     ephemeral ports they leave from 127.0.0.2, 127.0.0.3, ...\n"
	"  --json             print one JSON object instead of the text report\n"
	"  --churn            a new connection per message: each of --connections loops\n"
	"                     connects, sends one message, checks its echo, closes, again;\n"
	"                     reports connections/s (\"connections_per_sec\" in --json)\n"
	"  --udp              datagram round trips: --connections UDP sockets, one datagram\n"
	"                     of --size bytes (at most 65507) in flight each; an echo not\n"
	"                     back within 250 ms is counted lost (\"lost\" in --json)\n"
	"  --churn and --udp run in one thread, one message in flight per loop or socket:\n"
	"  --depth, --rate, --threads and --hold do not apply to them.\n"
	"\n"
	"Exit status: 0 success, 1 connection failure or any error, 2 bad usage or more\n"
	"connections than the descriptor limit allows (ulimit -Hn; nothing is opened).\n";

struct client_opts {
	const char *host;
	const char *port;
	bool load;
	const char *load_option_name; /* the first load-only option, for "needs --load" */
	struct load_opts load_opts;
};

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
	OPT_DURATION, OPT_WARMUP, OPT_RATE, OPT_THREADS, OPT_JSON, OPT_HOLD, OPT_CHURN,
	OPT_UDP,
};

static const struct cmdline_option client_options[] = {
	{ "host", true, OPT_HOST },
	{ "port", true, OPT_PORT },
	{ "help", false, OPT_HELP },
	{ "load", false, OPT_LOAD },
	{ "connections", true, OPT_CONNECTIONS },
	{ "size", true, OPT_SIZE },
	{ "depth", true, OPT_DEPTH },
	{ "duration", true, OPT_DURATION },
	{ "warmup", true, OPT_WARMUP },
	{ "rate", true, OPT_RATE },
	{ "threads", true, OPT_THREADS },
	{ "json", false, OPT_JSON },
	{ "hold", true, OPT_HOLD },
	{ "churn", false, OPT_CHURN },
	{ "udp", false, OPT_UDP },
	{ NULL, false, 0 },
};

/* Handles one load-only option. */
static void load_option(struct load_opts *l, int opt, const char *arg)
{
	switch (opt) {
	case OPT_CONNECTIONS:
		l->connections = option_number(PROG, "connections", arg, 1, MAX_CONNECTIONS);
		break;
	case OPT_SIZE:
		l->size = option_number(PROG, "size", arg, 1, MAX_SIZE);
		break;
	case OPT_DEPTH:
		l->depth = option_number(PROG, "depth", arg, 1, MAX_DEPTH);
		break;
	case OPT_DURATION:
		l->duration_s = seconds_option("duration", arg, 0, false);
		break;
	case OPT_WARMUP:
		l->warmup_s = seconds_option("warmup", arg, 0, true);
		break;
	case OPT_RATE:
		l->rate = option_number(PROG, "rate", arg, 0, MAX_RATE);
		break;
	case OPT_THREADS:
		l->threads = option_number(PROG, "threads", arg, 1, MAX_THREADS);
		break;
	case OPT_JSON:
		l->json = true;
		break;
	case OPT_HOLD:
		l->hold = option_number(PROG, "hold", arg, 0, MAX_CONNECTIONS);
		break;
	case OPT_CHURN:
		l->churn = true;
		break;
	}
}

static void one_option(struct client_opts *o, int opt, const struct cmdline *cl)
{
	switch (opt) {
	case OPT_HOST:
		o->host = cl->value;
		break;
	case OPT_PORT:
		option_number(PROG, "port", cl->value, 1, 65535);
		o->port = cl->value;
		break;
	case OPT_HELP:
		fputs(usage_text, stdout);
		exit(0);
	case OPT_LOAD:
		o->load = true;
		break;
	case OPT_UDP:
		/* Both modes: pipe mode over datagrams, or datagram round trips. */
		o->load_opts.udp = true;
		break;
	default:
		load_option(&o->load_opts, opt, cl->value);
		if (o->load_option_name == NULL)
			o->load_option_name = cl->name;
	}
}

/* --churn and --udp keep one message in flight per loop, in one thread. */
static void check_one_in_flight(const struct load_opts *l, const struct cmdline *cl)
{
	if (!l->churn && !l->udp)
		return;
	const char *mode = l->churn ? "--churn" : "--udp";
	if (l->churn && l->udp)
		cmdline_usage_error(cl, "--churn measures TCP connections; it does not go with --udp");
	if (l->depth != 1)
		cmdline_usage_error(cl, "%s keeps one message in flight per loop: --depth does not "
		                    "apply", mode);
	if (l->rate != 0)
		cmdline_usage_error(cl, "%s is closed loop: --rate does not apply", mode);
	if (l->threads != 1)
		cmdline_usage_error(cl, "%s runs in one thread: --threads does not apply", mode);
	if (l->hold != 0)
		cmdline_usage_error(cl, "%s holds no idle connections: --hold does not apply", mode);
	if (l->udp && l->size > UDP_MAX_DATAGRAM)
		cmdline_usage_error(cl, "--size %zu is more than one UDP datagram can carry (%d)",
		                    l->size, UDP_MAX_DATAGRAM);
}

/* Combinations each option alone cannot judge. */
static void check_combination(const struct client_opts *o, const struct cmdline *cl)
{
	const struct load_opts *l = &o->load_opts;
	if (!o->load && o->load_option_name != NULL)
		cmdline_usage_error(cl, "--%s only applies to --load", o->load_option_name);
	if (!o->load)
		return;
	if (l->threads > l->connections)
		cmdline_usage_error(cl, "--threads %u is more than --connections %lu", l->threads,
		                    l->connections);
	check_one_in_flight(l, cl);
	if ((unsigned long long)l->connections * l->depth > MAX_IN_FLIGHT)
		cmdline_usage_error(cl, "--connections x --depth is more than %llu messages in flight",
		                    MAX_IN_FLIGHT);
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
	struct cmdline cl;
	int opt;
	cmdline_init(&cl, PROG, argc, argv);
	while ((opt = cmdline_next(&cl, client_options)) != 0)
		one_option(o, opt, &cl);
	check_combination(o, &cl);
}

/* If we were started with stdin, stdout or stderr closed, the socket would get
 * one of those numbers and our output would go to the server. open() returns
 * the lowest free number, so each gap is filled with /dev/null in turn.
 * Returns which were closed (bit fd set), so that a mode that needs one can
 * refuse instead of quietly reading or writing /dev/null. */
static unsigned keep_standard_descriptors_taken(void)
{
	unsigned closed = 0;

	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		closed |= 1u << fd;
		if (open("/dev/null", O_RDWR) < 0)
			exit(1);
	}
	return closed;
}

/* Every mode writes its results to standard output (the echo, or the load
 * report), and pipe mode reads standard input: with one of those closed it
 * fails at once, as `cat >&-` does, rather than throw the echo away. */
static bool standard_descriptors_usable(unsigned closed, bool load)
{
	if (closed & (1u << STDOUT_FILENO)) {
		fprintf(stderr, "%s: standard output is closed: nowhere to write the %s\n", PROG,
		        load ? "report" : "echo");
		return false;
	}
	if (!load && (closed & (1u << STDIN_FILENO))) {
		fprintf(stderr, "%s: standard input is closed: nothing to send\n", PROG);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct client_opts o;
	unsigned closed = keep_standard_descriptors_taken();
	parse_command_line(&o, argc, argv);
	if (!standard_descriptors_usable(closed, o.load))
		return 1;
	/* A server that vanishes, or a reader of stdout that does, shows up as EPIPE
	 * from the call that wrote, where it can be handled, instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	if (o.load && o.load_opts.churn)
		return churn_run(o.host, o.port, &o.load_opts);
	if (o.load && o.load_opts.udp)
		return udp_load_run(o.host, o.port, &o.load_opts);
	if (o.load)
		return load_run(o.host, o.port, &o.load_opts);
	if (o.load_opts.udp)
		return udp_pipe_run(o.host, o.port);
	int sock = connect_to(o.host, o.port, NULL);
	if (sock < 0)
		return 1;
	int status = isatty(STDIN_FILENO) ? interactive_run(sock) : pipe_run(sock);
	close(sock);
	return status;
}
