/* udp_pipe: standard input to a UDP server, one line per datagram (--udp).
 *
 * Each input line, without its LF, is sent as one datagram, and the reply
 * datagram is printed followed by an LF: a datagram is the message, so no
 * framing byte travels. An empty line is an empty datagram. Stop-and-wait: the
 * next line goes only after the reply to this one. A reply that does not come
 * within UDP_PIPE_TIMEOUT_MS is asked for again by resending, UDP_PIPE_RETRIES
 * times; then the client reports it and exits 1. A refused first datagram
 * (ICMP port unreachable) moves on to the host's next address, if any.
 * Returns the exit status: 0 once every line has had its reply. */
#ifndef ECHOLAB_CLIENT_UDP_PIPE_H
#define ECHOLAB_CLIENT_UDP_PIPE_H

#define UDP_PIPE_TIMEOUT_MS 1000
#define UDP_PIPE_RETRIES 3

int udp_pipe_run(const char *host, const char *port);

#endif
