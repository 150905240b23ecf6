// Cluster sharding across processes, under faults: hello_sharding hosts (samples/hello_sharding,
// path in TROUPE_HELLO_SHARDING_EXE) on loopback aliases, with clients asking every greeter
// without pause, while the owner of some greeters is killed with SIGKILL or the cluster is
// cut 2|3 with iptables.
//
// Every process prints one JSON object per line (`--json`) with the wall clock in ms
// (`ts`): hosts print `greeter_started` / `greeter_stopped` (name, node) and `greeted`,
// clients `answered` (name, node) or `no_answer` per ask, both their member events. All
// processes read the same clock, so the lines merge into one timeline. From it a greeter's
// lifetime on a node runs from its `greeter_started` to its `greeter_stopped` (or to the
// node's `stopped` line, or to the moment the test reaped it); the tests check that the
// lifetimes of one name on different nodes never overlap, with no tolerance: a greeter
// that greets after post_stop or before pre_start cannot exist, and two lifetimes that
// touch at the same millisecond do not overlap (the clock has no finer grain, and the
// hand-over between them is causal). They also check that every `greeted` lies inside a
// lifetime of its node, that the names of a dead owner answer again from a survivor within
// a bound derived from the settings below, and that every name answers in every round
// afterwards.
//
// Addresses: process k of test t listens on 127.80.<run>.<10 t + k>:<2640 + k> (hosts
// k = 1..5, clients 8 and 9), <run> from this process's pid, so two runs at once are
// unlikely to share an address. Host 1 starts alone and is up before the others start, so
// it is the oldest member and runs the coordinator. The partition test needs root and
// iptables and is skipped with a warning without them. Every child is killed and reaped,
// the firewall chain removed and every file deleted by destructors, even when a check
// fails; a failure prints every process's lines and stderr, as TROUPE_FAULT_TRANSCRIPT=1
// does after a pass. Each test prints its measured times ("[fault] ...").
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
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fault_injection.hpp"
#include "support/child_process.hpp"
#include "support/temp_files.hpp"

#ifndef TROUPE_HELLO_SHARDING_EXE
#error "TROUPE_HELLO_SHARDING_EXE must name the hello_sharding program"
#endif

using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

using troupe::test_support::loopback_partition;

constexpr const char* system_name = "shfault";
constexpr const char* cookie = "troupe-sharding-fault-test";

// The timing every process of these tests runs with (Akka's, about four times faster),
// from which the failover bound is derived (see failover_bound).
constexpr milliseconds gossip_interval{500};
constexpr milliseconds heartbeat_interval{500};
constexpr milliseconds leader_interval{500};
constexpr milliseconds reaper_interval{500};
constexpr milliseconds acceptable_pause{2000};
constexpr milliseconds phi_margin{500};      ///< phi 8 is reached ~4 min-std-deviations (100 ms) after the pause
constexpr milliseconds stable_after{2000};
constexpr milliseconds downing_tick{1000};   ///< the resolver's tick, fixed in the daemon
constexpr milliseconds retry_interval{500};  ///< a region asks the coordinator again for a home
constexpr milliseconds recovery_timeout{1000};  ///< a new coordinator waits for registrations
constexpr milliseconds rebalance_interval{2000};

// The clients: names name-1..name-<names>, one ask after the other, then a pause.
constexpr int names = 20;
constexpr milliseconds ask_timeout{500};
constexpr milliseconds ask_interval{200};

constexpr std::int64_t forever = std::numeric_limits<std::int64_t>::max();

/// Milliseconds since the epoch, the clock of the processes' `ts`.
std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
std::int64_t since(steady::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady::now() - start).count();
}

/// Process k's host in test t, unique to this process (see the file comment).
std::string host_of(int test, int k) {
  return "127.80." + std::to_string(1 + getpid() % 250) + "." + std::to_string(10 * test + k);
}
int port_of(int k) { return 2640 + k; }
std::string address_of(int test, int k) {
  return std::string("troupe://") + system_name + "@" + host_of(test, k) + ":" + std::to_string(port_of(k));
}
std::string name_of(int i) { return "name-" + std::to_string(i); }

