/* load_result: see load_result.h. */
#include "load_result.h"

#include <stdarg.h>
#include <stdio.h>

void load_errors_add(struct load_errors *e, const char *fmt, ...)
{
	if (e->count++ > 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->first, sizeof e->first, fmt, ap);
	va_end(ap);
}

void load_errors_merge(struct load_errors *into, const struct load_errors *from)
{
	if (into->count == 0 && from->count > 0)
		snprintf(into->first, sizeof into->first, "%s", from->first);
	into->count += from->count;
}

void load_result_errors(struct load_result *r, const struct load_errors *e)
{
	uint64_t errors = e->count;
	const char *first = e->first;
	char late[96];
	if (r->messages == 0 && errors == 0) {
		/* Echoes that all came back outside the window (in the warm-up or
		 * the drain) mean the run stalled, not that the server is silent. */
		errors = 1;
		first = "no echo completed in the measured window";
		if (r->verified > 0) {
			snprintf(late, sizeof late, "%s (%llu came back outside it)", first,
			         (unsigned long long)r->verified);
			first = late;
		}
	}
	r->errors = errors;
	if (errors > 1)
		snprintf(r->error_detail, sizeof r->error_detail, "%s (and %llu more)", first,
		         (unsigned long long)(errors - 1));
	else
		snprintf(r->error_detail, sizeof r->error_detail, "%s", first);
}
