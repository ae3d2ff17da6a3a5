/* report: a load run's results on stdout, for people or (--json) for scripts. */
#ifndef ECHOLAB_CLIENT_REPORT_H
#define ECHOLAB_CLIENT_REPORT_H

#include "load_opts.h"
#include "load_result.h"

void report_print(const struct load_opts *o, const struct load_result *r);

#endif
