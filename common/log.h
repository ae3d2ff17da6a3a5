/* log: messages on stderr. Each call is one write, so lines from many processes
 * or threads never mix within a line. */
#ifndef ECHOLAB_LOG_H
#define ECHOLAB_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "peer.h"

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A problem, prefixed with the program's name ("echo-poll: ...") so that it is
 * clear who is complaining when several programs share a terminal. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A runtime failure the server cannot serve past: message and exit status 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A system's reason text for the middle of a sentence, where every message of
 * this project writes it lower-case: "cannot listen on 1.2.3.4 port 80:
 * cannot assign requested address", not "...: Cannot assign...". The text
 * lives in a compound literal, i.e. as long as the enclosing block: use it
 * straight in a message's arguments. error_text is for errno values
 * (strerror), mid_sentence for any other text (gai_strerror, say). */
#define MID_SENTENCE_MAX 160
#define mid_sentence(text) mid_sentence_into((text), (char[MID_SENTENCE_MAX]){0}, MID_SENTENCE_MAX)
#define error_text(err) mid_sentence(strerror(err))
const char *mid_sentence_into(const char *text, char *buf, size_t size);

/* --verbose connection log; does nothing unless verbose. */
void log_open(bool verbose, const struct peer *p);
void log_close(bool verbose, const struct peer *p, const char *why);

#endif
