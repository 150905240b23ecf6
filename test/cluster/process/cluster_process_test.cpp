// The cluster across processes, under faults (issue 5): hello_cluster nodes
// (samples/hello_cluster, path in TROUPE_HELLO_CLUSTER_EXE) on loopback aliases, one of
// them killed, frozen, restarted, refused or cut off from the others with iptables.
//
// Each node prints one JSON object per line (`--json`); a test reads those lines, replays
// them into the node's view of the membership, and waits on conditions over the views with
// deadlines. The lines carry the wall clock (`ts`), so the lines of several nodes can be
// merged into one timeline, on which the partition test checks that there is no split brain.
// Every child is killed and reaped, every firewall rule removed and every file deleted by
// destructors, so a failing check leaves nothing behind.
//
// Addresses: node k of test t listens on 127.78.<run>.<10 t + k>:<2570 + k>, where <run>
// comes from this process's pid, so two runs at once (ctest -j, another engineer) are
// unlikely to share an address. Timing: Akka's defaults (gossip and heartbeat 1 s,
// acceptable pause 3 s, keep-majority with stable-after 7 s); only the restart test retries
// its join sooner. A failure prints every node's lines and stderr; TROUPE_FAULT_TRANSCRIPT=1
// prints them after a pass too. Each test prints its measured times ("[fault] ...").
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
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fault_injection.hpp"
#include "support/child_process.hpp"
#include "support/temp_files.hpp"

#ifndef TROUPE_HELLO_CLUSTER_EXE
#error "TROUPE_HELLO_CLUSTER_EXE must name the hello_cluster program"
#endif

using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

using troupe::test_support::loopback_partition;
using troupe::test_support::run;

constexpr const char* system_name = "fault";
constexpr const char* cookie = "troupe-fault-test";
constexpr milliseconds stable_after{7000};

/// Milliseconds since the epoch, the clock of the nodes' `ts`.
std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Node k's host in test t, unique to this process (see the file comment).
std::string host_of(int test, int k) {
  return "127.78." + std::to_string(1 + getpid() % 250) + "." + std::to_string(10 * test + k);
}
std::uint16_t port_of(int k) { return static_cast<std::uint16_t>(2570 + k); }
std::string address_of(int test, int k) {
  return std::string("troupe://") + system_name + "@" + host_of(test, k) + ":" + std::to_string(port_of(k));
}

/// The settings file of every node of a test: Akka's timing, keep-majority, seeds 1 and 2.
json cluster_config(int test, const std::string& with_cookie = cookie) {
  return json{{"system", system_name},
              {"remote", {{"host", host_of(test, 1)}, {"port", port_of(1)}, {"cookie", with_cookie}}},
              {"seed-nodes", {address_of(test, 1), address_of(test, 2)}},
              {"gossip-interval-ms", 1000},
              {"heartbeat-interval-ms", 1000},
              {"failure-detector", {{"acceptable-heartbeat-pause-ms", 3000}}},
              {"downing", {{"strategy", "keep-majority"}, {"stable-after-ms", stable_after.count()}}}};
}

using troupe::test_support::temp_dir;

/// A member as the events name it: its address and its incarnation's uid.
struct member_key {
  std::string node;
  std::string uid;
  friend auto operator<=>(const member_key&, const member_key&) = default;
};

/// One node's membership, replayed from its event lines.
struct node_view {
  std::map<member_key, std::string> members;  ///< status by member, removed ones erased
  std::set<member_key> unreachable;
  std::set<std::string> removed;  ///< addresses it has logged member_removed of
  std::string leader;             ///< "" while there is none
  bool stopped = false;           ///< it logged "stopped" or exited

  /// Applies one line; lines of other kinds leave the view as it was.
  void apply(const json& e) {
    const std::string ev = e.value("event", "");
    if (ev == "stopped" || ev == "exited") {
      stopped = true;
      return;
    }
    if (ev == "leader_changed") {
      leader = e.value("leader", "");
      return;
    }
    if (!e.contains("member")) return;
    const member_key m{e["member"].value("node", ""), e["member"].value("uid", "")};
    if (ev == "member_removed") {
      members.erase(m);
      unreachable.erase(m);
      removed.insert(m.node);
    } else if (ev == "unreachable_member") {
      unreachable.insert(m);
    } else if (ev == "reachable_member") {
      unreachable.erase(m);
    } else if (ev.rfind("member_", 0) == 0) {
      members[m] = e["member"].value("status", "");
    }
  }
};