/// The cluster settings of every process of a test: fast timing, keep-majority, seeds 1 and 2
/// (the first may form the cluster alone).
json cluster_config(int test) {
  return json{{"system", system_name},
              {"remote", {{"host", host_of(test, 1)}, {"port", port_of(1)}, {"cookie", cookie}}},
              {"seed-nodes", {address_of(test, 1), address_of(test, 2)}},
              {"gossip-interval-ms", gossip_interval.count()},
              {"heartbeat-interval-ms", heartbeat_interval.count()},
              {"leader-actions-interval-ms", leader_interval.count()},
              {"unreachable-nodes-reaper-interval-ms", reaper_interval.count()},
              {"seed-node-timeout-ms", 2000},
              // Host 1 starts alone and must be the oldest (the coordinator's node).
              {"first-seed-forms-cluster-when-alone", true},
              {"retry-unsuccessful-join-after-ms", 2000},
              {"failure-detector",
               {{"acceptable-heartbeat-pause-ms", acceptable_pause.count()}, {"expected-response-after-ms", 500}}},
              {"downing", {{"strategy", "keep-majority"}, {"stable-after-ms", stable_after.count()}}}};
}

/// The sharding settings: the sample's, with the retries and the recovery made short.
json sharding_config() {
  return json{{"role", "greeter"},
              {"number-of-shards", 30},
              {"rebalance-interval-ms", rebalance_interval.count()},
              {"retry-interval-ms", retry_interval.count()},
              {"coordinator-recovery-timeout-ms", recovery_timeout.count()},
              {"passivation", {{"idle-timeout-ms", 120000}}}};
}

/// How long after a kill the owner's names may take to run on a survivor: detection
/// (the pause, one heartbeat interval, the phi margin, one reaper tick), the news on
/// every node (two gossip rounds), the resolver (stable-after and one tick), the down
/// converging and the leader removing (three gossip rounds and a leader tick), one
/// retry of a region for the home, and, when the coordinator died with the owner, its
/// recovery; then as much again as slack for a shared, noisy machine (but at least 3 s).
milliseconds failover_bound(bool coordinator_moved) {
  const milliseconds derived = acceptable_pause + heartbeat_interval + phi_margin + reaper_interval +
                               2 * gossip_interval + stable_after + downing_tick + 3 * gossip_interval +
                               leader_interval + retry_interval + (coordinator_moved ? recovery_timeout : 0ms);
  return derived + std::max(milliseconds(3000), derived / 2);
}

using troupe::test_support::temp_dir;

/// A hello_sharding child process, host or client (test/support/child_process.hpp), and
/// the JSON lines it printed.
class sharding_process {
 public:
  sharding_process(std::string name, std::string host, int port, bool client, const std::vector<std::string>& extra,
                   const std::filesystem::path& dir)
      : name_(std::move(name)),
        host_(std::move(host)),
        port_(port),
        client_(client),
        proc_(args(host_, port_, client_, extra), dir / (name_ + ".err"), [this](int code) { on_exit(code); }) {}

  const std::string& name() const { return name_; }
  bool client() const { return client_; }
  /// How the greeters and the answers name this node: "host:port".
  std::string node() const { return host_ + ":" + std::to_string(port_); }
  /// Its cluster address and incarnation, as member events print it ("" before "started").
  std::string member() const {
    return uid_.empty() ? "" : std::string("troupe://") + system_name + "@" + node() + "#" + uid_;
  }
  const std::string& host() const { return host_; }
  const std::vector<json>& events() const { return events_; }
  bool running() const { return proc_.running(); }
  std::optional<int> exit_code() const { return proc_.exit_code(); }
  int stdout_fd() const { return proc_.stdout_fd(); }
  /// The wall clock at which it was seen dead (reaped), or `forever` while it runs.
  std::int64_t ended_at() const { return ended_at_; }
  /// The `ts` of its "stopped" line (its actor system has terminated), or `ended_at`.
  std::int64_t stopped_at() const {
    for (const auto& e : events_)
      if (e.value("event", "") == "stopped") return e["ts"].get<std::int64_t>();
    return ended_at_;
  }

  /// The `ts` of its first member event `kind` ("member_removed", ...) about `p`, if any.
  std::optional<std::int64_t> saw(const std::string& kind, const sharding_process& p) const {
    const std::string prefix = kind + " " + p.member();
    for (const auto& e : events_)
      if (e.value("event", "").rfind(prefix, 0) == 0) return e["ts"].get<std::int64_t>();
    return std::nullopt;
  }

  /// Reads what the child printed so far (non-blocking); reaps it once its stdout closed.
  void pump() {
    for (const auto& line : proc_.read_lines()) add_line(line);
  }

  /// SIGKILL, and reaps it: its peers see FIN at once, then nothing. Returns the wall
  /// clock just before the signal.
  std::int64_t kill_9() {
    const std::int64_t at = wall_ms();
    REQUIRE(proc_.kill_9());
    pump();
    return at;
  }

