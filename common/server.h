/* server: what every model does before and after its own loop.
 *
 * server_start parses the command line, installs the signal handlers, opens the
 * listening socket and prints "listening on HOST:PORT". server_finish prints the
 * one-line summary. Between the two, a model file holds only its way of waiting
 * for and serving connections.
 */
#ifndef ECHOLAB_SERVER_H
#define ECHOLAB_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "accept.h"
#include "listener.h"
#include "options.h"
#include "signals.h"
#include "stats.h"

struct server {
	const char *name;         /* the model, e.g. "poll" */
	struct server_opts opts;
	struct listener listener;
	struct echo_stats *stats; /* shared memory for the fork model */
	struct signals signals;   /* signals.fd goes in every wait set (see signals.h) */
};

enum server_style {
	SERVER_BLOCKING,     /* blocking client sockets, one process */
	SERVER_FORKING,      /* blocking client sockets, counters shared with children */
	SERVER_EVENT_DRIVEN, /* non-blocking client sockets */
	SERVER_REUSEPORT,    /* the same, and the listener takes SO_REUSEPORT siblings
	                      * (listener_join); the model announces it when all are bound */
};

/* Exits 2 on bad usage, 0 after --help, 1 when the server cannot listen. A
 * MODEL_DATAGRAM model gets a bound UDP socket in s->listener.fd instead of a
 * listening TCP one (see datagram.h). */
void server_start(struct server *s, const struct model_info *model, enum server_style style,
                  int argc, char **argv);
/* server_start in two steps, for a model that must set something up after
 * the command line is read but before it announces that it listens (uring:
 * its ring; where io_uring is unavailable it says so and exits 1, and must not
 * have printed "listening on" first). */
void server_prepare(struct server *s, const struct model_info *model, enum server_style style,
                    int argc, char **argv);
void server_listen(struct server *s, const struct model_info *model, enum server_style style);
/* server_listen's TCP socket without the "listening on" line, for a model
 * that must start what serves it first (prefork: its pool of children) and
 * then announces it itself (listener_announce). */
void server_bind(struct server *s, enum server_style style);
/* Prints the summary on stderr and releases what server_start took; returns the
 * exit status for main. */
int server_finish(struct server *s);

#endif
