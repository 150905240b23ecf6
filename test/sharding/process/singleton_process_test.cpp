// The cluster singleton across processes, under faults: five singleton_node programs
// (path in TROUPE_SINGLETON_NODE_EXE) on loopback aliases 127.79.<run>.<k>, a partition
// {the singleton's node, one other} | {three others} made with iptables, then kill -9 of
// the node that took the singleton over.
//
// Each node prints JSON lines stamped with the wall clock (see singleton_node.cpp); the
// test merges them into one timeline and checks that the singleton's lifetimes (from
// "singleton started" to "singleton stopped", or to the node's death) never overlap, and
// that the majority side ends with exactly one running. Without iptables or root the test
// is skipped with a warning, as the cluster's process tests are. Every child is killed and
// reaped, the firewall chain removed and the files deleted by destructors, even when a
// check fails; a failure prints every node's lines and stderr, as TROUPE_FAULT_TRANSCRIPT=1
// does after a pass.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fault_injection.hpp"
#include "support/child_process.hpp"
#include "support/temp_files.hpp"

#ifndef TROUPE_SINGLETON_NODE_EXE
#error "TROUPE_SINGLETON_NODE_EXE must name the singleton_node program"
#endif

using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

using troupe::test_support::loopback_partition;

constexpr int stable_after_ms = 2000;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Node k's host, unique to this process (two runs at once are unlikely to share it).
std::string host_of(int k) { return "127.79." + std::to_string(1 + getpid() % 250) + "." + std::to_string(k); }
int port_of(int k) { return 2600 + k; }
std::string address_of(int k) { return "troupe://sfault@" + host_of(k) + ":" + std::to_string(port_of(k)); }

using troupe::test_support::temp_dir;

/// A singleton_node child (test/support/child_process.hpp) and the JSON lines it printed.
class node_process {
 public:
  node_process(int k, const std::string& seeds, const std::filesystem::path& dir)
      : k_(k),
        address_(address_of(k)),
        proc_({TROUPE_SINGLETON_NODE_EXE, "--host", host_of(k), "--port", std::to_string(port_of(k)), "--seeds", seeds,
               "--stable-after-ms", std::to_string(stable_after_ms)},
              dir / ("node" + std::to_string(k) + ".err"), [this](int code) { on_exit(code); }) {}

  int k() const { return k_; }
  const std::string& address() const { return address_; }
  bool running() const { return proc_.running(); }
  int stdout_fd() const { return proc_.stdout_fd(); }
  const std::vector<json>& events() const { return events_; }
  /// When it died (kill -9 or exit), by the test's wall clock.
  std::optional<std::int64_t> ended_at() const { return ended_at_; }

  /// Status of each member in this node's view (removed ones erased).
  std::map<std::string, std::string> members() const {
    std::map<std::string, std::string> view;
    for (const auto& e : events_) {
      const std::string ev = e.value("event", "");
      if (!e.contains("member")) continue;
      const std::string node = e["member"].value("node", "");
      if (ev == "member_removed")
        view.erase(node);
      else if (ev.rfind("member_", 0) == 0)
        view[node] = e["member"].value("status", "");
    }
    return view;
  }
  /// The up number of each member this node has seen up.
  std::map<std::string, std::int64_t> up_numbers() const {
    std::map<std::string, std::int64_t> out;
    for (const auto& e : events_)
      if (e.value("event", "") == "member_up") out[e["member"].value("node", "")] = e["member"].value("up", 0);
    return out;
  }
  /// The times of its "singleton started" and "singleton stopped" lines, in order.
  std::vector<std::pair<bool, std::int64_t>> singleton_events() const {
    std::vector<std::pair<bool, std::int64_t>> out;
    for (const auto& e : events_) {
      const std::string ev = e.value("event", "");
      if (ev == "singleton started" || ev == "singleton stopped")
        out.emplace_back(ev == "singleton started", e["ts"].get<std::int64_t>());
    }
    return out;
  }
  std::size_t starts() const {
    std::size_t n = 0;
    for (const auto& [start, at] : singleton_events()) n += start;
    return n;
  }
  /// True while its last singleton line is "started" and it lives.
  bool holds_singleton() const {
    const auto es = singleton_events();
    return running() && !es.empty() && es.back().first;
  }

