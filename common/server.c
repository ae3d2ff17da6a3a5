#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "signals.h"

/* Each connection costs a descriptor, and the default soft limit (often 1024)
 * is far below what an event loop can serve; the hard limit is what the
 * administrator actually allows. */
static void raise_descriptor_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_error("warning: cannot raise the descriptor limit: %s", error_text(errno));
	}
}

void server_prepare(struct server *s, const struct model_info *model, enum server_style style,
                    int argc, char **argv)
{
	memset(s, 0, sizeof *s);
	s->name = model->name;
	options_parse(&s->opts, model, argc, argv);
	raise_descriptor_limit();
	s->stats = stats_create(style == SERVER_FORKING);
	signals_install(&s->signals);
}

void server_bind(struct server *s, enum server_style style)
{
	bool reuseport = style == SERVER_REUSEPORT;

	if (!listener_bind(&s->listener, &s->opts, style == SERVER_EVENT_DRIVEN || reuseport,
	                   reuseport, s->stats))
		exit(1);
}

void server_listen(struct server *s, const struct model_info *model, enum server_style style)
{
	if (model->flags & MODEL_DATAGRAM) {
		if (!listener_open_datagram(&s->listener, &s->opts, s->stats))
			exit(1);
		return;
	}
	if (style == SERVER_REUSEPORT)
		server_bind(s, style); /* announced once its siblings are bound */
	else if (!listener_open(&s->listener, &s->opts, style == SERVER_EVENT_DRIVEN, s->stats))
		exit(1);
}

void server_start(struct server *s, const struct model_info *model, enum server_style style,
                  int argc, char **argv)
{
	server_prepare(s, model, style, argc, argv);
	server_listen(s, model, style);
}

int server_finish(struct server *s)
{
	listener_close(&s->listener);
	signals_close(&s->signals);
	if (s->opts.verbose)
		stats_log_workers(s->stats); /* nothing unless the model tracks workers */
	stats_print_summary(s->stats, s->name);
	stats_destroy(s->stats);
	return 0;
}