  /// Its lines, then its stderr: what a failure report shows.
  std::string transcript() const {
    std::string out = "--- " + name_ + " " + node() + " uid " + uid_ + "\n";
    for (const auto& l : lines_) out += l + "\n";
    const std::string err = proc_.stderr_tail();
    if (!err.empty()) out += "--- " + name_ + " stderr:\n" + err;
    return out;
  }

 private:
  static std::vector<std::string> args(const std::string& host, int port, bool client,
                                       const std::vector<std::string>& extra) {
    std::vector<std::string> a{TROUPE_HELLO_SHARDING_EXE};
    if (client) a.push_back("client");
    for (const auto& x : {std::string("--host"), host, std::string("--port"), std::to_string(port), std::string("--json")})
      a.push_back(x);
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  void add_line(const std::string& line) {
    lines_.push_back(line);
    json e = json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("ts")) e = json{{"event", "unparsed"}, {"line", line}, {"ts", wall_ms()}};
    if (e.value("event", "") == "started") uid_ = e.value("uid", "");
    events_.push_back(std::move(e));
  }

  /// Its exit, recorded as an "exited" line.
  void on_exit(int code) {
    ended_at_ = wall_ms();
    json e{{"event", "exited"}, {"code", code}, {"ts", ended_at_}};
    lines_.push_back(e.dump());
    events_.push_back(std::move(e));
  }

  std::string name_;
  std::string host_;
  int port_;
  bool client_;
  std::string uid_;
  std::vector<std::string> lines_;
  std::vector<json> events_;
  std::int64_t ended_at_ = forever;
  troupe::test_support::child_process proc_;  ///< last: destroyed (killed) first
};

/// One pass of a client over name-1..name-<names>: its `answered` / `no_answer` lines.
struct round_of_asks {
  std::vector<const json*> asks;
  std::int64_t began = 0;  ///< the `ts` of its first line (the first answer or timeout)
  bool complete() const { return asks.size() == static_cast<std::size_t>(names); }
  bool all_answered() const {
    return complete() && std::all_of(asks.begin(), asks.end(), [](const json* a) { return a->value("event", "") == "answered"; });
  }
  /// The node that answered for `name` in this round, "" if it did not.
  std::string node_of(const std::string& name) const {
    for (const json* a : asks)
      if (a->value("name", "") == name && a->value("event", "") == "answered") return a->value("node", "");
    return "";
  }
};

/// A client's rounds, in order; the last may be incomplete. A round begins at name-1.
std::vector<round_of_asks> rounds_of(const sharding_process& client) {
  std::vector<round_of_asks> out;
  for (const auto& e : client.events()) {
    const std::string ev = e.value("event", "");
    if (ev != "answered" && ev != "no_answer") continue;
    if (e.value("name", "") == name_of(1) || out.empty()) out.push_back({{}, e["ts"].get<std::int64_t>()});
    out.back().asks.push_back(&e);
  }
  return out;
}

/// The last complete round of a client, or nullptr.
const round_of_asks* last_complete(const std::vector<round_of_asks>& rounds) {
  for (auto it = rounds.rbegin(); it != rounds.rend(); ++it)
    if (it->complete()) return &*it;
  return nullptr;
}

/// One greeter's lifetime on one node: from its greeter_started to its greeter_stopped
/// (or to its process's end).
struct lifetime {
  std::string name;
  std::string node;
  std::int64_t from = 0;
  std::int64_t to = forever;
  bool stopped = false;  ///< it printed greeter_stopped
};

/// The processes of one test and its temporary files. Member order is destruction order
/// in reverse: the processes go first, then the firewall chain, then the files.
class fleet {
 public:
  explicit fleet(int test) : test_(test) {
    cluster_config_ = dir() / "cluster.json";
    sharding_config_ = dir() / "sharding.json";
    std::ofstream(cluster_config_) << cluster_config(test).dump(2);
    std::ofstream(sharding_config_) << sharding_config().dump(2);
  }
  ~fleet() {
    if (std::getenv("TROUPE_FAULT_TRANSCRIPT")) std::cout << transcript() << std::flush;
  }
  fleet(const fleet&) = delete;
  fleet& operator=(const fleet&) = delete;

  const std::filesystem::path& dir() const { return dir_.path(); }

  /// Starts host k (greeters) of this test.
  sharding_process& start_host(int k) { return start("host" + std::to_string(k), k, false, {}); }
  /// Starts client k of this test, asking every name once per round.
  sharding_process& start_client(int k) {
    return start("client" + std::to_string(k), k, true,
                 {"--names", std::to_string(names), "--interval-ms", std::to_string(ask_interval.count()), "--timeout-ms",
                  std::to_string(ask_timeout.count())});
  }