  /// Reads what it printed so far; reaps it once its stdout closed.
  void pump() {
    for (const auto& line : proc_.read_lines()) {
      lines_.push_back(line);
      json e = json::parse(line, nullptr, false);
      if (!e.is_discarded() && e.is_object() && e.contains("ts")) events_.push_back(std::move(e));
    }
  }

  /// SIGKILL, and reaps it.
  void kill_9() {
    REQUIRE(proc_.kill_9());
    pump();
  }

  std::string transcript() const {
    std::string out = "--- node" + std::to_string(k_) + " " + address_ + "\n";
    for (const auto& l : lines_) out += l + "\n";
    const std::string err = proc_.stderr_tail();
    if (!err.empty()) out += "--- stderr:\n" + err;
    return out;
  }

 private:
  void on_exit(int code) {
    ended_at_ = wall_ms();
    lines_.push_back("(ended, exit code " + std::to_string(code) + ")");
  }

  int k_;
  std::string address_;
  std::vector<std::string> lines_;
  std::vector<json> events_;
  std::optional<std::int64_t> ended_at_;
  troupe::test_support::child_process proc_;  ///< last: destroyed (killed) first
};

/// The nodes, the firewall chain and the files; destroyed in that order.
class fleet {
 public:
  ~fleet() {
    if (std::getenv("TROUPE_FAULT_TRANSCRIPT")) std::cout << transcript() << std::flush;
    nodes_.clear();
    partition_.reset();
  }
  bool make_partition() {
    std::string why;
    partition_ = loopback_partition::make("TROUPE_SPT_", why);
    if (!partition_)
      WARN("SKIPPED: cannot make a partition with iptables (needs the iptables package and root): " << why);
    return partition_ != nullptr;
  }
  loopback_partition& partition() { return *partition_; }
  node_process& start(int k, const std::string& seeds) {
    nodes_.push_back(std::make_unique<node_process>(k, seeds, dir_.path()));
    return *nodes_.back();
  }
  void pump(milliseconds wait) { troupe::test_support::pump_all(nodes_, wait); }
  /// Reads output until `pred` holds; fails with every transcript after `timeout`.
  std::int64_t await(const std::string& what, milliseconds timeout, const std::function<bool()>& pred) {
    const auto waited = troupe::test_support::pump_until([this](milliseconds w) { pump(w); }, timeout, pred);
    if (!waited) {
      INFO(transcript());
      FAIL("timed out after " << timeout.count() << " ms waiting for " << what);
    }
    return *waited;
  }
  void observe(milliseconds d) {
    troupe::test_support::pump_for([this](milliseconds w) { pump(w); }, d);
  }
  std::string transcript() const {
    std::string out;
    for (const auto& n : nodes_) out += n->transcript();
    return out;
  }
  /// Why the singleton's lifetimes overlap on the merged timeline, or "" when they never
  /// do. A lifetime without a stop line ends when its node died (or never, if it lives).
  std::string overlaps() const {
    struct life {
      int k;
      std::int64_t from, to;
    };
    std::vector<life> lives;
    for (const auto& n : nodes_) {
      std::optional<std::int64_t> open;
      for (const auto& [start, at] : n->singleton_events()) {
        if (start) {
          open = at;
        } else if (open) {
          lives.push_back({n->k(), *open, at});
          open.reset();
        }
      }
      if (open) lives.push_back({n->k(), *open, n->ended_at().value_or(std::numeric_limits<std::int64_t>::max())});
    }
    std::sort(lives.begin(), lives.end(), [](const life& a, const life& b) { return a.from < b.from; });
    std::string all;
    for (const auto& l : lives)
      all += "node" + std::to_string(l.k) + ": " + std::to_string(l.from) + " .. " + std::to_string(l.to) + "\n";
    for (std::size_t i = 1; i < lives.size(); ++i)
      if (lives[i].from < lives[i - 1].to) return "lifetimes overlap:\n" + all;
    return "";
  }

 private:
  temp_dir dir_{"troupe-singleton-fault"};
  std::unique_ptr<loopback_partition> partition_;
  std::vector<std::unique_ptr<node_process>> nodes_;
};