/// A hello_cluster child process (test/support/child_process.hpp) and what it printed: its
/// JSON lines, and its view of the cluster built from them.
class cluster_node {
 public:
  cluster_node(std::string name, std::string host, std::uint16_t port, const std::filesystem::path& config,
               const std::filesystem::path& dir)
      : name_(std::move(name)),
        address_(std::string("troupe://") + system_name + "@" + host + ":" + std::to_string(port)),
        proc_({TROUPE_HELLO_CLUSTER_EXE, "--config", config.string(), "--host", host, "--port", std::to_string(port),
               "--json"},
              dir / (name_ + "-" + std::to_string(wall_ms()) + ".err"), [this](int code) { on_exit(code); }) {}

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }
  /// Its incarnation's uid, from its "started" line ("" before that line).
  const std::string& uid() const { return uid_; }
  member_key key() const { return {address_, uid_}; }
  const node_view& view() const { return view_; }
  const std::vector<json>& events() const { return events_; }
  bool running() const { return proc_.running(); }
  std::optional<int> exit_code() const { return proc_.exit_code(); }
  int stdout_fd() const { return proc_.stdout_fd(); }

  /// The first line of `event` about `member` (any member when empty), or nullptr.
  const json* find(const std::string& event, const std::optional<member_key>& member = std::nullopt) const {
    for (const auto& e : events_)
      if (e.value("event", "") == event &&
          (!member || (e.contains("member") && e["member"].value("node", "") == member->node &&
                       e["member"].value("uid", "") == member->uid)))
        return &e;
    return nullptr;
  }
  /// The `ts` of that line, or nullopt.
  std::optional<std::int64_t> ts_of(const std::string& event, const std::optional<member_key>& member = std::nullopt) const {
    const json* e = find(event, member);
    if (!e) return std::nullopt;
    return (*e)["ts"].get<std::int64_t>();
  }

  /// Reads what the child printed so far (non-blocking); reaps it once its stdout closed.
  void pump() {
    for (const auto& line : proc_.read_lines()) add_line(line);
  }

  /// Sends `sig` (SIGSTOP, SIGCONT) to the running child.
  void signal(int sig) { REQUIRE(proc_.signal(sig)); }

  /// SIGKILL, and reaps it: its peers see FIN at once, then nothing.
  void kill_9() {
    REQUIRE(proc_.kill_9());
    pump();
  }

  /// Its lines, then its stderr: what a failure report shows.
  std::string transcript() const {
    std::string out = "--- " + name_ + " " + address_ + " uid " + uid_ + "\n";
    for (const auto& l : lines_) out += l + "\n";
    const std::string err = proc_.stderr_tail();
    if (!err.empty()) out += "--- " + name_ + " stderr:\n" + err;
    return out;
  }
  /// Its stderr so far.
  std::string stderr_text() const { return proc_.stderr_text(); }

 private:
  void add_line(const std::string& line) {
    lines_.push_back(line);
    json e = json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("ts")) {
      e = json{{"event", "unparsed"}, {"line", line}, {"ts", wall_ms()}};
    }
    if (e.value("event", "") == "started") uid_ = e.value("uid", "");
    view_.apply(e);
    events_.push_back(std::move(e));
  }

  /// Its exit, recorded as an "exited" line.
  void on_exit(int code) {
    json e{{"event", "exited"}, {"code", code}, {"ts", wall_ms()}};
    lines_.push_back(e.dump());
    view_.apply(e);
    events_.push_back(std::move(e));
  }

  std::string name_;
  std::string address_;
  std::string uid_;
  std::vector<std::string> lines_;
  std::vector<json> events_;
  node_view view_;
  troupe::test_support::child_process proc_;  ///< last: destroyed (killed) first
};