  /// Makes this test's firewall chain; false (and a warning) when iptables is not permitted.
  bool make_partition() {
    std::string why;
    partition_ = loopback_partition::make("TROUPE_SFT_", why);
    if (!partition_) WARN("SKIPPED: cannot make a partition with iptables (needs the iptables package and root): " << why);
    return partition_ != nullptr;
  }
  loopback_partition& partition() { return *partition_; }

  /// Reads every process's output, waiting up to `wait` for some.
  void pump(milliseconds wait) { troupe::test_support::pump_all(procs_, wait); }

  /// Reads the output until `pred` holds; fails the test with every transcript after
  /// `timeout`. Returns the milliseconds it waited.
  std::int64_t await(const std::string& what, milliseconds timeout, const std::function<bool()>& pred) {
    const auto waited = troupe::test_support::pump_until([this](milliseconds w) { pump(w); }, timeout, pred);
    if (!waited) {
      INFO(transcript());
      FAIL("timed out after " << timeout.count() << " ms waiting for " << what);
    }
    return *waited;
  }

  /// Reads the output for `duration`.
  void observe(milliseconds duration) {
    troupe::test_support::pump_for([this](milliseconds w) { pump(w); }, duration);
  }

  /// Every process's lines and stderr.
  std::string transcript() const {
    std::string out;
    for (const auto& p : procs_) out += p->transcript();
    return out;
  }

  /// True when every one of `members` has started and each of `observers` has seen each
  /// of them up (and none removed).
  static bool all_up(const std::vector<sharding_process*>& observers, const std::vector<sharding_process*>& members) {
    return std::all_of(members.begin(), members.end(), [&](const sharding_process* m) { return !m->member().empty(); }) &&
           std::all_of(observers.begin(), observers.end(), [&](const sharding_process* o) {
             return o->running() && std::all_of(members.begin(), members.end(), [&](const sharding_process* m) {
                      return o->saw("member_up", *m) && !o->saw("member_removed", *m);
                    });
           });
  }

  /// Every greeter lifetime on the hosts, by name, in order of start.
  std::map<std::string, std::vector<lifetime>> lifetimes() const {
    std::map<std::string, std::vector<lifetime>> out;
    for (const auto& p : procs_) {
      if (p->client()) continue;
      std::map<std::string, lifetime> open;
      for (const auto& e : p->events()) {
        const std::string ev = e.value("event", "");
        const std::string name = e.value("name", "");
        if (ev == "greeter_started") {
          if (auto it = open.find(name); it != open.end()) {  // started twice: counts as overlapping itself
            out[name].push_back(it->second);
            open.erase(it);
          }
          open[name] = lifetime{name, p->node(), e["ts"].get<std::int64_t>(), forever, false};
        } else if (ev == "greeter_stopped") {
          auto it = open.find(name);
          if (it == open.end()) continue;
          it->second.to = e["ts"].get<std::int64_t>();
          it->second.stopped = true;
          out[name].push_back(it->second);
          open.erase(it);
        }
      }
      for (auto& [name, l] : open) {
        l.to = p->stopped_at();
        out[name].push_back(l);
      }
    }
    for (auto& [name, ls] : out) std::sort(ls.begin(), ls.end(), [](const lifetime& a, const lifetime& b) { return a.from < b.from; });
    return out;
  }

  /// Every pair of lifetimes of one name that overlap (on different nodes, or twice on one),
  /// described; empty when there is none.
  std::vector<std::string> overlaps() const {
    std::vector<std::string> found;
    auto show = [](std::int64_t t) { return t == forever ? std::string("(running)") : std::to_string(t); };
    for (const auto& [name, ls] : lifetimes())
      for (std::size_t i = 0; i < ls.size(); ++i)
        for (std::size_t j = i + 1; j < ls.size(); ++j)
          if (ls[j].from < ls[i].to && ls[i].from < ls[j].to)
            found.push_back(name + ": on " + ls[i].node + " " + show(ls[i].from) + ".." + show(ls[i].to) + " and on " +
                            ls[j].node + " " + show(ls[j].from) + ".." + show(ls[j].to));
    return found;
  }

