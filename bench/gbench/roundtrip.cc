// Round trip per model: one 64-byte message written to the server and read back
// in full, over loopback, one connection, nothing else in flight. That is the
// latency a model adds to the kernel's own path; echo-baseline shows the floor.
//
// The models come from models/models.list at run time, so a new model joins
// these benchmarks by being listed; one whose binary is missing is reported as
// skipped rather than failing the run. Each benchmark starts its server as a
// child (bin/echo-<model> --host 127.0.0.1 --port 0), reads the port from its
// "listening on 127.0.0.1:PORT" line, and stops it with SIGTERM at the end.
#include <benchmark/benchmark.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gbench.h"

namespace {

constexpr size_t kMessageBytes = 64;
constexpr int kStartupMs = 5000; // a server slower than this to listen is broken
constexpr int kStopMs = 3000;    // SIGTERM grace period before SIGKILL

// One server process, from start to reaped, with every process it forked. It
// gets a process group of its own, so its children (the fork model's) can be
// found and killed if it leaves any; and this process is made a subreaper, so
// such orphans become our children, not init's, and we can reap them: init in
// a container often reaps nothing, and they would stay as zombies.
class Server {
public:
	explicit Server(const std::string &path)
	{
		prctl(PR_SET_CHILD_SUBREAPER, 1);
		int out[2];
		if (pipe2(out, O_CLOEXEC) != 0) {
			error_ = "pipe2 failed";
			return;
		}
		const pid_t parent = getpid();
		pid_ = fork();
		if (pid_ == 0) {
			// Only async-signal-safe calls between fork and exec. If this
			// benchmark process dies, however it dies, the kernel kills the
			// server too: nothing is left behind.
			setpgid(0, 0);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(127);
			int null = open("/dev/null", O_WRONLY); // the summary line: not ours
			dup2(out[1], STDOUT_FILENO);
			if (null >= 0)
				dup2(null, STDERR_FILENO);
			close_range(3, ~0U, 0); // the server gets stdio, nothing of ours
			execl(path.c_str(), path.c_str(), "--host", "127.0.0.1", "--port", "0",
			      static_cast<char *>(nullptr));
			_exit(127);
		}
		close(out[1]);
		if (pid_ < 0) {
			close(out[0]);
			error_ = "fork failed";
			return;
		}
		setpgid(pid_, pid_); // also here: whichever side runs first, it is done
		out_ = out[0];
		port_ = read_port();
		if (port_ == 0)
			error_ = "no \"listening on 127.0.0.1:PORT\" line from the server";
	}

	// SIGTERM to the server alone: stopping its own children is part of its
	// orderly shutdown. Whatever is still alive after it is gone, or after
	// kStopMs, is killed; then every process of the group is reaped.
	~Server()
	{
		if (pid_ <= 0)
			return;
		kill(pid_, SIGTERM);
		for (int waited_ms = 0; waitpid(pid_, nullptr, WNOHANG) == 0; waited_ms += 10) {
			if (waited_ms >= kStopMs)
				kill(pid_, SIGKILL);
			struct timespec tick = {0, 10 * 1000 * 1000};
			nanosleep(&tick, nullptr);
		}
		killpg(pid_, SIGKILL); // ESRCH, normally: the group is empty
		while (waitpid(-pid_, nullptr, 0) > 0 || errno == EINTR)
			;
		close(out_); // kept open until now so a late stdout write cannot fail
	}

	Server(const Server &) = delete;
	Server &operator=(const Server &) = delete;

	const char *error() const { return error_; }
	int port() const { return port_; }

private:
	// The first stdout line, within kStartupMs; 0 if it never comes or is not
	// the expected one.
	int read_port()
	{
		std::string line;
		char c;
		struct pollfd pfd = {out_, POLLIN, 0};
		while (line.find('\n') == std::string::npos) {
			if (poll(&pfd, 1, kStartupMs) != 1 || read(out_, &c, 1) != 1)
				return 0;
			line.push_back(c);
		}
		int port = 0;
		if (std::sscanf(line.c_str(), "listening on 127.0.0.1:%d", &port) != 1)
			return 0;
		return port > 0 && port < 65536 ? port : 0;
	}

