/* log: messages on stderr. Each call is one write, so lines from many processes
 * or threads never mix within a line. */
#ifndef ECHOLAB_LOG_H
#define ECHOLAB_LOG_H

#include <stdbool.h>

#include "peer.h"

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A problem, prefixed with the program's name ("echo-poll: ...") so that it is
 * clear who is complaining when several programs share a terminal. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A runtime failure the server cannot serve past: message and exit status 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* --verbose connection log; does nothing unless verbose. */
void log_open(bool verbose, const struct peer *p);
void log_close(bool verbose, const struct peer *p, const char *why);

#endif