  /// Every `greeted` line that lies outside each lifetime of its name on its node, described.
  std::vector<std::string> greeted_outside_lifetimes() const {
    const auto all = lifetimes();
    std::vector<std::string> found;
    for (const auto& p : procs_) {
      if (p->client()) continue;
      for (const auto& e : p->events()) {
        if (e.value("event", "") != "greeted") continue;
        const std::string name = e.value("name", "");
        const auto ts = e["ts"].get<std::int64_t>();
        const auto it = all.find(name);
        const bool inside = it != all.end() && std::any_of(it->second.begin(), it->second.end(), [&](const lifetime& l) {
                              return l.node == p->node() && l.from <= ts && ts <= l.to;
                            });
        if (!inside) found.push_back(name + " greeted on " + p->node() + " at " + std::to_string(ts));
      }
    }
    return found;
  }

  /// The `ts` of the latest greeter_started or greeter_stopped on any host (0: none).
  std::int64_t last_greeter_change() const {
    std::int64_t last = 0;
    for (const auto& p : procs_)
      for (const auto& e : p->events())
        if (const std::string ev = e.value("event", ""); ev == "greeter_started" || ev == "greeter_stopped")
          last = std::max(last, e["ts"].get<std::int64_t>());
    return last;
  }

  /// The latest member_up on any process (0: none).
  std::int64_t last_member_up() const {
    std::int64_t last = 0;
    for (const auto& p : procs_)
      for (const auto& e : p->events())
        if (e.value("event", "").rfind("member_up ", 0) == 0) last = std::max(last, e["ts"].get<std::int64_t>());
    return last;
  }

 private:
  sharding_process& start(const std::string& name, int k, bool client, std::vector<std::string> extra) {
    extra.insert(extra.end(), {"--config", cluster_config_.string(), "--sharding", sharding_config_.string()});
    procs_.push_back(std::make_unique<sharding_process>(name, host_of(test_, k), port_of(k), client, extra, dir()));
    return *procs_.back();
  }

  int test_;
  temp_dir dir_{"troupe-sharding-fault"};
  std::filesystem::path cluster_config_;
  std::filesystem::path sharding_config_;
  std::unique_ptr<loopback_partition> partition_;
  std::vector<std::unique_ptr<sharding_process>> procs_;
};

/// Starts hosts 1..n (1 first, alone, so that it is the oldest), waits until all are up
/// everywhere; returns them.
std::vector<sharding_process*> start_hosts(fleet& f, int n) {
  std::vector<sharding_process*> hosts{&f.start_host(1)};
  f.await("host 1 up", 30s, [&] { return fleet::all_up(hosts, hosts); });
  for (int k = 2; k <= n; ++k) hosts.push_back(&f.start_host(k));
  const auto ms = f.await(std::to_string(n) + " hosts up everywhere", 40s, [&] { return fleet::all_up(hosts, hosts); });
  std::cout << "[fault]   " << n << " hosts up after " << ms << " ms more\n";
  return hosts;
}

/// Waits until every client has answered every name in two rounds in a row from the same
/// nodes, no greeter has started or stopped for longer than a rebalance interval, and the
/// failure detectors have watched every member for 2 s: a settled cluster to break.
void await_settled(fleet& f, const std::vector<sharding_process*>& members, const std::vector<sharding_process*>& clients) {
  const auto ms = f.await("every name answering on every client, greeters settled", 60s, [&] {
    if (!fleet::all_up(members, members)) return false;
    for (const auto* c : clients) {
      const auto rounds = rounds_of(*c);
      std::vector<const round_of_asks*> full;
      for (const auto& r : rounds)
        if (r.complete()) full.push_back(&r);
      if (full.size() < 2 || !full.back()->all_answered() || !full[full.size() - 2]->all_answered()) return false;
      for (int i = 1; i <= names; ++i)
        if (full.back()->node_of(name_of(i)) != full[full.size() - 2]->node_of(name_of(i))) return false;
    }
    const auto now = wall_ms();
    return now - f.last_greeter_change() > rebalance_interval.count() + 500 && now - f.last_member_up() > 2000;
  });
  std::cout << "[fault]   every name answering and settled after " << ms << " ms more\n";
}

/// The names the last complete round of `client` had answered from `node`.
std::vector<std::string> names_answered_by(const sharding_process& client, const std::string& node) {
  const auto rounds = rounds_of(client);
  const round_of_asks* r = last_complete(rounds);
  std::vector<std::string> out;
  if (!r) return out;
  for (int i = 1; i <= names; ++i)
    if (r->node_of(name_of(i)) == node) out.push_back(name_of(i));
  return out;
}

