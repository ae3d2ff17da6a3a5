// gbench: Google Benchmark harness over the echolab C code.
//
//   framing.cc    framer_feed throughput by message size
//   readiness.cc  select / poll / epoll_wait cost versus registered descriptors
//                 (Kerrisk, LCA 2006); kerrisk_table.sh turns it into a table
//   roundtrip.cc  one 64-byte message echoed over loopback, per model
//   coro_switch.cc  one coroutine switch there and back: coro's, swapcontext's
//
// A hand-written main instead of BENCHMARK_MAIN() because the round-trip
// benchmarks are registered at run time, from models/models.list.
#include <benchmark/benchmark.h>

#include "gbench.h"

int main(int argc, char **argv)
{
	raise_nofile_limit();
	register_roundtrip_benchmarks();
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