/// The nodes of one test and its temporary files. Member order is destruction order in
/// reverse: the nodes go first, then the firewall chain, then the files.
class fleet {
 public:
  explicit fleet(int test) : test_(test) {}
  /// With TROUPE_FAULT_TRANSCRIPT set, prints every node's lines even when the test passed.
  ~fleet() {
    if (std::getenv("TROUPE_FAULT_TRANSCRIPT")) std::cout << transcript() << std::flush;
  }
  fleet(const fleet&) = delete;
  fleet& operator=(const fleet&) = delete;

  const std::filesystem::path& dir() const { return dir_.path(); }

  /// Writes a settings file into this test's directory.
  std::filesystem::path write_config(const std::string& name, const json& config) {
    const auto p = dir() / name;
    std::ofstream(p) << config.dump(2);
    return p;
  }

  /// Starts node k on its address of this test, with the settings in `config`.
  cluster_node& start(int k, const std::filesystem::path& config, const std::string& name = "") {
    nodes_.push_back(std::make_unique<cluster_node>(name.empty() ? "node" + std::to_string(k) : name,
                                                    host_of(test_, k), port_of(k), config, dir()));
    return *nodes_.back();
  }

  /// Makes this test's firewall chain; false (and a warning) when iptables is not permitted.
  bool make_partition() {
    std::string why;
    partition_ = loopback_partition::make("TROUPE_CPT_", why);
    if (!partition_) WARN("SKIPPED: cannot make a partition with iptables (needs the iptables package and root): " << why);
    return partition_ != nullptr;
  }
  loopback_partition& partition() { return *partition_; }

  /// Reads every node's output, waiting up to `wait` for some.
  void pump(milliseconds wait) { troupe::test_support::pump_all(nodes_, wait); }

  /// Reads the nodes' output until `pred` holds; fails the test with every node's
  /// transcript after `timeout`. Returns the milliseconds it waited.
  std::int64_t await(const std::string& what, milliseconds timeout, const std::function<bool()>& pred) {
    const auto waited = troupe::test_support::pump_until([this](milliseconds w) { pump(w); }, timeout, pred);
    if (!waited) {
      INFO(transcript());
      FAIL("timed out after " << timeout.count() << " ms waiting for " << what);
    }
    return *waited;
  }

  /// Reads the nodes' output for `duration`: a window in which nothing must happen.
  void observe(milliseconds duration) {
    troupe::test_support::pump_for([this](milliseconds w) { pump(w); }, duration);
  }

  /// Every node's lines and stderr.
  std::string transcript() const {
    std::string out;
    for (const auto& n : nodes_) out += n->transcript();
    return out;
  }

  /// True when each of `nodes` runs, has started, and sees exactly `nodes` as up members,
  /// none unreachable, and the same leader, one of them.
  static bool converged(const std::vector<cluster_node*>& nodes) {
    std::map<member_key, std::string> expected;
    std::set<std::string> addresses;
    for (const auto* n : nodes) {
      if (!n->running() || n->uid().empty()) return false;
      expected[n->key()] = "up";
      addresses.insert(n->address());
    }
    const std::string leader = nodes.front()->view().leader;
    if (!addresses.contains(leader)) return false;
    return std::all_of(nodes.begin(), nodes.end(), [&](const cluster_node* n) {
      return n->view().members == expected && n->view().unreachable.empty() && n->view().leader == leader;
    });
  }

  /// Every line of every node, ordered by `ts` (stable: a node's own order is kept), with
  /// the index of the node that printed it.
  std::vector<std::pair<std::size_t, const json*>> timeline() const {
    std::vector<std::pair<std::size_t, const json*>> out;
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      for (const auto& e : nodes_[i]->events()) out.emplace_back(i, &e);
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return (*a.second)["ts"].template get<std::int64_t>() < (*b.second)["ts"].template get<std::int64_t>();
    });
    return out;
  }

  std::size_t index_of(const cluster_node* n) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i].get() == n) return i;
    return nodes_.size();
  }

 private:
  int test_;
  temp_dir dir_{"troupe-cluster-fault"};
  std::unique_ptr<loopback_partition> partition_;
  std::vector<std::unique_ptr<cluster_node>> nodes_;
};