/// The first `ts` at or after `after` at which `client` got an answer for `name` from one of
/// `nodes`, if any.
std::optional<std::int64_t> first_answer(const sharding_process& client, const std::string& name,
                                         const std::set<std::string>& nodes, std::int64_t after) {
  for (const auto& e : client.events())
    if (e.value("event", "") == "answered" && e.value("name", "") == name && nodes.contains(e.value("node", "")) &&
        e["ts"].get<std::int64_t>() >= after)
      return e["ts"].get<std::int64_t>();
  return std::nullopt;
}

/// The first greeter_started of `name` at or after `after` on any of `hosts`, if any.
std::optional<std::int64_t> first_start(const std::vector<sharding_process*>& hosts, const std::string& name,
                                        std::int64_t after) {
  std::optional<std::int64_t> first;
  for (const auto* h : hosts)
    for (const auto& e : h->events())
      if (e.value("event", "") == "greeter_started" && e.value("name", "") == name && e["ts"].get<std::int64_t>() >= after)
        first = std::min(first.value_or(forever), e["ts"].get<std::int64_t>());
  return first;
}

/// The earliest (or latest) `ts` over `observers` of the member event `kind` about `p`,
/// minus `t0`; -1 when none (some) lack it.
std::int64_t earliest_saw(const std::vector<sharding_process*>& observers, const std::string& kind,
                          const sharding_process& p, std::int64_t t0) {
  std::optional<std::int64_t> first;
  for (const auto* o : observers)
    if (const auto ts = o->saw(kind, p)) first = std::min(first.value_or(*ts), *ts);
  return first ? *first - t0 : -1;
}
std::int64_t latest_saw(const std::vector<sharding_process*>& observers, const std::string& kind,
                        const sharding_process& p, std::int64_t t0) {
  std::int64_t last = -1;
  for (const auto* o : observers) {
    const auto ts = o->saw(kind, p);
    if (!ts) return -1;
    last = std::max(last, *ts - t0);
  }
  return last;
}

/// The rounds of `client` that began at or after `t`, complete ones only.
std::vector<round_of_asks> complete_rounds_since(const sharding_process& client, std::int64_t t) {
  std::vector<round_of_asks> out;
  for (auto& r : rounds_of(client))
    if (r.began >= t && r.complete()) out.push_back(std::move(r));
  return out;
}

/// The names (and nodes) a round did not answer, or answered from outside `nodes`, described.
std::string misses(const round_of_asks& r, const std::set<std::string>& nodes) {
  std::string out;
  for (const json* a : r.asks)
    if (a->value("event", "") != "answered" || !nodes.contains(a->value("node", "")))
      out += " " + a->value("name", "") + "@" + a->value("node", "-") + "(" + a->value("event", "") + ")";
  return out;
}

std::vector<sharding_process*> without(std::vector<sharding_process*> ps, const sharding_process* gone) {
  std::erase(ps, gone);
  return ps;
}

std::set<std::string> nodes_of(const std::vector<sharding_process*>& ps) {
  std::set<std::string> out;
  for (const auto* p : ps) out.insert(p->node());
  return out;
}

