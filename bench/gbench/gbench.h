// gbench: what the benchmark files share. Each .cc holds one family of
// benchmarks; main.cc starts them.
#ifndef ECHOLAB_GBENCH_H
#define ECHOLAB_GBENCH_H

#include <sys/resource.h>

// Raises the soft descriptor limit to the hard one. The readiness benchmarks
// need about 10,000 descriptors at once; the usual soft limit is 1024.
inline rlim_t raise_nofile_limit()
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

// roundtrip.cc: registers one benchmark per model in models/models.list, plus
// the baseline. Called from main before the benchmarks run.
void register_roundtrip_benchmarks();

#endif