/// Starts nodes 1..n with `config` and waits until they form one converged cluster.
std::vector<cluster_node*> start_cluster(fleet& f, int n, const std::filesystem::path& config) {
  std::vector<cluster_node*> nodes;
  for (int k = 1; k <= n; ++k) nodes.push_back(&f.start(k, config));
  const auto ms = f.await(std::to_string(n) + " nodes up and converged", 40s, [&] { return fleet::converged(nodes); });
  std::cout << "[fault]   " << n << " nodes up and converged after " << ms << " ms\n";
  return nodes;
}

/// A member that has only just come up is not watched yet (its first heartbeat response is
/// expected after expected-response-after, 1 s): once every node has seen every other up
/// for 3 s, the failure detectors have a history, and a fault is detected in its usual time.
void watched_by_all(fleet& f, const std::vector<cluster_node*>& nodes) {
  std::int64_t latest_up = 0;
  for (const auto* n : nodes)
    for (const auto& e : n->events())
      if (e.value("event", "") == "member_up") latest_up = std::max(latest_up, e["ts"].get<std::int64_t>());
  if (const auto wait = latest_up + 3000 - wall_ms(); wait > 0) f.observe(milliseconds(wait));
}

std::vector<cluster_node*> without(std::vector<cluster_node*> nodes, const cluster_node* gone) {
  std::erase(nodes, gone);
  return nodes;
}

/// The largest `ts` of `event` about `member` over `nodes`, minus `since`; -1 when a node lacks it.
std::int64_t latest_after(const std::vector<cluster_node*>& nodes, const std::string& event, const member_key& member,
                          std::int64_t since) {
  std::int64_t latest = -1;
  for (const auto* n : nodes) {
    const auto ts = n->ts_of(event, member);
    if (!ts) return -1;
    latest = std::max(latest, *ts - since);
  }
  return latest;
}

/// The smallest such `ts` minus `since`; -1 when no node has it.
std::int64_t earliest_after(const std::vector<cluster_node*>& nodes, const std::string& event,
                            const member_key& member, std::int64_t since) {
  std::optional<std::int64_t> earliest;
  for (const auto* n : nodes)
    if (const auto ts = n->ts_of(event, member)) earliest = std::min(earliest.value_or(*ts), *ts);
  return earliest ? *earliest - since : -1;
}

}  // namespace

TEST_CASE("cluster processes: kill -9 of the leader of five nodes is detected and downed and removed and the rest "
          "converge",
          "[fault][cluster]") {
  const auto test_start = steady::now();
  fleet f(1);
  const auto config = f.write_config("cluster.json", cluster_config(1));
  auto nodes = start_cluster(f, 5, config);
  watched_by_all(f, nodes);

  // 1. Kill the leader (node 1: the lowest address, and the first seed).
  cluster_node* victim = nodes.front();
  REQUIRE(victim->view().leader == victim->address());
  const member_key gone = victim->key();
  const auto survivors = without(nodes, victim);
  const std::int64_t killed_at = wall_ms();
  victim->kill_9();

  // 2. Every survivor marks it unreachable, sees it downed and removed, and the four converge
  //    under a new leader.
  f.await("the killed node unreachable, downed and removed on every survivor, and the survivors converged", 40s,
          [&] {
            return std::all_of(survivors.begin(), survivors.end(),
                               [&](const cluster_node* n) {
                                 return n->find("unreachable_member", gone) && n->find("member_downed", gone) &&
                                        n->find("member_removed", gone);
                               }) &&
                   fleet::converged(survivors);
          });
  const std::int64_t settled_at = wall_ms();
  INFO(f.transcript());
  CHECK(survivors.front()->view().leader != victim->address());
  const auto unreachable_first = earliest_after(survivors, "unreachable_member", gone, killed_at);
  const auto unreachable_all = latest_after(survivors, "unreachable_member", gone, killed_at);
  const auto downed_first = earliest_after(survivors, "member_downed", gone, killed_at);
  const auto downed_all = latest_after(survivors, "member_downed", gone, killed_at);
  const auto removed_all = latest_after(survivors, "member_removed", gone, killed_at);
  // keep-majority waits stable-after from the (leader's) first sight of the unreachable node
  CHECK(downed_first - unreachable_first >= stable_after.count() - 50);
  for (const auto* n : survivors) {
    CHECK(*n->ts_of("member_removed", gone) >= *n->ts_of("member_downed", gone));
    CHECK(n->find("member_downed", n->key()) == nullptr);
  }
  std::cout << "[fault] kill -9 of the leader: unreachable after " << unreachable_first << ".." << unreachable_all
            << " ms, downed after " << downed_first << ".." << downed_all << " ms, removed on all survivors after "
            << removed_all << " ms, all seen converged after " << settled_at - killed_at << " ms; test "
            << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}