/// Kill -9 of the host that answers for some names, three hosts and a client asking without
/// pause: the names come back on a survivor, the greeters never overlap.
void kill_the_owner(int test, bool victim_is_oldest) {
  const auto test_start = steady::now();
  fleet f(test);
  auto hosts = start_hosts(f, 3);
  sharding_process& client = f.start_client(9);
  auto members = hosts;
  members.push_back(&client);
  await_settled(f, members, {&client});

  // 1. The victim: the oldest (it also runs the coordinator and leads), or the younger
  //    host that answers for the most names.
  sharding_process* victim = hosts[0];
  if (!victim_is_oldest)
    victim = names_answered_by(client, hosts[1]->node()).size() >= names_answered_by(client, hosts[2]->node()).size()
                 ? hosts[1]
                 : hosts[2];
  const auto victim_names = names_answered_by(client, victim->node());
  REQUIRE_FALSE(victim_names.empty());
  const auto survivors = without(hosts, victim);
  const auto survivor_nodes = nodes_of(survivors);
  std::vector<sharding_process*> observers = survivors;
  observers.push_back(&client);

  const std::int64_t killed_at = victim->kill_9();

  // 2. Every name of the victim answers again from a survivor, and then the client
  //    completes three rounds in which everything answers.
  std::int64_t recovered_at = 0;
  f.await("the victim's names answering from survivors, then three full rounds", 60s, [&] {
    recovered_at = killed_at;
    for (const auto& n : victim_names) {
      const auto t = first_answer(client, n, survivor_nodes, killed_at);
      if (!t) return false;
      recovered_at = std::max(recovered_at, *t);
    }
    const auto after = complete_rounds_since(client, recovered_at + 1);
    return after.size() >= 3 && after.back().all_answered();
  });
  INFO(f.transcript());

  // 3. The greeters never overlap, and every greeting happened inside a lifetime.
  const auto overlaps = f.overlaps();
  for (const auto& o : overlaps) UNSCOPED_INFO("overlap: " << o);
  CHECK(overlaps.empty());
  const auto outside = f.greeted_outside_lifetimes();
  for (const auto& o : outside) UNSCOPED_INFO("outside a lifetime: " << o);
  CHECK(outside.empty());

  // 4. The victim's names: re-homed on a survivor only after the victim was removed
  //    there, and within the bound, from the hosts' lines and from the client's.
  const auto bound = failover_bound(victim_is_oldest);
  const std::int64_t removed_first = earliest_saw(survivors, "member_removed", *victim, 0);
  REQUIRE(removed_first > 0);
  std::int64_t rehomed_min = forever, rehomed_max = 0, answered_max = 0;
  for (const auto& n : victim_names) {
    const auto started = first_start(survivors, n, killed_at);
    REQUIRE(started.has_value());
    CHECK(*started >= removed_first);
    rehomed_min = std::min(rehomed_min, *started - killed_at);
    rehomed_max = std::max(rehomed_max, *started - killed_at);
    answered_max = std::max(answered_max, *first_answer(client, n, survivor_nodes, killed_at) - killed_at);
  }
  CHECK(rehomed_max <= bound.count());
  // The client learns it at its next ask of the name: at most one round of timeouts later.
  const std::int64_t round_of_timeouts = static_cast<std::int64_t>(victim_names.size()) * ask_timeout.count() + ask_interval.count();
  CHECK(answered_max <= bound.count() + round_of_timeouts);

  // 5. After the recovery every name answers in every round, from the survivors; the
  //    names of the survivors answered throughout, unless the coordinator died.
  const auto after = complete_rounds_since(client, recovered_at + 1);
  for (const auto& r : after) {
    INFO("round at " << r.began << " missed:" << misses(r, survivor_nodes));
    CHECK(misses(r, survivor_nodes).empty());
  }
  std::size_t survivor_misses = 0;
  for (const auto& r : complete_rounds_since(client, killed_at))
    for (const json* a : r.asks)
      if (std::find(victim_names.begin(), victim_names.end(), a->value("name", "")) == victim_names.end() &&
          a->value("event", "") != "answered")
        ++survivor_misses;
  CHECK(survivor_misses == 0);

  std::cout << "[fault] kill -9 of " << (victim_is_oldest ? "the oldest host (coordinator, leader)" : "a younger host")
            << " owning " << victim_names.size() << " of " << names << " names: unreachable after "
            << earliest_saw(observers, "unreachable_member", *victim, killed_at) << " ms, downed after "
            << earliest_saw(observers, "member_downed", *victim, killed_at) << " ms, removed after "
            << removed_first - killed_at << ".." << latest_saw(survivors, "member_removed", *victim, killed_at)
            << " ms, greeters restarted on survivors after " << rehomed_min << ".." << rehomed_max
            << " ms (bound " << bound.count() << " ms), answered again after at most " << answered_max << " ms, "
            << after.size() << " full rounds since; test " << since(test_start) << " ms\n";
}

}  // namespace

TEST_CASE("sharding processes: kill -9 of a younger host moves its greeters to the survivors, never two at once",
          "[fault][sharding]") {
  kill_the_owner(1, false);
}

TEST_CASE("sharding processes: kill -9 of the oldest host (coordinator) moves its greeters and the coordinator, "
          "never two at once",
          "[fault][sharding]") {
  kill_the_owner(2, true);
}

