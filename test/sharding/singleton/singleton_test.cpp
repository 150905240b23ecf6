// The cluster singleton over three actor systems in one process, each a cluster node on
// loopback with the cluster's fast test settings (gossip and heartbeat every 200 ms,
// keep-majority after 1.5 s). Every singleton instance records when it starts and stops
// (steady clock, one shared log), so each test can check that no two instances ever lived
// at once, besides where the singleton runs and that proxies reach it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/oldest.hpp>
#include <troupe/remote/transport.hpp>
#include <troupe/sharding/singleton.hpp>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using troupe::actor_system;
using troupe::cluster::cluster;
using troupe::cluster::cluster_settings;
using troupe::sharding::singleton_manager;
using troupe::sharding::singleton_proxy;
using troupe::testkit::await_condition;
namespace model = troupe::cluster::model;
namespace tc = troupe::cluster;
namespace ts = troupe::sharding;

// The singleton's messages, which cross the network through the proxies.
struct ping {
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ping, n)
struct record {
  std::string from;
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(record, from, n)
struct get_records {
  int n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(get_records, n)
struct records {
  std::vector<std::string> values;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(records, values)

namespace {

/// Starts and stops of every instance, in the order they happened.
class instance_log {
 public:
  struct entry {
    std::string node;
    bool start = false;
    steady::time_point at;
    std::vector<model::unique_address> members;  ///< the node's members when it started
  };
  void add(const std::string& node, bool start, std::vector<model::unique_address> members = {}) {
    std::lock_guard lock(mutex_);
    entries_.push_back({node, start, steady::now(), std::move(members)});
  }
  /// The members `node`'s cluster had when its first instance started.
  std::vector<model::unique_address> members_at_start(const std::string& node) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.node == node && e.start) return e.members;
    return {};
  }
  std::vector<entry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  std::size_t starts_on(const std::string& node) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(entries_.begin(), entries_.end(),
                                                  [&](const entry& e) { return e.start && e.node == node; }));
  }
  std::optional<steady::time_point> first(const std::string& node, bool start) const {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_)
      if (e.node == node && e.start == start) return e.at;
    return std::nullopt;
  }
  /// The number of instances alive now (started and not stopped).
  int alive() const {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& e : entries_) n += e.start ? 1 : -1;
    return n;
  }
  /// Why the instances' lifetimes overlap, or "" when they never did: replayed in order of
  /// time, never more than one alive.
  std::string overlap() const {
    auto es = entries();
    std::stable_sort(es.begin(), es.end(), [](const entry& a, const entry& b) { return a.at < b.at; });
    int alive = 0;
    std::string history;
    for (const auto& e : es) {
      alive += e.start ? 1 : -1;
      history += (e.start ? "start " : "stop ") + e.node + "\n";
      if (alive > 1) return "two instances alive:\n" + history;
    }
    return "";
  }

 private:
  mutable std::mutex mutex_;
  std::vector<entry> entries_;
};

/// The singleton: records its life, answers pings and keeps what it is told.
class recording_singleton final : public troupe::actor {
 public:
  recording_singleton(std::shared_ptr<instance_log> log, std::string node) : log_(std::move(log)), node_(std::move(node)) {}
  void pre_start() override {
    std::vector<model::unique_address> members;
    const auto gossip = cluster::get(system()).latest_gossip();  // the range below refers into it
    for (const auto& m : gossip.members()) members.push_back(m.unique_address());
    log_->add(node_, true, std::move(members));
  }
  void post_stop() override { log_->add(node_, false); }
  troupe::behavior make_behavior() override {
    return {
        [this](const ping&) { return "pong from " + node_; },
        [this](const record& r) { received_.push_back(r.from + ":" + std::to_string(r.n)); },
        [this](const get_records&) { return records{received_}; },
    };
  }

 private:
  std::shared_ptr<instance_log> log_;
  std::string node_;
  std::vector<std::string> received_;
};

/// The cluster's fast settings (as its own tests use): every interval five times shorter
/// than Akka's, keep-majority after 1.5 s.
nlohmann::json fast_settings() {
  return {
      {"system", "stest"},
      {"remote", {{"host", "127.0.0.1"}, {"port", 0}, {"cookie", "c00kie"}}},
      {"gossip-interval-ms", 200},
      {"heartbeat-interval-ms", 200},
      {"leader-actions-interval-ms", 200},
      {"unreachable-nodes-reaper-interval-ms", 200},
      {"seed-node-timeout-ms", 1000},
      {"retry-unsuccessful-join-after-ms", 2000},
      {"weakly-up-after-ms", 1000},
      {"failure-detector",
       {{"acceptable-heartbeat-pause-ms", 1000}, {"expected-response-after-ms", 200}, {"min-std-deviation-ms", 50}}},
      {"downing", {{"strategy", "keep-majority"}, {"stable-after-ms", 1500}}},
  };
}

