/* churn: the cost of a connection (--load --churn).
 *
 * `connections` loops run at once, each as fast as it can: connect, send one
 * message, read its echo and check every byte, close, and again with a new
 * connection. This is the client of UNP chapter 30 (Figure 30.1 measures the
 * server CPU each design spends per connection): it makes the server pay for
 * accept, for whatever it does per client (a fork, a thread, a registration)
 * and for the close, once per message.
 *
 * One thread, one epoll loop; the report gives connections/s (in --json
 * "connections_per_sec", equal to messages_per_sec) and the latency of a whole
 * connection, connect to verified echo. The client closes first, so the
 * TIME_WAIT state is the client's; Linux reuses such loopback ports after a
 * second (net.ipv4.tcp_tw_reuse = 2), which bounds a run at about 28,000
 * connections/s per server address (the ephemeral port range).
 */
#ifndef ECHOLAB_CLIENT_CHURN_H
#define ECHOLAB_CLIENT_CHURN_H

#include "load_opts.h"

/* Runs the churn load and prints the report; returns the exit status. */
int churn_run(const char *host, const char *port, const struct load_opts *o);

#endif
