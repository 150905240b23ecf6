// child_process: a program that a process or fault test runs: stdin /dev/null, stdout a
// pipe read without blocking, line by line, stderr a file. It dies with the test process
// (PR_SET_PDEATHSIG), and the destructor kills and reaps it.
//
//   child_process p({exe, "--json"}, dir / "node1.err",
//                   [&](int code) { /* reaped: code is the exit status, -1 for a signal */ });
//   for (const auto& line : p.read_lines()) handle(line);   // complete lines since the last call
//   p.kill_9();                                             // SIGKILL, then reaped
//
// pump_all, pump_until and pump_for read a group of such children (a test's fleet).
//
// Everything the child needs is prepared before fork; after it, the child makes only
// async-signal-safe calls before exec.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "temp_files.hpp"

namespace troupe::test_support {

class child_process {
 public:
  /// Starts `args[0]` with `args`; `on_exit(code)` runs when it is reaped by `read_lines`
  /// or `kill_9` (not by the destructor).
  child_process(std::vector<std::string> args, std::filesystem::path stderr_path,
                std::function<void(int code)> on_exit = {})
      : stderr_path_(std::move(stderr_path)), on_exit_(std::move(on_exit)) {
    if (args.empty()) throw std::invalid_argument("child_process: no program");
    const int err_fd = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out[2];
    if (err_fd < 0 || null_fd < 0 || pipe2(out, O_CLOEXEC) != 0) {
      if (err_fd >= 0) close(err_fd);
      if (null_fd >= 0) close(null_fd);
      throw std::runtime_error("cannot prepare the pipes of " + args[0]);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      close(err_fd);
      close(null_fd);
      close(out[0]);
      close(out[1]);
      throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // the test died before the line above
      dup2(null_fd, 0);
      dup2(out[1], 1);
      dup2(err_fd, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(err_fd);
    close(null_fd);
    close(out[1]);
    stdout_ = out[0];
    fcntl(stdout_, F_SETFL, fcntl(stdout_, F_GETFL) | O_NONBLOCK);
  }

  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);  // also ends a stopped child
      wait_for_exit(0);
    }
    if (stdout_ >= 0) close(stdout_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The complete lines printed since the last call (never blocks); once its stdout has
  /// closed, reaps the child if it has ended.
  std::vector<std::string> read_lines() {
    std::vector<std::string> lines;
    if (stdout_ >= 0) {
      std::array<char, 8192> chunk{};
      for (;;) {
        const ssize_t n = read(stdout_, chunk.data(), chunk.size());
        if (n > 0) {
          buffer_.append(chunk.data(), static_cast<std::size_t>(n));
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) {
          close(stdout_);
          stdout_ = -1;
        }
        break;
      }
      for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
        lines.push_back(buffer_.substr(0, nl));
        buffer_.erase(0, nl + 1);
      }
    }
    if (stdout_ < 0 && pid_ > 0) reap(WNOHANG);
    return lines;
  }

  /// SIGKILL, then reaped (its peers see FIN at once, then nothing); false when it had ended.
  bool kill_9() {
    if (pid_ <= 0) return false;
    ::kill(pid_, SIGKILL);
    reap(0);
    return true;
  }

  /// Sends `sig` (SIGSTOP, SIGCONT, ...) to the running child; false when it cannot.
  bool signal(int sig) { return pid_ > 0 && ::kill(pid_, sig) == 0; }

  bool running() const { return pid_ > 0; }
  /// Its exit status once reaped (-1 when a signal ended it).
  std::optional<int> exit_code() const { return exit_code_; }
  /// Its stdout, to poll on (-1 once closed).
  int stdout_fd() const { return stdout_; }
  /// Its stderr so far.
  std::string stderr_text() const { return read_file(stderr_path_); }
  /// The last `max` bytes of its stderr.
  std::string stderr_tail(std::size_t max = 4000) const {
    const std::string err = stderr_text();
    return err.substr(err.size() > max ? err.size() - max : 0);
  }

 private:
  /// Waits for the child (blocking unless `flags` is WNOHANG); true once it is reaped.
  bool wait_for_exit(int flags) {
    int status = 0;
    pid_t r;
    do r = waitpid(pid_, &status, flags);
    while (r < 0 && errno == EINTR);
    if (r == 0) return false;
    pid_ = -1;
    exit_code_ = r > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return true;
  }

  void reap(int flags) {
    if (wait_for_exit(flags) && on_exit_) on_exit_(*exit_code_);
  }

  std::filesystem::path stderr_path_;
  std::function<void(int)> on_exit_;
  pid_t pid_ = -1;
  int stdout_ = -1;
  std::string buffer_;
  std::optional<int> exit_code_;
};

/// Reads the output of every child in `children` (pointers to objects with `stdout_fd()`
/// and `pump()`), first waiting up to `wait` until one of them has some.
template <class Children>
void pump_all(const Children& children, std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  for (const auto& c : children)
    if (c->stdout_fd() >= 0) fds.push_back({c->stdout_fd(), POLLIN, 0});
  if (!fds.empty()) poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  for (const auto& c : children) c->pump();
}

/// Calls `pump(50ms)` until `done()` holds: the milliseconds that took, or nullopt once
/// `timeout` has passed.
template <class Pump, class Done>
std::optional<std::int64_t> pump_until(Pump&& pump, std::chrono::milliseconds timeout, Done&& done) {
  using steady = std::chrono::steady_clock;
  const auto start = steady::now();
  for (;;) {
    pump(std::chrono::milliseconds(50));
    if (done()) return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count();
    if (steady::now() >= start + timeout) return std::nullopt;
  }
}

/// Calls `pump` for `duration` (a window in which the test watches what happens).
template <class Pump>
void pump_for(Pump&& pump, std::chrono::milliseconds duration) {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + duration;
  while (steady_clock::now() < deadline)
    pump(std::min(milliseconds(50), duration_cast<milliseconds>(deadline - steady_clock::now()) + milliseconds(1)));
}

}  // namespace troupe::test_support