/// One node: an actor system, its cluster, and (once spawned) its manager and proxy.
struct node {
  explicit node(std::string label) : name(std::move(label)), system("stest") {
    auto s = cluster_settings::parse(fast_settings());
    REQUIRE(s);
    auto& ser = system.extension<troupe::remote::transport>().serialization();
    ser.register_json<ping>("test.ping");
    ser.register_json<record>("test.record");
    ser.register_json<get_records>("test.get_records");
    ser.register_json<records>("test.records");
    auto started = cl().start(*s);
    REQUIRE(started);
    address = *started;
  }
  ~node() {
    system.terminate();
    system.await_termination(10s);
  }
  tc::cluster& cl() { return cluster::get(system); }
  void spawn_singleton(const std::shared_ptr<instance_log>& log) {
    ts::singleton_settings s;
    s.hand_over_retry_interval = 200ms;
    manager = system.spawn(singleton_manager::props(troupe::props::of<recording_singleton>(log, name), s), "consumer");
    ts::singleton_proxy_settings ps;
    ps.identify_interval = 200ms;
    proxy = system.spawn(singleton_proxy::props("/user/consumer", ps), "consumerProxy");
  }
  ts::singleton_manager_state manager_state() {
    auto r = troupe::ask<ts::singleton_manager_state>(system, manager, ts::get_singleton_state{}, 3s).result();
    REQUIRE(r);
    return r.value();
  }
  void cut_off(node& other) {
    system.extension<troupe::remote::transport>().blackhole(
        {other.address.system, other.address.host, other.address.port}, troupe::remote::direction::both);
  }

  std::string name;
  actor_system system;
  model::address address;
  troupe::actor_ref manager;
  troupe::actor_ref proxy;
};

bool sees_all_up(node& n, const std::vector<model::address>& expected) {
  const auto st = n.cl().state();
  if (st.members.size() != expected.size()) return false;
  for (const auto& a : expected) {
    const model::member* m = st.find(a);
    if (!m || m->status() != model::member_status::up) return false;
  }
  return model::membership_state{n.cl().latest_gossip(), n.cl().self_unique_address()}.convergence();
}

/// Three nodes in one cluster, oldest first (by up number), each with a manager and a
/// proxy; returns once the singleton runs on the oldest.
std::vector<std::unique_ptr<node>> start_three(const std::shared_ptr<instance_log>& log) {
  std::vector<std::unique_ptr<node>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(std::make_unique<node>("node" + std::to_string(i)));
  nodes[0]->cl().join(nodes[0]->address);
  for (std::size_t i = 1; i < nodes.size(); ++i) nodes[i]->cl().join_seed_nodes({nodes[0]->address});
  std::vector<model::address> all;
  for (const auto& n : nodes) all.push_back(n->address);
  for (auto& x : nodes) await_condition(x->system, [&] { return sees_all_up(*x, all); }, 20s, "all members up");
  // Oldest first: the order the singleton moves in.
  const auto g = nodes[0]->cl().latest_gossip();
  std::sort(nodes.begin(), nodes.end(), [&](const auto& x, const auto& y) {
    return g.member(x->cl().self_unique_address()).is_older_than(g.member(y->cl().self_unique_address()));
  });
  for (std::size_t i = 0; i < nodes.size(); ++i) nodes[i]->name = "n" + std::to_string(i);
  for (auto& n : nodes) n->spawn_singleton(log);
  await_condition(nodes[0]->system, [&] { return log->starts_on(nodes[0]->name) == 1; }, 10s, "singleton on the oldest");
  return nodes;
}

std::string ping_through(node& n) {
  auto r = troupe::ask<std::string>(n.system, n.proxy, ping{}, 3s).result();
  return r ? r.value() : "no answer: " + std::string(r.error().what());
}

}  // namespace