TEST_CASE("cluster processes: a partition of five nodes into two and three under keep-majority stops the minority "
          "and the majority converges without split brain",
          "[fault][cluster]") {
  const auto test_start = steady::now();
  fleet f(2);
  if (!f.make_partition()) return;
  const auto config = f.write_config("cluster.json", cluster_config(2));
  auto nodes = start_cluster(f, 5, config);
  watched_by_all(f, nodes);
  const std::vector<cluster_node*> minority{nodes[0], nodes[1]};
  const std::vector<cluster_node*> majority{nodes[2], nodes[3], nodes[4]};

  // 1. Cut {1, 2} from {3, 4, 5}: established connections hang, as in a real partition.
  const std::int64_t cut_at = wall_ms();
  for (int a = 1; a <= 2; ++a)
    for (int b = 3; b <= 5; ++b) f.partition().cut(host_of(2, a), host_of(2, b));

  // 2. The minority downs itself and stops (exit code 3); the majority removes it and
  //    converges on its three.
  f.await("the minority stopped and the majority converged without it", 60s, [&] {
    return std::all_of(minority.begin(), minority.end(), [](const cluster_node* n) { return n->exit_code().has_value(); }) &&
           std::all_of(majority.begin(), majority.end(), [&](const cluster_node* n) {
             return n->view().removed.contains(minority[0]->address()) &&
                    n->view().removed.contains(minority[1]->address());
           }) &&
           fleet::converged(majority);
  });
  const std::int64_t settled_at = wall_ms();
  INFO(f.transcript());
  for (const auto* n : minority) {
    CHECK(n->exit_code() == 3);
    const json* stopped = n->find("stopped");
    REQUIRE(stopped != nullptr);
    CHECK_THAT(stopped->value("reason", ""), Catch::Contains("downed"));
    CHECK(n->find("member_downed", n->key()) != nullptr);
    // 3. No minority node ever downs or removes a majority node.
    for (const auto* m : majority) {
      CHECK(n->find("member_downed", m->key()) == nullptr);
      CHECK_FALSE(n->view().removed.contains(m->address()));
    }
  }
  for (const auto* n : majority) CHECK(n->find("member_downed", n->key()) == nullptr);

  // 4. On the merged timeline: never an instant at which each side has a running, up
  //    leader that has removed every node of the other side.
  std::vector<node_view> views(5);
  auto serving_leader_removed = [&](const std::vector<cluster_node*>& side, const std::vector<cluster_node*>& other) {
    return std::any_of(side.begin(), side.end(), [&](const cluster_node* n) {
      const node_view& v = views[f.index_of(n)];
      const auto self = v.members.find(n->key());
      return !v.stopped && v.leader == n->address() && self != v.members.end() && self->second == "up" &&
             std::all_of(other.begin(), other.end(), [&](const cluster_node* o) { return v.removed.contains(o->address()); });
    });
  };
  std::optional<std::int64_t> split_brain_at;
  for (const auto& [i, e] : f.timeline()) {
    views[i].apply(*e);
    if (!split_brain_at && serving_leader_removed(minority, majority) && serving_leader_removed(majority, minority))
      split_brain_at = (*e)["ts"].get<std::int64_t>();
  }
  CHECK_FALSE(split_brain_at.has_value());

  const auto unreachable_all =
      std::max(latest_after(majority, "unreachable_member", minority[0]->key(), cut_at),
               latest_after(minority, "unreachable_member", majority[0]->key(), cut_at));
  std::int64_t minority_downed = -1, minority_stopped = -1, majority_downed = -1, majority_removed = -1;
  std::int64_t first_removal = std::numeric_limits<std::int64_t>::max();
  for (const auto* n : minority) {
    minority_downed = std::max(minority_downed, n->ts_of("member_downed", n->key()).value_or(cut_at - 1) - cut_at);
    minority_stopped = std::max(minority_stopped, n->ts_of("stopped").value_or(cut_at - 1) - cut_at);
    majority_downed = std::max(majority_downed, latest_after(majority, "member_downed", n->key(), cut_at));
    majority_removed = std::max(majority_removed, latest_after(majority, "member_removed", n->key(), cut_at));
    first_removal = std::min(first_removal, earliest_after(majority, "member_removed", n->key(), cut_at));
  }
  // How long the last minority node still ran once the majority had removed it (negative:
  // it had stopped before). Split brain would need a minority leader removing the majority too.
  std::cout << "[fault] partition 2|3: unreachable on all after " << unreachable_all << " ms, minority downed itself after "
            << minority_downed << " ms and stopped after " << minority_stopped << " ms, majority downed it after "
            << majority_downed << " ms and removed it after " << majority_removed << " ms (minority still ran "
            << minority_stopped - first_removal << " ms after the first removal), all seen settled after "
            << settled_at - cut_at << " ms; test "
            << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}

