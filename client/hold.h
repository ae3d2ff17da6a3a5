/* hold: --hold N, idle connections beside a load run.
 *
 * Before the load starts, opens N more connections to the same server, sends
 * one line on each and reads its answer, so that every one of them has been
 * accepted and served once (or refused). Then they stay open and silent for
 * the whole run: the idle clients a real server has most of, and what makes
 * poll and select pay per wake-up for connections that are not ready.
 *
 * Tens of thousands of them: opened at a bounded rate (a burst would overflow
 * the server's listen backlog), with a progress line on stderr each second
 * the opening takes, spread over several loopback source addresses past one
 * address's ephemeral ports (sources.h), and all closed at the end.
 */
#ifndef ECHOLAB_CLIENT_HOLD_H
#define ECHOLAB_CLIENT_HOLD_H

#include <stdbool.h>

struct hold {
	int *fds;              /* the connections still open */
	unsigned long count;   /* how many of fds */
	unsigned long echoed;  /* answered with their line: served, now idle */
	unsigned long refused; /* answered "ERR server busy" (closed at once) */
	unsigned long silent;  /* no answer within the deadline (a serial server) */
};

/* Opens and probes n connections; prints one line on stderr saying what the
 * server did with them. False (after saying why) if one cannot even connect. */
bool hold_open(struct hold *h, const char *host, const char *port, unsigned long n);

/* Closes them all. */
void hold_close(struct hold *h);

#endif