/// The oldest of `candidates` by the up numbers `seen_by` has seen (ties: the lower address).
node_process* oldest_of(const std::vector<node_process*>& candidates, const node_process& seen_by) {
  const auto ups = seen_by.up_numbers();
  node_process* best = nullptr;
  for (auto* n : candidates) {
    if (!ups.contains(n->address())) continue;
    if (!best || std::pair(ups.at(n->address()), n->address()) < std::pair(ups.at(best->address()), best->address()))
      best = n;
  }
  return best;
}

}  // namespace

TEST_CASE("singleton processes: a partition fences the singleton's side, kill -9 moves it again, and no two "
          "instances ever live at once",
          "[fault][singleton]") {
  const auto test_start = steady::now();
  fleet f;
  if (!f.make_partition()) return;
  const std::string seeds = address_of(1) + "," + address_of(2);

  // 1. Five nodes; all up everywhere, and the singleton on one of them.
  std::vector<node_process*> nodes;
  for (int k = 1; k <= 5; ++k) nodes.push_back(&f.start(k, seeds));
  auto all_up = [&] {
    return std::all_of(nodes.begin(), nodes.end(), [&](const node_process* n) {
      const auto view = n->members();
      return view.size() == 5 &&
             std::all_of(view.begin(), view.end(), [](const auto& m) { return m.second == "up"; });
    });
  };
  auto ms = f.await("5 nodes up everywhere", 30s, all_up);
  std::cout << "[fault]   5 nodes up after " << ms << " ms\n";
  node_process* holder = nullptr;
  f.await("the singleton started", 10s, [&] {
    for (auto* n : nodes)
      if (n->holds_singleton()) holder = n;
    return holder != nullptr;
  });
  // Failure detectors need a history of heartbeats before a fault is detected in its usual time.
  f.observe(1500ms);
  REQUIRE(std::count_if(nodes.begin(), nodes.end(), [](const node_process* n) { return n->starts() > 0; }) == 1);
  CHECK(holder == oldest_of(nodes, *nodes.back()));

  // 2. {holder, one other} | {three others}.
  std::vector<node_process*> minority{holder}, majority;
  for (auto* n : nodes)
    if (n != holder) (minority.size() < 2 ? minority : majority).push_back(n);
  for (auto* a : minority)
    for (auto* b : majority) f.partition().cut(host_of(a->k()), host_of(b->k()));
  const auto cut_at = wall_ms();
  ms = f.await("the holder fenced", 20s, [&] { return !holder->holds_singleton(); });
  std::cout << "[fault]   node" << holder->k() << " (minority) stopped the singleton " << ms << " ms after the cut\n";
  node_process* second = nullptr;
  ms = f.await("the singleton on the majority side", 30s, [&] {
    for (auto* n : majority)
      if (n->holds_singleton()) second = n;
    return second != nullptr;
  });
  CHECK(second == oldest_of(majority, *majority.front()));
  std::cout << "[fault]   node" << second->k() << " (majority) started it " << wall_ms() - cut_at
            << " ms after the cut\n";
  // The minority downed itself and its processes ended.
  f.await("the minority's processes ended", 20s, [&] {
    return std::none_of(minority.begin(), minority.end(), [](const node_process* n) { return n->running(); });
  });

  // 3. kill -9 of the new holder: the two left take it over once it is removed.
  const auto killed_at = wall_ms();
  second->kill_9();
  std::vector<node_process*> survivors;
  for (auto* n : majority)
    if (n != second) survivors.push_back(n);
  node_process* third = nullptr;
  f.await("the singleton on a survivor", 30s, [&] {
    for (auto* n : survivors)
      if (n->holds_singleton()) third = n;
    return third != nullptr;
  });
  CHECK(third == oldest_of(survivors, *survivors.front()));
  std::cout << "[fault]   node" << third->k() << " started it " << wall_ms() - killed_at << " ms after kill -9 of node"
            << second->k() << "\n";
  f.observe(1000ms);

  // 4. Never two at once, and exactly one running on the majority side at the end.
  INFO(f.transcript());
  CHECK(f.overlaps() == "");
  CHECK(std::count_if(survivors.begin(), survivors.end(), [](const node_process* n) { return n->holds_singleton(); }) ==
        1);
  CHECK(std::all_of(survivors.begin(), survivors.end(), [](const node_process* n) { return n->running(); }));
  std::cout << "[fault]   singleton partition and kill test took "
            << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}