TEST_CASE("cluster processes: a node frozen with SIGSTOP past detection but within stable-after is unreachable then "
          "reachable again and nobody is downed",
          "[fault][cluster]") {
  const auto test_start = steady::now();
  fleet f(3);
  const auto config = f.write_config("cluster.json", cluster_config(3));
  auto nodes = start_cluster(f, 5, config);
  cluster_node* frozen = nodes.back();
  const member_key key = frozen->key();
  const auto others = without(nodes, frozen);

  watched_by_all(f, nodes);

  // 1. Freeze it until every other node has marked it unreachable, then half a second more.
  const auto stopped_at = steady::now();
  const std::int64_t stopped_wall = wall_ms();
  frozen->signal(SIGSTOP);
  f.await("the frozen node unreachable on every other node", stable_after - 1s, [&] {
    return std::all_of(others.begin(), others.end(), [&](const cluster_node* n) { return n->view().unreachable.contains(key); });
  });
  f.observe(500ms);  // the freeze itself: deliberately longer than detection
  frozen->signal(SIGCONT);
  const auto freeze_ms = std::chrono::duration_cast<milliseconds>(steady::now() - stopped_at).count();
  const std::int64_t continued_wall = wall_ms();
  const std::int64_t first_unreachable = earliest_after(others, "unreachable_member", key, 0);
  CHECK(freeze_ms < stable_after.count());

  // 2. Reachable again everywhere, and the five converge.
  f.await("the node reachable again and the five converged", 20s, [&] {
    return std::all_of(others.begin(), others.end(), [&](const cluster_node* n) { return n->find("reachable_member", key); }) &&
           fleet::converged(nodes);
  });
  // 3. Watch until well past the moment it would have been downed had it stayed
  //    unreachable: still nobody is downed, and the five stay converged.
  const auto downing_due = first_unreachable + stable_after.count() + 2000 - wall_ms();
  if (downing_due > 0) f.observe(milliseconds(downing_due));
  INFO(f.transcript());
  for (const auto* n : nodes) {
    CHECK(n->running());
    CHECK(n->find("member_downed") == nullptr);
    CHECK(n->find("member_removed") == nullptr);
  }
  CHECK(fleet::converged(nodes));
  const auto reachable_all = latest_after(others, "reachable_member", key, continued_wall);
  std::cout << "[fault] SIGSTOP: unreachable after " << earliest_after(others, "unreachable_member", key, stopped_wall)
            << ".." << latest_after(others, "unreachable_member", key, stopped_wall) << " ms, frozen for " << freeze_ms
            << " ms, reachable on all " << reachable_all << " ms after SIGCONT; test "
            << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}

