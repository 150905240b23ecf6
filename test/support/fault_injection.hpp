// Fault injection for the multi-process tests (see ../shared/FAULTS.md): shell commands,
// and partitions between loopback aliases in an iptables chain of the test's own.
//
//   std::string why;
//   auto partition = troupe::test_support::loopback_partition::make("TROUPE_PT_", why);
//   if (!partition) { WARN("skipped: " << why); return; }   // no iptables, or not root
//   partition->cut("127.78.0.1", "127.78.0.2");               // both ways
//   partition->heal();                                        // everything passes again
//   // the destructor unhooks and deletes the chain, whatever the test did
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

namespace troupe::test_support {

/// Runs a shell command; its exit status and its output (stdout and stderr).
inline std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::array<char, 512> buf{};
  while (fgets(buf.data(), static_cast<int>(buf.size()), p)) out += buf.data();
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// A partition between loopback aliases, in the iptables chain `<prefix><pid>` hooked into
/// INPUT on lo. The destructor unhooks and deletes it.
class loopback_partition {
 public:
  /// Creates the (empty) chain and hooks it in; null and the reason in `why` when iptables
  /// is missing or not permitted. First removes chains with the same prefix left by runs
  /// that were killed before their destructors ran (their pid is gone).
  static std::unique_ptr<loopback_partition> make(const std::string& prefix, std::string& why) {
    if (auto [rc, listing] = run("iptables -w -S"); rc == 0) {
      const std::regex stale("^-N (" + prefix + "([0-9]+))$");
      std::istringstream lines(listing);
      for (std::string line; std::getline(lines, line);) {
        std::smatch m;
        if (std::regex_match(line, m, stale) && ::kill(std::stoi(m[2].str()), 0) != 0 && errno == ESRCH)
          remove_chain(m[1].str());
      }
    }
    const std::string chain = prefix + std::to_string(getpid());
    auto [rc, out] = run("iptables -w -N " + chain);
    if (rc != 0) {
      why = "iptables -N failed (exit " + std::to_string(rc) + "): " + out;
      return nullptr;
    }
    auto [rc2, out2] = run("iptables -w -I INPUT -i lo -j " + chain);
    if (rc2 != 0) {
      run("iptables -w -X " + chain);
      why = "iptables -I INPUT failed (exit " + std::to_string(rc2) + "): " + out2;
      return nullptr;
    }
    return std::unique_ptr<loopback_partition>(new loopback_partition(chain));
  }
  ~loopback_partition() { remove_chain(chain_); }
  loopback_partition(const loopback_partition&) = delete;
  loopback_partition& operator=(const loopback_partition&) = delete;

  /// Drops every packet between `a` and `b`, both ways.
  void cut(const std::string& a, const std::string& b) {
    REQUIRE(run("iptables -w -A " + chain_ + " -s " + a + " -d " + b + " -j DROP").first == 0);
    REQUIRE(run("iptables -w -A " + chain_ + " -s " + b + " -d " + a + " -j DROP").first == 0);
  }
  /// Lets everything pass again.
  void heal() { REQUIRE(run("iptables -w -F " + chain_).first == 0); }

 private:
  explicit loopback_partition(std::string chain) : chain_(std::move(chain)) {}
  static void remove_chain(const std::string& chain) {
    run("iptables -w -F " + chain);
    while (run("iptables -w -D INPUT -i lo -j " + chain).first == 0) {
    }
    run("iptables -w -X " + chain);
  }
  std::string chain_;
};

}  // namespace troupe::test_support