	pid_t pid_ = -1;
	int out_ = -1;
	int port_ = 0;
	const char *error_ = nullptr;
};

// A blocking TCP connection to 127.0.0.1:port with Nagle's algorithm off, since
// every write is a whole small message that should leave at once. -1 on failure.
int connect_loopback(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = {};
	sa.sin_family = AF_INET;
	sa.sin_port = htons(static_cast<uint16_t>(port));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	// A hung server must fail the benchmark, not hang it.
	struct timeval limit = {5, 0};
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0 ||
	    connect(fd, reinterpret_cast<struct sockaddr *>(&sa), sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

// Sends or receives exactly len bytes; false on error, timeout or EOF.
// MSG_NOSIGNAL: a server that died must fail the benchmark, not kill it.
bool send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n, len -= static_cast<size_t>(n);
	}
	return true;
}

bool recv_all(int fd, char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n, len -= static_cast<size_t>(n);
	}
	return true;
}

void round_trip(benchmark::State &state, const std::string &binary)
{
	if (access(binary.c_str(), X_OK) != 0)
		return state.SkipWithError(("not built: " + binary).c_str());
	Server server(binary);
	if (server.error())
		return state.SkipWithError(server.error());
	int fd = connect_loopback(server.port());
	if (fd < 0)
		return state.SkipWithError("cannot connect to the server");

	char message[kMessageBytes], echo[kMessageBytes];
	for (size_t i = 0; i < kMessageBytes - 1; i++)
		message[i] = static_cast<char>('a' + i % 26);
	message[kMessageBytes - 1] = '\n';

	for (auto _ : state) {
		// The load client's job is to check every byte; this check costs
		// little next to two system calls and keeps a broken model from
		// posting a good time.
		if (!send_all(fd, message, sizeof message) || !recv_all(fd, echo, sizeof echo) ||
		    std::memcmp(message, echo, sizeof echo) != 0) {
			state.SkipWithError("the echo failed or differed from the message");
			break;
		}
	}
	close(fd); // before the server stops: the fork model's child sees EOF
	state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
	state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kMessageBytes));
}

// The repository root: the working directory when run by make, else two levels
// above this executable (build/bench/gbench). Empty if neither holds the list.
std::string repo_root()
{
	if (access("models/models.list", R_OK) == 0)
		return ".";
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		std::string root(exe, static_cast<size_t>(n));
		for (int up = 0; up < 3; up++) { // drop /gbench, /bench, /build
			size_t slash = root.rfind('/');
			root.resize(slash == std::string::npos ? 0 : slash);
		}
		if (!root.empty() && access((root + "/models/models.list").c_str(), R_OK) == 0)
			return root;
	}
	return "";
}

void register_one(const std::string &name, const std::string &binary)
{
	benchmark::RegisterBenchmark(("BM_RoundTrip/" + name).c_str(),
	                             [binary](benchmark::State &state) {
		                             round_trip(state, binary);
	                             })
	        ->UseRealTime() // the client mostly sleeps in recv: wall time is the point
	        ->Unit(benchmark::kMicrosecond);
}

} // namespace

void register_roundtrip_benchmarks()
{
	const std::string root = repo_root();
	if (root.empty()) {
		std::cerr << "gbench: models/models.list not found; run from the repository root\n";
		return;
	}
	// The ceiling first, so each model reads against it.
	register_one("baseline", root + "/build/bench/echo-baseline");

	std::ifstream list(root + "/models/models.list");
	std::string line;
	while (std::getline(list, line)) {
		std::istringstream words(line);
		std::string model;
		if (!(words >> model) || model[0] == '#')
			continue;
		register_one(model, root + "/bin/echo-" + model);
	}
}