TEST_CASE("cluster processes: a node restarted on the same address joins as a new incarnation and the old one is "
          "downed",
          "[fault][cluster]") {
  const auto test_start = steady::now();
  fleet f(4);
  json settings = cluster_config(4);
  settings["retry-unsuccessful-join-after-ms"] = 3000;  // Akka's 10 s would only make the test longer
  const auto config = f.write_config("cluster.json", settings);
  auto nodes = start_cluster(f, 3, config);

  // 1. Kill node 3 and start it again at once, before anyone notices it was gone.
  cluster_node* old = nodes.back();
  const member_key old_key = old->key();
  old->kill_9();
  const std::int64_t restarted_at = wall_ms();
  cluster_node& fresh = f.start(3, config, "node3-new");
  const std::vector<cluster_node*> after{nodes[0], nodes[1], &fresh};

  // 2. The old incarnation is downed and removed; the new one joins, and the three converge.
  f.await("the old incarnation downed and removed and the new one up everywhere", 40s, [&] {
    return std::all_of(nodes.begin(), nodes.end() - 1,
                       [&](const cluster_node* n) {
                         return n->find("member_downed", old_key) && n->find("member_removed", old_key);
                       }) &&
           fleet::converged(after);
  });
  INFO(f.transcript());
  CHECK(fresh.uid() != old_key.uid);
  CHECK(fresh.address() == old_key.node);
  for (const auto* n : after) CHECK(n->find("member_downed", n->key()) == nullptr);
  std::cout << "[fault] restart: old incarnation downed after "
            << latest_after({nodes[0], nodes[1]}, "member_downed", old_key, restarted_at) << " ms, removed after "
            << latest_after({nodes[0], nodes[1]}, "member_removed", old_key, restarted_at)
            << " ms, new incarnation up on all after " << latest_after(after, "member_up", fresh.key(), restarted_at)
            << " ms; test " << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}

TEST_CASE("cluster processes: a node with the wrong cookie cannot join", "[fault][cluster]") {
  const auto test_start = steady::now();
  fleet f(5);
  const auto config = f.write_config("cluster.json", cluster_config(5));
  const auto wrong = f.write_config("wrong-cookie.json", cluster_config(5, "not-the-cookie"));
  auto nodes = start_cluster(f, 3, config);

  // 1. The intruder (node 4, wrong cookie) and a control node (node 5, right cookie) start together.
  cluster_node& intruder = f.start(4, wrong, "intruder4");
  cluster_node& control = f.start(5, config, "control5");
  const auto intruder_started = steady::now();
  auto members = nodes;
  members.push_back(&control);

  // 2. The control joins, and the intruder's handshakes are refused for the cookie.
  f.await("the control node up everywhere and the intruder refused", 30s, [&] {
    return fleet::converged(members) && intruder.stderr_text().find("wrong cookie") != std::string::npos;
  });
  // 3. The intruder keeps trying well past the time the control needed: nobody admits it.
  f.observe(std::max(2000ms, 6000ms - std::chrono::duration_cast<milliseconds>(steady::now() - intruder_started)));
  INFO(f.transcript());
  CHECK(intruder.running());
  CHECK(intruder.find("self_up") == nullptr);
  CHECK(intruder.view().members.empty());
  for (const auto* n : members) {
    CHECK(std::none_of(n->events().begin(), n->events().end(), [&](const json& e) {
      return e.contains("member") && e["member"].value("node", "") == intruder.address();
    }));
  }
  CHECK(fleet::converged(members));
  std::cout << "[fault] wrong cookie: refused, control joined; test "
            << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}

