// One coroutine switch there and back, two ways: models/coro/'s
// coro_resume + coro_park (on x86-64 its own user-space switch), and a pair
// of bare glibc swapcontext calls, which each also set the signal mask with
// an rt_sigprocmask system call. The difference is what a message at
// ping-pong pays in models/coro.c for each way of switching.
#include <benchmark/benchmark.h>

#include <ucontext.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

extern "C" {
#include "coro.h"
}

namespace {

constexpr size_t kStack = 64 * 1024;

void park_forever(struct coro *co)
{
	for (;;)
		coro_park(co);
}

void BM_CoroResumePark(benchmark::State &state)
{
	struct coro_runtime rt;
	coro_runtime_init(&rt, kStack);
	struct coro *co = coro_create(&rt, sizeof *co, park_forever, "gbench");
	if (co == nullptr) {
		state.SkipWithError("coro_create failed");
		coro_runtime_destroy(&rt);
		return;
	}
	for (auto _ : state)
		coro_resume(co); // in, and back at its coro_park
	// Never finished: its stack is simply given back.
	coro_destroy(co);
	coro_runtime_destroy(&rt);
}

ucontext_t loop_uc, co_uc;

void swap_forever()
{
	for (;;)
		swapcontext(&co_uc, &loop_uc);
}

void BM_Swapcontext(benchmark::State &state)
{
	std::vector<char> stack(kStack);
	getcontext(&co_uc);
	co_uc.uc_stack.ss_sp = stack.data();
	co_uc.uc_stack.ss_size = stack.size();
	co_uc.uc_link = nullptr;
	makecontext(&co_uc, swap_forever, 0);
	for (auto _ : state)
		swapcontext(&loop_uc, &co_uc); // in, and back
}

} // namespace

BENCHMARK(BM_CoroResumePark);
BENCHMARK(BM_Swapcontext);
