/* udp_load: datagram round trips (--load --udp).
 *
 * `connections` UDP sockets, each connected to the server and keeping one
 * datagram of `size` bytes in flight: send, wait for the echo, check every
 * byte, send the next. UDP may lose a datagram (on loopback: when a receive
 * buffer overflows), and waiting for an echo that will never come would hang
 * the run, so a datagram whose echo has not come within UDP_LOSS_TIMEOUT_MS
 * is counted lost and the socket moves on. An echo that turns up after that is
 * recognised (it is one of that socket's recent datagrams) and counted late,
 * not as a mismatch. Losses are reported ("lost" in --json), not errors; a
 * wrong byte, an "ERR" reply or a refused port is an error.
 */
#ifndef ECHOLAB_CLIENT_UDP_LOAD_H
#define ECHOLAB_CLIENT_UDP_LOAD_H

#include "load_opts.h"

#define UDP_LOSS_TIMEOUT_MS 250
/* Largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header). */
#define UDP_MAX_DATAGRAM 65507

int udp_load_run(const char *host, const char *port, const struct load_opts *o);

#endif
