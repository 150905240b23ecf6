// The cluster daemon in one process: several actor systems on loopback (each on a free
// port), with shortened intervals so that a test takes seconds. Partitions use the
// transport's blackhole switch.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/remote/transport.hpp>

#include "support/temp_files.hpp"

using namespace std::chrono_literals;
using troupe::actor_system;
using troupe::cluster::cluster;
using troupe::cluster::cluster_settings;
using troupe::testkit::await_condition;
using troupe::testkit::test_probe;
namespace model = troupe::cluster::model;
namespace tc = troupe::cluster;

namespace {

/// Akka's settings scaled down five times (gossip and heartbeat every 200 ms).
nlohmann::json fast_settings() {
  return {
      {"system", "ctest"},
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

/// One cluster node: an actor system and its started cluster extension.
struct node {
  explicit node(const nlohmann::json& j = fast_settings()) : system("ctest") {
    auto s = cluster_settings::parse(j);
    REQUIRE(s);
    auto started = cl().start(*s);
    REQUIRE(started);
    address = *started;
  }
  ~node() {
    system.terminate();
    system.await_termination(10s);
  }
  tc::cluster& cl() { return cluster::get(system); }
  model::member_status status_of(const model::address& a) {
    const auto st = cl().state();
    const model::member* m = st.find(a);
    return m ? m->status() : model::member_status::removed;
  }
  actor_system system;
  model::address address;
};

/// True when `n` sees exactly `expected` members, all up, and has converged.
bool sees_all_up(node& n, const std::vector<model::address>& expected) {
  const auto st = n.cl().state();
  if (st.members.size() != expected.size()) return false;
  for (const auto& a : expected) {
    const model::member* m = st.find(a);
    if (!m || m->status() != model::member_status::up) return false;
  }
  return model::membership_state{n.cl().latest_gossip(), n.cl().self_unique_address()}.convergence();
}

std::vector<model::address> addresses(const std::vector<std::unique_ptr<node>>& nodes) {
  std::vector<model::address> out;
  for (const auto& n : nodes)
    if (n) out.push_back(n->address);
  return out;
}

/// `n` nodes, the first forming the cluster, the others joining it; waits for all up.
std::vector<std::unique_ptr<node>> start_cluster(std::size_t n, const nlohmann::json& j = fast_settings()) {
  std::vector<std::unique_ptr<node>> nodes;
  for (std::size_t i = 0; i < n; ++i) nodes.push_back(std::make_unique<node>(j));
  nodes[0]->cl().join(nodes[0]->address);
  for (std::size_t i = 1; i < n; ++i) nodes[i]->cl().join_seed_nodes({nodes[0]->address});
  const auto all = addresses(nodes);
  for (auto& x : nodes) await_condition(x->system, [&] { return sees_all_up(*x, all); }, 20s, "all members up");
  return nodes;
}

void partition(node& a, node& b) {
  a.system.extension<troupe::remote::transport>().blackhole({b.address.system, b.address.host, b.address.port},
                                                            troupe::remote::direction::both);
  b.system.extension<troupe::remote::transport>().blackhole({a.address.system, a.address.host, a.address.port},
                                                            troupe::remote::direction::both);
}

void heal(node& a, node& b) {
  a.system.extension<troupe::remote::transport>().pass_through({b.address.system, b.address.host, b.address.port});
  b.system.extension<troupe::remote::transport>().pass_through({a.address.system, a.address.host, a.address.port});
}

}  // namespace

TEST_CASE("cluster: five nodes join, converge, and agree on the leader", "[integration][cluster]") {
  auto nodes = start_cluster(5);
  const auto leader = nodes[0]->cl().state().leader;
  REQUIRE(leader);
  for (auto& n : nodes) {
    CHECK(n->cl().state().leader == leader);
    CHECK(n->cl().self_member().status() == model::member_status::up);
  }
  // The leader is the lowest address among the up members.
  std::vector<model::address> all = addresses(nodes);
  CHECK(*leader == *std::min_element(all.begin(), all.end()));
}

TEST_CASE("cluster: a subscriber gets the snapshot first, then member events in order", "[integration][cluster]") {
  node a;
  test_probe probe(a.system);
  a.cl().subscribe(probe.ref(), tc::member_events | tc::leader_events);
  const auto snapshot = probe.expect_msg<tc::current_cluster_state>();
  CHECK(snapshot.members.empty());
  a.cl().join(a.address);
  // The first member leads while still joining, and is then moved up.
  CHECK(probe.expect_msg<tc::member_joined>(5s).member.address() == a.address);
  CHECK(probe.expect_msg<tc::leader_changed>(5s).leader == a.address);
  CHECK(probe.expect_msg<tc::member_up>(5s).member.address() == a.address);
  node b;
  b.cl().join_seed_nodes({a.address});
  CHECK(probe.expect_msg<tc::member_joined>(10s).member.address() == b.address);
  CHECK(probe.expect_msg<tc::member_up>(10s).member.address() == b.address);
  // A late subscriber's snapshot already holds both.
  test_probe late(b.system);
  await_condition(b.system, [&] { return sees_all_up(b, {a.address, b.address}); }, 10s);
  b.cl().subscribe(late.ref());
  CHECK(late.expect_msg<tc::current_cluster_state>().members.size() == 2);
}

TEST_CASE("cluster: register_on_member_up runs once the node is up", "[integration][cluster]") {
  node a;
  std::atomic<int> up{0}, removed{0};
  a.cl().register_on_member_up([&] { ++up; });
  a.cl().register_on_member_removed([&] { ++removed; });
  CHECK(up == 0);
  a.cl().join(a.address);
  await_condition(a.system, [&] { return up == 1; }, 5s, "on_member_up");
  a.cl().register_on_member_up([&] { ++up; });  // already up: runs at once
  CHECK(up == 2);
  CHECK(removed == 0);
}

TEST_CASE("cluster: a graceful leave ends in removal and the leaver's system terminates",
          "[integration][cluster]") {
  auto nodes = start_cluster(3);
  test_probe probe(nodes[0]->system);
  nodes[0]->cl().subscribe(probe.ref(), tc::member_events);
  probe.expect_msg<tc::current_cluster_state>();
  const auto leaver = nodes[2]->address;
  nodes[2]->cl().leave();
  CHECK(probe.fish_for<tc::member_left>([&](const auto& e) { return e.member.address() == leaver; }, 10s)
            .member.address() == leaver);
  CHECK(probe.fish_for<tc::member_removed>([&](const auto& e) { return e.member.address() == leaver; }, 10s)
            .previous_status == model::member_status::exiting);
  CHECK(nodes[2]->system.await_termination(10s));
  CHECK(nodes[2]->cl().is_terminated());
  await_condition(nodes[0]->system, [&] { return sees_all_up(*nodes[0], {nodes[0]->address, nodes[1]->address}); },
                  10s);
}

TEST_CASE("cluster: the leader leaves and the next member takes over", "[integration][cluster]") {
  auto nodes = start_cluster(3);
  std::sort(nodes.begin(), nodes.end(), [](const auto& x, const auto& y) { return x->address < y->address; });
  REQUIRE(nodes[1]->cl().state().leader == nodes[0]->address);
  nodes[0]->cl().leave();
  CHECK(nodes[0]->system.await_termination(15s));
  await_condition(nodes[1]->system, [&] {
    return nodes[1]->cl().state().leader == nodes[1]->address && sees_all_up(*nodes[1], {nodes[1]->address, nodes[2]->address});
  }, 15s, "new leader");
  CHECK(nodes[2]->cl().state().leader == nodes[1]->address);
}

TEST_CASE("cluster: a member downed through the API shuts down and is removed", "[integration][cluster]") {
  auto nodes = start_cluster(3);
  const auto victim = nodes[2]->cl().self_unique_address();
  test_probe quarantines(nodes[0]->system);
  nodes[0]->system.events().subscribe<troupe::remote::quarantined_event>(quarantines.ref());
  nodes[0]->cl().down(victim.address);
  CHECK(nodes[2]->system.await_termination(15s));
  for (std::size_t i = 0; i < 2; ++i)
    await_condition(nodes[i]->system, [&] { return sees_all_up(*nodes[i], {nodes[0]->address, nodes[1]->address}); },
                    15s, "the downed member removed");
  // A removed member that was down is quarantined: that incarnation is never talked to again.
  CHECK(quarantines.fish_for<troupe::remote::quarantined_event>([&](const auto& q) { return q.uid == victim.uid; }, 5s)
            .node.port == victim.address.port);
}

TEST_CASE("cluster: a member quarantined by another member downs itself", "[integration][cluster]") {
  auto nodes = start_cluster(3);
  const auto victim = nodes[2]->cl().self_unique_address();
  nodes[0]->system.extension<troupe::remote::transport>().quarantine(
      {victim.address.system, victim.address.host, victim.address.port}, victim.uid, "test");
  // It learns of it from the quarantining node's transport and leaves the cluster.
  CHECK(nodes[2]->system.await_termination(15s));
  CHECK(nodes[2]->system.coordinated_shutdown().reason().value_or("").find("downed") != std::string::npos);
  await_condition(nodes[1]->system, [&] { return sees_all_up(*nodes[1], {nodes[0]->address, nodes[1]->address}); },
                  20s, "the quarantined member removed");
}

TEST_CASE("cluster: min-nr-of-members keeps joiners joining until there are enough", "[integration][cluster]") {
  auto j = fast_settings();
  j["min-nr-of-members"] = 3;
  node a(j), b(j);
  a.cl().join(a.address);
  b.cl().join_seed_nodes({a.address});
  await_condition(a.system, [&] { return a.cl().state().members.size() == 2; }, 10s, "two members");
  // Given a few leader ticks, nobody is up.
  for (int i = 0; i < 5; ++i) {
    test_probe idle(a.system);
    idle.expect_no_msg(200ms);
    CHECK(a.status_of(a.address) == model::member_status::joining);
    CHECK(a.status_of(b.address) == model::member_status::joining);
  }
  node c(j);
  c.cl().join_seed_nodes({a.address});
  await_condition(a.system, [&] { return sees_all_up(a, {a.address, b.address, c.address}); }, 15s, "three up");
}

TEST_CASE("cluster: a joiner becomes weakly up while a member is unreachable", "[integration][cluster]") {
  auto j = fast_settings();
  j["downing"] = {{"strategy", "off"}};
  auto nodes = start_cluster(3, j);
  // Node 2 becomes unreachable for the others: convergence is blocked from now on.
  partition(*nodes[0], *nodes[2]);
  partition(*nodes[1], *nodes[2]);
  await_condition(nodes[0]->system, [&] { return !nodes[0]->cl().state().unreachable.empty(); }, 10s, "unreachable");
  node joiner(j);
  partition(joiner, *nodes[2]);
  joiner.cl().join_seed_nodes({nodes[0]->address});
  await_condition(nodes[0]->system, [&] { return nodes[0]->status_of(joiner.address) == model::member_status::weakly_up; },
                  15s, "weakly up");
  // Healing (every cut link, both ways) makes it up.
  heal(*nodes[0], *nodes[2]);
  heal(*nodes[1], *nodes[2]);
  heal(joiner, *nodes[2]);
  await_condition(nodes[0]->system, [&] { return nodes[0]->status_of(joiner.address) == model::member_status::up; },
                  20s, "up after healing");
}

TEST_CASE("cluster: reachability_changed reports the records about the node itself, which no member event does",
          "[integration][cluster]") {
  auto j = fast_settings();
  j["downing"] = {{"strategy", "off"}};
  auto nodes = start_cluster(3, j);
  test_probe probe(nodes[0]->system);
  nodes[0]->cl().subscribe(probe.ref(), tc::reachability_changed_events);
  (void)probe.expect_msg<tc::current_cluster_state>();
  const auto self = nodes[0]->cl().self_unique_address();
  const auto third = nodes[2]->cl().self_unique_address();
  partition(*nodes[0], *nodes[2]);
  // Node 2's record of node 0 reaches node 0 through node 1's gossip.
  probe.fish_for<tc::reachability_changed>(
      [&](const tc::reachability_changed& e) { return !e.reachability.is_reachable(third, self); }, 15s);
  heal(*nodes[0], *nodes[2]);
  probe.fish_for<tc::reachability_changed>(
      [](const tc::reachability_changed& e) { return e.reachability.is_all_reachable(); }, 15s);
}

TEST_CASE("cluster: an isolated member is downed by keep-majority and downs itself", "[integration][cluster]") {
  auto nodes = start_cluster(3);
  partition(*nodes[0], *nodes[2]);
  partition(*nodes[1], *nodes[2]);
  // The majority downs and removes it; the minority of one downs itself and terminates.
  for (std::size_t i = 0; i < 2; ++i)
    await_condition(nodes[i]->system, [&] { return sees_all_up(*nodes[i], {nodes[0]->address, nodes[1]->address}); },
                    20s, "isolated member removed");
  CHECK(nodes[2]->system.await_termination(20s));
}

TEST_CASE("cluster: a start with the wrong system name is refused with a reason", "[integration][cluster]") {
  actor_system other("not-ctest");
  auto s = cluster_settings::parse(fast_settings());
  REQUIRE(s);
  auto started = cluster::get(other).start(*s);
  REQUIRE_FALSE(started);
  CHECK(started.error().find("not-ctest") != std::string::npos);
  other.terminate();
}

namespace {

/// The warning records logged while it lives (the process-wide sink, restored after).
class warning_capture {
 public:
  warning_capture() {
    troupe::logger::set_sink([this](const troupe::log_record& r) {
      if (r.level < troupe::log_level::warning) return;
      std::lock_guard lock(mutex_);
      lines_.emplace_back(r.text);
    });
  }
  ~warning_capture() { troupe::logger::set_sink({}); }
  warning_capture(const warning_capture&) = delete;
  warning_capture& operator=(const warning_capture&) = delete;
  /// The first line containing `text`, or "".
  std::string find(const std::string& text) const {
    std::lock_guard lock(mutex_);
    for (const auto& l : lines_)
      if (l.find(text) != std::string::npos) return l;
    return "";
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

/// A seed address where nobody listens (port 1 on loopback refuses connections).
model::address absent_seed() { return {"ctest", "127.0.0.1", 1}; }

}  // namespace

TEST_CASE("cluster: a first seed whose other seed is down does not form a cluster and logs why",
          "[integration][cluster][seed]") {
  warning_capture warnings;
  node a;
  a.cl().join_seed_nodes({a.address, absent_seed()});
  // The warning comes at seed-node-timeout (1 s), when Akka's first seed would have formed a cluster.
  await_condition(a.system, [&] { return !warnings.find("does not form a new cluster").empty(); }, 10s,
                  "the first seed's warning");
  const std::string line = warnings.find("does not form a new cluster");
  CHECK_THAT(line, Catch::Contains(model::to_string(absent_seed())));
  CHECK_THAT(line, Catch::Contains("first-seed-forms-cluster-when-alone"));
  CHECK(a.cl().state().members.empty());
  CHECK(a.cl().latest_gossip().members().empty());
}

TEST_CASE("cluster: with first-seed-forms-cluster-when-alone a first seed alone forms a cluster after the timeout",
          "[integration][cluster][seed]") {
  warning_capture warnings;
  auto j = fast_settings();
  j["first-seed-forms-cluster-when-alone"] = true;
  node a(j);
  const auto started = std::chrono::steady_clock::now();
  a.cl().join_seed_nodes({a.address, absent_seed()});
  await_condition(a.system, [&] { return a.status_of(a.address) == model::member_status::up; }, 10s,
                  "the first seed up alone");
  CHECK(std::chrono::steady_clock::now() - started >= 900ms);  // seed-node-timeout-ms 1000, timer granularity
  CHECK(warnings.find("does not form a new cluster").empty());
}

TEST_CASE("cluster: the known-members file lists the other members and a restarted first seed asks them",
          "[integration][cluster][seed]") {
  troupe::test_support::temp_dir dir{"troupe-known-members"};
  const auto file_a = dir.path() / "a-known";
  auto ja = fast_settings();
  ja["known-members-file"] = file_a.string();
  auto a = std::make_unique<node>(ja);
  node b, c;
  a->cl().join(a->address);
  b.cl().join_seed_nodes({a->address});
  c.cl().join_seed_nodes({a->address});
  const std::vector<model::address> all{a->address, b.address, c.address};
  for (node* x : {a.get(), &b, &c}) await_condition(x->system, [&] { return sees_all_up(*x, all); }, 20s, "all up");
  // 1. A rewrote its file with the two others.
  auto read = [&] {
    std::ifstream in(file_a);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  await_condition(b.system, [&] {
    const auto t = read();
    return t.find(model::to_string(b.address)) != std::string::npos && t.find(model::to_string(c.address)) != std::string::npos;
  }, 10s, "the known-members file");
  CHECK(read().find(model::to_string(a->address) + "\n") == std::string::npos);
  // 2. A stops (a graceful leave) and starts again on its address as the first seed of
  //    seeds nobody answers for: it finds the cluster through the members it remembers.
  const auto port = a->address.port;
  a->cl().leave();
  REQUIRE(a->system.await_termination(15s));
  a.reset();
  await_condition(b.system, [&] { return sees_all_up(b, {b.address, c.address}); }, 20s, "A removed");
  auto ja2 = ja;
  ja2["remote"]["port"] = port;
  node a2(ja2);
  a2.cl().join_seed_nodes({a2.address, absent_seed()});
  const std::vector<model::address> again{a2.address, b.address, c.address};
  for (node* x : {&a2, &b, &c}) await_condition(x->system, [&] { return sees_all_up(*x, again); }, 20s, "A back");
}
