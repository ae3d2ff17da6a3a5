// Readiness-wait scaling: the cost of ONE select(), poll() or epoll_wait() call
// when N descriptors are registered and exactly one of them is ready. This
// repeats Michael Kerrisk's measurement (The Linux Programming Interface, 2010,
// Table 63-9):
// select and poll hand the kernel the whole interest list on every call, and the
// kernel polls every descriptor on it, so their cost grows with N; epoll keeps
// the interest list in the kernel, and a ready list beside it, so epoll_wait
// costs about the same whatever N is.
//
// Each benchmark also reports s_per_100k, seconds per 100,000 calls: the unit
// of Kerrisk's table, so kerrisk_table.sh can set our figures beside his.
#include <benchmark/benchmark.h>

#include <vector>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include "gbench.h"

namespace {

// N quiet descriptors, exactly one of them readable. They come from pipes, as in
// Kerrisk's test, and both ends of each pipe are watched for input: the write
// end of a pipe never becomes readable, so it is as quiet as an empty read end,
// and N watched descriptors take N file table slots, not 2N. N=10,000 then fits
// under the hard limit of 20,000 that containers often impose.
class QuietPipes {
public:
	explicit QuietPipes(size_t n)
	{
		// Slack for stdio, the epoll instance and the --benchmark_out file.
		if (n % 2 != 0 || raise_nofile_limit() < n + 16) {
			error_ = "N must be even and RLIMIT_NOFILE at least N+16";
			return;
		}
		for (size_t i = 0; i < n / 2; i++) {
			int p[2];
			if (pipe(p) != 0) {
				error_ = "pipe() failed";
				return;
			}
			fds_.push_back(p[0]);
			fds_.push_back(p[1]);
		}
		// One byte into the last pipe, never read: its read end stays ready for
		// the whole run. The last one has the highest number, so select cannot
		// stop scanning early (it cannot anyway: it checks every bit to nfds).
		if (write(fds_.back(), "x", 1) != 1)
			error_ = "write() to the ready pipe failed";
	}
	~QuietPipes()
	{
		for (int fd : fds_)
			close(fd);
	}
	QuietPipes(const QuietPipes &) = delete;
	QuietPipes &operator=(const QuietPipes &) = delete;

	const char *error() const { return error_; }
	const std::vector<int> &fds() const { return fds_; }
	int max_fd() const { return fds_.back(); }

private:
	std::vector<int> fds_;
	const char *error_ = nullptr;
};

// Seconds per 100,000 calls, from the measured time per call: a rate of
// iterations/100,000 per second, inverted. Rates divide by CPU time, the time
// that matters here: with a zero timeout no call ever sleeps, so CPU time is the
// cost of the call itself, and unlike wall-clock time it does not count the
// moments another process held the CPU (the machine is rarely quiet).
void report(benchmark::State &state, int64_t n)
{
	state.counters["s_per_100k"] = benchmark::Counter(
	        static_cast<double>(state.iterations()) / 1e5,
	        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
	state.counters["N"] = static_cast<double>(n);
}

void BM_Select(benchmark::State &state)
{
	const size_t n = static_cast<size_t>(state.range(0));
	QuietPipes pipes(n);
	if (pipes.error())
		return state.SkipWithError(pipes.error());
	if (pipes.max_fd() >= FD_SETSIZE)
		return state.SkipWithError("a descriptor is beyond FD_SETSIZE");

	for (auto _ : state) {
		// select overwrites its sets with the answer, so a server rebuilds the
		// set before every call. That is part of what select costs, and it is
		// timed here: FD_ZERO plus N FD_SETs, then the kernel copies the set
		// in, polls every descriptor below nfds, and copies the result out.
		fd_set readable;
		FD_ZERO(&readable);
		for (int fd : pipes.fds())
			FD_SET(fd, &readable);
		struct timeval now = {0, 0};
		int ready = select(pipes.max_fd() + 1, &readable, nullptr, nullptr, &now);
		if (ready != 1) {
			state.SkipWithError("select did not report exactly one");
			break;
		}
	}
	report(state, state.range(0));
}

void BM_Poll(benchmark::State &state)
{
	const size_t n = static_cast<size_t>(state.range(0));
	QuietPipes pipes(n);
	if (pipes.error())
		return state.SkipWithError(pipes.error());
	// Unlike select, poll writes its answer into revents and leaves events
	// alone, so a server keeps one array and passes it again; the kernel still
	// copies all N entries in and out, and polls each one, on every call.
	std::vector<struct pollfd> set;
	for (int fd : pipes.fds())
		set.push_back({fd, POLLIN, 0});

	for (auto _ : state) {
		int ready = poll(set.data(), set.size(), 0);
		if (ready != 1) {
			state.SkipWithError("poll did not report exactly one");
			break;
		}
	}
	report(state, state.range(0));
}

void BM_EpollWait(benchmark::State &state)
{
	const size_t n = static_cast<size_t>(state.range(0));
	QuietPipes pipes(n);
	if (pipes.error())
		return state.SkipWithError(pipes.error());
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return state.SkipWithError("epoll_create1 failed");
	// The interest list is built once, outside the timed loop: that is the
	// point of epoll. Level-triggered, so the unread byte keeps its
	// descriptor on the ready list and every call returns it.
	for (int fd : pipes.fds()) {
		struct epoll_event ev = {};
		ev.events = EPOLLIN;
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(ep);
			return state.SkipWithError("epoll_ctl failed");
		}
	}

	for (auto _ : state) {
		struct epoll_event ev;
		int ready = epoll_wait(ep, &ev, 1, 0);
		if (ready != 1) {
			state.SkipWithError("epoll_wait did not report exactly one");
			break;
		}
	}
	close(ep);
	report(state, state.range(0));
}

} // namespace

// select cannot go past FD_SETSIZE (1024): an fd_set has that many bits.
BENCHMARK(BM_Select)->Arg(10)->Arg(100)->Arg(1000);
BENCHMARK(BM_Poll)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_EpollWait)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);
