// Framing throughput: how fast framer_feed finds message boundaries.
//
// The input is 256 KiB of messages of one size (size-1 bytes of text, then LF),
// fed in one call: the framer keeps no data, only the length of an unfinished
// message, so the way a stream is cut into reads does not change its work.
// Small messages measure the per-message overhead (one memchr call and the loop
// around it for each); large ones measure memchr's scanning speed.
#include <benchmark/benchmark.h>

#include <string>

extern "C" {
#include "framer.h"
}

namespace {

constexpr size_t kBufferBytes = 256 * 1024;
// One limit for every size, as a server is configured once for the longest
// message it accepts; it must admit the largest message measured here.
constexpr size_t kMaxLine = 64 * 1024;

void BM_Framing(benchmark::State &state)
{
	const size_t size = static_cast<size_t>(state.range(0));
	const size_t messages = kBufferBytes / size;
	std::string buf;
	for (size_t i = 0; i < messages; i++)
		buf.append(size - 1, 'x').push_back('\n');

	for (auto _ : state) {
		struct framer f;
		framer_init(&f, kMaxLine);
		struct framed out = framer_feed(&f, buf.data(), buf.size());
		benchmark::DoNotOptimize(out);
		if (out.messages != messages || out.complete != buf.size()) {
			state.SkipWithError("framer miscounted the messages");
			break;
		}
	}
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * buf.size()));
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * messages));
	state.SetLabel(std::to_string(size) + " B messages");
}

} // namespace

BENCHMARK(BM_Framing)->RangeMultiplier(4)->Range(16, 64 * 1024);