TEST_CASE("singleton: runs only on the oldest, and every node's proxy reaches it", "[integration][singleton]") {
  auto log = std::make_shared<instance_log>();
  auto nodes = start_three(log);
  // 1. One instance, on the oldest; the others know where it is.
  for (auto& n : nodes)
    await_condition(n->system, [&] { return n->manager_state().oldest.has_value(); }, 5s, "a view");
  for (auto& n : nodes) {
    const auto s = n->manager_state();
    CHECK(s.oldest == nodes[0]->cl().self_unique_address());
    CHECK(s.state == (n == nodes[0] ? ts::model::singleton_state::oldest : ts::model::singleton_state::younger));
    CHECK(static_cast<bool>(s.singleton) == (n == nodes[0]));
  }
  // 2. Asks through every proxy are answered by it, the asker's ref kept as sender.
  for (auto& n : nodes) CHECK(ping_through(*n) == "pong from n0");
  // 3. Tells through every proxy arrive, in each sender's order.
  for (int i = 0; i < 20; ++i)
    for (auto& n : nodes) n->proxy.tell(record{n->name, i});
  std::vector<std::string> got;
  await_condition(nodes[2]->system, [&] {
    auto r = troupe::ask<records>(nodes[2]->system, nodes[2]->proxy, get_records{}, 3s).result();
    if (r) got = r.value().values;
    return got.size() == 60;
  }, 10s, "60 records");
  for (auto& n : nodes) {
    std::vector<std::string> mine;
    for (const auto& g : got)
      if (g.rfind(n->name + ":", 0) == 0) mine.push_back(g);
    REQUIRE(mine.size() == 20);
    for (int i = 0; i < 20; ++i) CHECK(mine[static_cast<std::size_t>(i)] == n->name + ":" + std::to_string(i));
  }
  CHECK(log->alive() == 1);
  CHECK(log->entries().size() == 1);
  auto stats = troupe::ask<ts::singleton_proxy_state>(nodes[1]->system, nodes[1]->proxy,
                                                      ts::get_singleton_proxy_state{}, 3s).get();
  CHECK(stats.singleton);
  CHECK(stats.dropped == 0);
  CHECK(stats.forwarded >= 21);
}

TEST_CASE("singleton: a graceful leave of the oldest hands over, the new instance starting after the old stopped",
          "[integration][singleton]") {
  auto log = std::make_shared<instance_log>();
  auto nodes = start_three(log);
  const auto t0 = steady::now();
  nodes[0]->cl().leave();
  await_condition(nodes[1]->system, [&] { return log->starts_on("n1") == 1; }, 20s, "the singleton on n1");
  INFO(log->overlap());
  CHECK(log->overlap().empty());
  const auto stopped = log->first("n0", false);
  const auto started = log->first("n1", true);
  REQUIRE(stopped);
  REQUIRE(started);
  CHECK(*stopped <= *started);
  CHECK(log->starts_on("n2") == 0);
  // The leaver's coordinated shutdown waited for the hand-over, then ended its system.
  CHECK(nodes[0]->system.await_termination(15s));
  // The proxies left follow it.
  await_condition(nodes[2]->system, [&] { return ping_through(*nodes[2]) == "pong from n1"; }, 10s, "proxy of n2");
  CHECK(ping_through(*nodes[1]) == "pong from n1");
  CHECK(log->alive() == 1);
  std::cout << "[singleton] graceful hand-over: n0 stopped " << std::chrono::duration_cast<std::chrono::milliseconds>(*stopped - t0).count()
                                         << " ms after leave(), n1 started "
                                         << std::chrono::duration_cast<std::chrono::milliseconds>(*started - *stopped).count()
                                         << " ms later\n";
}

TEST_CASE("singleton: after a crash of the oldest the next oldest starts it only once the crashed member is removed",
          "[integration][singleton]") {
  auto log = std::make_shared<instance_log>();
  auto nodes = start_three(log);
  const auto crashed = nodes[0]->cl().self_unique_address();
  // When the survivors see the crashed member downed and removed.
  std::mutex mutex;
  std::optional<steady::time_point> downed_at, removed_at;  // on n1's cluster daemon
  nodes[1]->cl().add_listener([&](const tc::cluster_event& e) {
    std::lock_guard lock(mutex);
    if (const auto* d = std::get_if<tc::member_downed>(&e); d && d->member.unique_address() == crashed)
      downed_at = steady::now();
    if (const auto* r = std::get_if<tc::member_removed>(&e); r && r->member.unique_address() == crashed)
      removed_at = steady::now();
  });
  // The crash: cut off from the others, and its system gone.
  for (std::size_t i = 1; i < 3; ++i) {
    nodes[0]->cut_off(*nodes[i]);
    nodes[i]->cut_off(*nodes[0]);
  }
  nodes[0]->system.terminate();
  REQUIRE(nodes[0]->system.await_termination(10s));
  await_condition(nodes[1]->system, [&] { return log->starts_on("n1") == 1; }, 30s, "the singleton on n1");
  const auto started = log->first("n1", true);
  // When it started, n1's cluster no longer had the crashed member (and had seen it down
  // before that).
  const auto members = log->members_at_start("n1");
  CHECK(std::find(members.begin(), members.end(), crashed) == members.end());
  CHECK(members.size() == 2);
  await_condition(nodes[1]->system, [&] {
    std::lock_guard lock(mutex);
    return removed_at.has_value();
  }, 5s, "the removal event");
  std::lock_guard lock(mutex);
  REQUIRE(downed_at);
  CHECK(*downed_at < *started);
  CHECK(log->starts_on("n2") == 0);
  CHECK(log->overlap().empty());
  // n2's proxy follows once n2 sees the removal too (what it sent before went to n0, lost).
  await_condition(nodes[2]->system, [&] { return ping_through(*nodes[2]) == "pong from n1"; }, 10s, "proxy of n2");
}

