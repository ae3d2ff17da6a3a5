#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void log_va(const char *prefix, const char *fmt, va_list ap)
{
	char line[512];
	int p = snprintf(line, sizeof line, "%s", prefix);
	int n = vsnprintf(line + p, sizeof line - 1 - (size_t)p, fmt, ap);

	if (n < 0)
		return;
	n += p;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* One write per line: stdio on an unbuffered stderr may split a line into
	 * several writes, and then lines from forked children would interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nowhere left to report a failure to report. */
	}
}

void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va("", fmt, ap);
	va_end(ap);
}

static void log_error_va(const char *fmt, va_list ap)
{
	char prefix[64];

	snprintf(prefix, sizeof prefix, "%s: ", program_invocation_short_name);
	log_va(prefix, fmt, ap);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_error_va(fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_error_va(fmt, ap);
	va_end(ap);
	exit(1);
}

void log_open(bool verbose, const struct peer *p)
{
	if (verbose)
		log_msg("open %s", peer_text(p));
}

void log_close(bool verbose, const struct peer *p, const char *why)
{
	if (verbose)
		log_msg("close %s (%s)", peer_text(p), why);
}

const char *mid_sentence_into(const char *text, char *buf, size_t size)
{
	snprintf(buf, size, "%s", text);
	/* Only a capital followed by a lower-case letter: an acronym such as
	 * "RPC ..." stays as it is. */
	if (isupper((unsigned char)buf[0]) && islower((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}