TEST_CASE("sharding processes: a partition of five hosts into two and three under keep-majority fences the "
          "minority's greeters before the majority starts them again",
          "[fault][sharding]") {
  const auto test_start = steady::now();
  fleet f(3);
  if (!f.make_partition()) return;
  auto hosts = start_hosts(f, 5);
  // One client on each side: the minority's keeps its greeters busy until they are fenced
  // (the strongest evidence that they ran until then), the majority's shows the names
  // coming back.
  sharding_process& minority_client = f.start_client(8);
  sharding_process& majority_client = f.start_client(9);
  auto members = hosts;
  members.push_back(&minority_client);
  members.push_back(&majority_client);
  await_settled(f, members, {&minority_client, &majority_client});

  // 1. Cut {host 1 (oldest, coordinator), host 2, client 8} from {hosts 3, 4, 5, client 9}:
  //    keep-majority counts every member, 3 against 4.
  const std::vector<sharding_process*> minority_hosts{hosts[0], hosts[1]};
  const std::vector<sharding_process*> majority_hosts{hosts[2], hosts[3], hosts[4]};
  std::vector<sharding_process*> minority = minority_hosts, majority = majority_hosts;
  minority.push_back(&minority_client);
  majority.push_back(&majority_client);
  const auto majority_nodes = nodes_of(majority_hosts);
  std::set<std::string> minority_names;  // answered from the minority before the cut
  for (const auto* h : minority_hosts)
    for (const auto& n : names_answered_by(majority_client, h->node())) minority_names.insert(n);
  REQUIRE_FALSE(minority_names.empty());

  const std::int64_t cut_at = wall_ms();
  for (const auto* a : minority)
    for (const auto* b : majority) f.partition().cut(a->host(), b->host());

  // 2. The minority downs itself and exits; the majority removes it, and its client gets
  //    every name from the majority's hosts in three rounds after that.
  std::int64_t removed_at = 0;
  f.await("the minority exited, removed by the majority, every name answering from the majority", 60s, [&] {
    if (!std::all_of(minority.begin(), minority.end(), [](const sharding_process* p) { return p->exit_code().has_value(); }))
      return false;
    removed_at = 0;
    for (const auto* m : minority) {
      const auto t = latest_saw(majority, "member_removed", *m, 0);
      if (t < 0) return false;
      removed_at = std::max(removed_at, t);
    }
    const auto after = complete_rounds_since(majority_client, removed_at);
    return after.size() >= 3 && misses(after.back(), majority_nodes).empty();
  });
  INFO(f.transcript());

  // 3. Nothing ran twice: the lifetimes of every name, over all seven processes' lines.
  const auto overlaps = f.overlaps();
  for (const auto& o : overlaps) UNSCOPED_INFO("overlap: " << o);
  CHECK(overlaps.empty());
  const auto outside = f.greeted_outside_lifetimes();
  for (const auto& o : outside) UNSCOPED_INFO("outside a lifetime: " << o);
  CHECK(outside.empty());

  // 4. The minority was downed (exit 3) and stopped its greeters itself; the majority
  //    never downed one of its own.
  for (const auto* p : minority) CHECK(p->exit_code() == 3);
  for (const auto* p : majority)
    for (const auto* q : majority) CHECK_FALSE(p->saw("member_downed", *q).has_value());
  const auto lifetimes = f.lifetimes();
  std::int64_t fenced_last = 0, last_minority_greeting = 0;
  for (const auto& [name, ls] : lifetimes)
    for (const auto& l : ls)
      if (!majority_nodes.contains(l.node)) {
        CHECK(l.stopped);
        fenced_last = std::max(fenced_last, l.to);
      }
  for (const auto* h : minority_hosts)
    for (const auto& e : h->events())
      if (e.value("event", "") == "greeted") last_minority_greeting = std::max(last_minority_greeting, e["ts"].get<std::int64_t>());

  // 5. The minority's names run on the majority again, and once they do (they start after
  //    the removal, which now reaches every survivor within milliseconds) every round
  //    answers every name from the majority.
  std::int64_t restarted_first = forever, restarted_last = 0;
  for (const auto& n : minority_names) {
    const auto started = first_start(majority_hosts, n, cut_at);
    REQUIRE(started.has_value());
    restarted_first = std::min(restarted_first, *started);
    restarted_last = std::max(restarted_last, *started);
  }
  const auto after = complete_rounds_since(majority_client, std::max(removed_at, restarted_last));
  CHECK_FALSE(after.empty());
  for (const auto& r : after) {
    INFO("round at " << r.began << " missed:" << misses(r, majority_nodes));
    CHECK(misses(r, majority_nodes).empty());
  }

  std::int64_t minority_exited = 0;
  for (const auto* p : minority) minority_exited = std::max(minority_exited, p->stopped_at() - cut_at);
  std::cout << "[fault] partition 2|3 (" << minority_names.size() << " of " << names
            << " names on the minority): minority's greeters greeted until " << last_minority_greeting - cut_at
            << " ms and were all stopped by " << fenced_last - cut_at << " ms, minority stopped by " << minority_exited
            << " ms, removed on the majority by " << removed_at - cut_at << " ms, its names restarted on the majority "
            << restarted_first - cut_at << ".." << restarted_last - cut_at << " ms after the cut (margin "
            << restarted_first - fenced_last << " ms after the last fenced stop); test " << since(test_start) << " ms\n";
}