TEST_CASE("cluster processes: the first seed killed and restarted while the other seed lives joins the running "
          "cluster",
          "[fault][cluster][seed]") {
  const auto test_start = steady::now();
  fleet f(6);
  json settings = cluster_config(6);
  settings["retry-unsuccessful-join-after-ms"] = 3000;
  const auto config = f.write_config("cluster.json", settings);
  auto nodes = start_cluster(f, 3, config);

  // 1. Kill the first seed (node 1) and start it again at once.
  cluster_node* old = nodes.front();
  const member_key old_key = old->key();
  old->kill_9();
  const std::int64_t restarted_at = wall_ms();
  cluster_node& fresh = f.start(1, config, "node1-new");
  const std::vector<cluster_node*> after{&fresh, nodes[1], nodes[2]};

  // 2. It joins the cluster of nodes 2 and 3 (a second cluster would never converge with them).
  f.await("the restarted first seed up in the running cluster", 40s, [&] {
    return std::all_of(nodes.begin() + 1, nodes.end(), [&](const cluster_node* n) { return n->find("member_removed", old_key); }) &&
           fleet::converged(after);
  });
  INFO(f.transcript());
  CHECK(fresh.uid() != old_key.uid);
  CHECK(fresh.stderr_text().find("does not form a new cluster") == std::string::npos);
  std::cout << "[fault] first seed restart: up on all after " << latest_after(after, "member_up", fresh.key(), restarted_at)
            << " ms; test " << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}

TEST_CASE("cluster processes: the first seed restarted after both seeds are gone waits and then joins the running "
          "cluster through the members it remembers",
          "[fault][cluster][seed]") {
  const auto test_start = steady::now();
  fleet f(7);
  // Each node keeps its own known-members file.
  std::vector<std::filesystem::path> configs{""};
  for (int k = 1; k <= 5; ++k) {
    json settings = cluster_config(7);
    settings["seed-node-timeout-ms"] = 2000;
    settings["known-members-file"] = (f.dir() / ("known-" + std::to_string(k))).string();
    configs.push_back(f.write_config("node" + std::to_string(k) + ".json", settings));
  }
  json forgetful = cluster_config(7);
  forgetful["seed-node-timeout-ms"] = 2000;
  const auto forgetful_config = f.write_config("forgetful.json", forgetful);
  std::vector<cluster_node*> nodes;
  for (int k = 1; k <= 5; ++k) nodes.push_back(&f.start(k, configs[static_cast<std::size_t>(k)]));
  f.await("5 nodes up and converged", 40s, [&] { return fleet::converged(nodes); });
  watched_by_all(f, nodes);

  // 1. Kill both seeds; the three others (a majority) down and remove them.
  const member_key seed1 = nodes[0]->key(), seed2 = nodes[1]->key();
  nodes[0]->kill_9();
  nodes[1]->kill_9();
  const std::vector<cluster_node*> survivors{nodes[2], nodes[3], nodes[4]};
  f.await("both seeds removed and the three others converged", 60s, [&] {
    return std::all_of(survivors.begin(), survivors.end(), [&](const cluster_node* n) {
             return n->find("member_removed", seed1) && n->find("member_removed", seed2);
           }) &&
           fleet::converged(survivors);
  });

  // 2. The first seed restarted without its known-members file asks only the seeds: nobody
  //    answers, and it waits (saying why) instead of forming a second cluster.
  cluster_node& lost = f.start(1, forgetful_config, "node1-forgetful");
  f.await("the first seed's warning", 20s,
          [&] { return lost.stderr_text().find("does not form a new cluster") != std::string::npos; });
  f.pump(milliseconds(200));
  CHECK(lost.find("member_up") == nullptr);
  CHECK(lost.view().members.empty());
  lost.kill_9();

  // 3. Restarted with its file, it asks the members it remembers and joins their cluster.
  const std::int64_t restarted_at = wall_ms();
  cluster_node& fresh = f.start(1, configs[1], "node1-new");
  const std::vector<cluster_node*> after{&fresh, nodes[2], nodes[3], nodes[4]};
  // (It may warn first: the survivors' transports reconnect to its address after a backoff,
  //  which can outlast the 2 s seed-node-timeout; it joins when their answer comes.)
  f.await("the restarted first seed up in the running cluster", 40s, [&] { return fleet::converged(after); });
  INFO(f.transcript());
  std::cout << "[fault] first seed restart with both seeds gone: up on all after "
            << latest_after(after, "member_up", fresh.key(), restarted_at) << " ms; test "
            << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms\n";
}
