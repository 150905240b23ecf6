// Shared pieces of the remote benchmarks (remote_bench for troupe, caf_remote_bench for
// CAF 0.17's io module): sizes, the flow-control window, percentiles, and the server
// child process.
//
// Every run uses two processes on loopback. The program started by test/bench/run-all is
// the client (process A); before it builds any actor system it starts itself again as the
// server (process B), with the workload and the role "--server" as arguments:
//
//   parent                                 child (--server WORKLOAD SCALE)
//   server_process srv(argv[0], "remote_throughput", 1.0);
//                                          binds 127.0.0.1 port 0, prints "port N"
//   srv.port() -> N  (waits up to 30 s)
//   ... runs the workload against N ...
//   srv.stop()  closes the child's stdin   reads EOF on stdin, shuts down, exits
//               waits up to 5 s, then SIGKILL
//
// No stray process survives a run: the child dies with its parent (PR_SET_PDEATHSIG, also
// when run-all kills the parent after its timeout), and each side arms an alarm() as a
// last resort. Port 0 means no two runs ever contend for a port.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench::remote {

// ---- workload sizes (identical for both runtimes) ----
inline constexpr std::size_t payload_size = 100;              ///< bytes of each message
inline constexpr std::int64_t throughput_warmup = 200'000;    ///< not timed
inline constexpr std::int64_t throughput_count = 2'000'000;   ///< timed at the receiver
/// Flow control, the same protocol for both runtimes: the receiver acknowledges every
/// `ack_every` messages and the sender never has more than `window` unacknowledged. The
/// window is below troupe's default outbound-queue-size (3072 per lane), so troupe's
/// queue can never overflow (the client also checks dropped_queue_full == 0).
inline constexpr std::int64_t window = 2048;
inline constexpr std::int64_t ack_every = 256;
inline constexpr std::int64_t rtt_warmup = 2'000;
inline constexpr std::int64_t rtt_count = 20'000;

/// Seconds a process may live: the alarm() that kills a stuck client or server.
inline constexpr unsigned watchdog_seconds = 110;

/// The message every workload sends: `payload_size` bytes.
inline std::string payload() { return std::string(payload_size, 'x'); }

/// The p-th percentile (0 < p <= 100) of `v` by the nearest-rank method (sorts `v`).
inline double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

/// Microseconds between two time points.
inline double micros(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// ---- the server side ----

/// In the child: tell the parent the bound port (one line on stdout).
inline void announce_port(unsigned port) {
  std::printf("port %u\n", port);
  std::fflush(stdout);
}

/// In the child: block until the parent closes our stdin (the end of the run).
inline void wait_for_parent() {
  char buf[64];
  while (true) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) return;
    if (n < 0 && errno != EINTR) return;
  }
}

// ---- the client side ----

/// The server process of one run (see the top of this file).
class server_process {
 public:
  /// Starts `self --server WORKLOAD SCALE` (SCALE scales the sizes, as for the client).
  server_process(const char* self, std::string_view workload, double scale) {
    int to_child[2], from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) fail("pipe");
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) fail("fork");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(3);  // the parent died before prctl
      ::dup2(to_child[0], STDIN_FILENO);
      ::dup2(from_child[1], STDOUT_FILENO);
      const std::string w(workload), sc = std::to_string(scale);
      const char* args[] = {self, "--server", w.c_str(), sc.c_str(), nullptr};
      ::execv("/proc/self/exe", const_cast<char* const*>(args));
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    stdin_ = to_child[1];
    stdout_ = from_child[0];
  }
  ~server_process() { stop(); }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  /// The port the server bound, read from its first line (waits up to 30 s).
  unsigned short port() {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) fail("the server did not print its port within 30 s");
      pollfd p{stdout_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char buf[128];
      const ssize_t n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) fail("the server exited before printing its port");
      line.append(buf, static_cast<std::size_t>(n));
    }
    unsigned port = 0;
    if (std::sscanf(line.c_str(), "port %u", &port) != 1 || port == 0 || port > 65535) {
      fail(("unexpected first line from the server: " + line).c_str());
    }
    return static_cast<unsigned short>(port);
  }

  /// Ends the server: closes its stdin, waits up to 5 s for it to exit, then kills it.
  /// Returns its exit status (as waitpid reports it), or -1 when it had to be killed.
  int stop() {
    if (pid_ <= 0) return 0;
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (true) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (r < 0 && errno != EINTR) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        status = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (stdout_ >= 0) ::close(stdout_);
    stdout_ = -1;
    pid_ = 0;
    return status;
  }

 private:
  [[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "remote bench: %s (%s)\n", what, std::strerror(errno));
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::exit(1);
  }

  pid_t pid_ = 0;
  int stdin_ = -1;
  int stdout_ = -1;
};

}  // namespace bench::remote
