/* load_opts: what a load run is asked to do (--load and its options).
 *
 * Its own header, below every load module, so that each of them (the stream
 * load, its threads, churn, udp, the report) can take the options without
 * including the module that runs them: the include arrows run one way.
 */
#ifndef ECHOLAB_CLIENT_LOAD_OPTS_H
#define ECHOLAB_CLIENT_LOAD_OPTS_H

#include <stdbool.h>
#include <stddef.h>

struct load_opts {
	unsigned long connections;
	size_t size;           /* bytes per message, LF included */
	unsigned depth;        /* messages in flight per connection */
	double duration_s;     /* the measured window */
	double warmup_s;       /* load before the window, not counted */
	unsigned long rate;    /* messages per second in total; 0: closed loop */
	unsigned threads;
	unsigned long hold;    /* idle connections held open beside the load (hold.h) */
	bool json;
	bool churn;            /* a new connection per message (churn.h) */
	bool udp;              /* datagram round trips (udp_load.h) */
};

#define LOAD_DEFAULT_CONNECTIONS 10
#define LOAD_DEFAULT_SIZE 64
#define LOAD_DEFAULT_DEPTH 1
#define LOAD_DEFAULT_DURATION 5.0
#define LOAD_DEFAULT_WARMUP 1.0
#define LOAD_DEFAULT_THREADS 1

/* How long every load mode waits for the echoes in flight when the window
 * closes. It costs time only when echoes are really missing (the wait ends as
 * soon as the last one is back), so it is generous: on a loaded machine a
 * server that loses nothing can still take seconds to get its turn on a CPU. */
#define LOAD_DRAIN_SECONDS 20

#endif
