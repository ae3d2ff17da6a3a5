#include "cmdline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cmdline_init(struct cmdline *cl, const char *prog, int argc, char **argv)
{
	*cl = (struct cmdline){.prog = prog, .argc = argc, .argv = argv, .next = 1};
}

void cmdline_usage_error(const struct cmdline *cl, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cl->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try --help)\n", stderr);
	exit(2);
}

/* The option `spelled` names (its first `len` characters): an exact name
 * wins, else the one option it is a prefix of. */
static const struct cmdline_option *lookup(const struct cmdline *cl,
                                           const struct cmdline_option *options,
                                           const char *spelled, size_t len)
{
	const struct cmdline_option *found = NULL;
	char candidates[256] = "";
	int matches = 0;

	for (const struct cmdline_option *o = options; o->name != NULL; o++) {
		if (strncmp(o->name, spelled, len) != 0)
			continue;
		if (strlen(o->name) == len)
			return o;
		found = o;
		matches++;
		snprintf(candidates + strlen(candidates), sizeof candidates - strlen(candidates),
		         "%s--%s", matches > 1 ? ", " : "", o->name);
	}
	if (matches > 1)
		cmdline_usage_error(cl, "ambiguous option '--%.*s' (could be %s)", (int)len, spelled,
		                    candidates);
	if (found == NULL)
		cmdline_usage_error(cl, "unknown option '--%.*s'", (int)len, spelled);
	return found;
}

int cmdline_next(struct cmdline *cl, const struct cmdline_option *options)
{
	const struct cmdline_option *o;
	const char *arg, *equals;

	cl->value = NULL;
	cl->name = NULL;
	if (cl->next >= cl->argc)
		return 0;
	arg = cl->argv[cl->next++];
	/* No program here takes operands, so "--" has nothing to end. */
	if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
		if (arg[0] == '-' && arg[1] != '\0' && arg[1] != '-')
			cmdline_usage_error(cl, "unknown option '%s'", arg);
		cmdline_usage_error(cl, "unexpected argument '%s'", arg);
	}
	arg += 2;
	equals = strchr(arg, '=');
	o = lookup(cl, options, arg, equals ? (size_t)(equals - arg) : strlen(arg));
	cl->name = o->name;
	if (!o->takes_value) {
		if (equals != NULL)
			cmdline_usage_error(cl, "option '--%s' takes no value", o->name);
		return o->id;
	}
	if (equals != NULL)
		cl->value = equals + 1;
	else if (cl->next < cl->argc)
		cl->value = cl->argv[cl->next++];
	else
		cmdline_usage_error(cl, "--%s needs a value", o->name);
	return o->id;
}