TEST_CASE("singleton: a partitioned oldest fences itself before the majority removes it and starts the singleton",
          "[integration][singleton]") {
  auto log = std::make_shared<instance_log>();
  auto nodes = start_three(log);
  std::mutex mutex;
  std::optional<steady::time_point> removed_at;
  const auto cut = nodes[0]->cl().self_unique_address();
  nodes[1]->cl().add_listener([&](const tc::cluster_event& e) {
    std::lock_guard lock(mutex);
    if (const auto* r = std::get_if<tc::member_removed>(&e); r && r->member.unique_address() == cut)
      removed_at = steady::now();
  });
  // {n0} | {n1, n2}: n0 is alive, and alone.
  for (std::size_t i = 1; i < 3; ++i) {
    nodes[0]->cut_off(*nodes[i]);
    nodes[i]->cut_off(*nodes[0]);
  }
  // n0 stops its instance as soon as it sees itself on the losing side...
  await_condition(nodes[0]->system, [&] { return log->first("n0", false).has_value(); }, 15s, "n0 fenced");
  // ... and n1 starts one only after n0's removal, with no removal margin.
  await_condition(nodes[1]->system, [&] { return log->starts_on("n1") == 1; }, 30s, "the singleton on n1");
  const auto fenced = *log->first("n0", false);
  const auto started = *log->first("n1", true);
  INFO(log->overlap());
  CHECK(log->overlap().empty());
  CHECK(fenced < started);
  // n1 started after it saw n0 removed; n0 had stopped before that.
  const auto members = log->members_at_start("n1");
  CHECK(std::find(members.begin(), members.end(), cut) == members.end());
  await_condition(nodes[1]->system, [&] {
    std::lock_guard lock(mutex);
    return removed_at.has_value();
  }, 5s, "the removal event");
  {
    std::lock_guard lock(mutex);
    CHECK(fenced < *removed_at);
  }
  std::cout << "[singleton] fencing: n0 stopped "
            << std::chrono::duration_cast<std::chrono::milliseconds>(started - fenced).count()
            << " ms before n1 started\n";
  // n2's proxy follows once n2 sees the removal too (what it sent before went to n0, lost).
  await_condition(nodes[2]->system, [&] { return ping_through(*nodes[2]) == "pong from n1"; }, 10s, "proxy of n2");
  CHECK(log->starts_on("n0") == 1);
}

TEST_CASE("singleton: the proxy holds messages until the singleton is found, the oldest overflowing to dead letters",
          "[integration][singleton]") {
  auto log = std::make_shared<instance_log>();
  node a("solo");
  // A proxy before any singleton exists: nothing to find, messages are held.
  ts::singleton_proxy_settings ps;
  ps.identify_interval = 100ms;
  ps.buffer_size = 3;
  auto proxy = a.system.spawn(singleton_proxy::props("/user/consumer", ps), "proxy");
  a.cl().join(a.address);
  await_condition(a.system, [&] { return sees_all_up(a, {a.address}); }, 10s, "up");
  for (int i = 0; i < 5; ++i) proxy.tell(record{"p", i});
  await_condition(a.system, [&] {
    auto s = troupe::ask<ts::singleton_proxy_state>(a.system, proxy, ts::get_singleton_proxy_state{}, 3s).get();
    return s.buffered == 3 && s.dropped == 2;
  }, 5s, "3 held, 2 dropped");
  // The singleton appears: the three held messages arrive, in order.
  ts::singleton_settings s;
  a.manager = a.system.spawn(singleton_manager::props(troupe::props::of<recording_singleton>(log, "solo"), s), "consumer");
  await_condition(a.system, [&] {
    auto st = troupe::ask<ts::singleton_proxy_state>(a.system, proxy, ts::get_singleton_proxy_state{}, 3s).get();
    return st.singleton && st.buffered == 0;
  }, 10s, "the singleton found");
  auto got = troupe::ask<records>(a.system, proxy, get_records{}, 3s).get();
  CHECK(got.values == std::vector<std::string>{"p:2", "p:3", "p:4"});
}

TEST_CASE("singleton: a manager without a started cluster stops and says why", "[integration][singleton]") {
  actor_system system("plain");
  troupe::testkit::test_probe probe(system);
  auto m = system.spawn(singleton_manager::props(troupe::props::of<recording_singleton>(
                                                     std::make_shared<instance_log>(), "x"),
                                                 {}),
                        "consumer");
  probe.watch(m);
  probe.expect_terminated(m, 5s);
}
