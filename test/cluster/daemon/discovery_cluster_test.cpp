// Seed discovery end to end: in-process nodes on loopback whose `dns` discovery (SRV,
// since every node shares 127.0.0.1) asks a fake resolver that lists the nodes' bound
// ports. Three nodes started together (on 127.0.0.2) form one cluster through the lowest
// address; a fourth found later joins that cluster instead of forming a second one, even
// though its address (on 127.0.0.1) is the lowest of all, so it is its list's first seed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/discovery.hpp>

using namespace std::chrono_literals;
using troupe::actor_system;
using troupe::expected;
using troupe::unexpected;
using troupe::cluster::cluster;
using troupe::cluster::cluster_settings;
using troupe::cluster::srv_record;
using troupe::testkit::await_condition;
namespace model = troupe::cluster::model;
namespace tc = troupe::cluster;

namespace {

constexpr const char* service = "_troupe._tcp.dtest.test";

/// The SRV records of `service`, filled in by the test once the nodes have their ports;
/// every target is a loopback address, which resolves to itself.
struct fake_resolver final : tc::dns_resolver {
  std::mutex mutex;
  std::vector<srv_record> records;
  int srv_lookups = 0;
  void add(const model::address& a) {
    std::lock_guard lock(mutex);
    records.push_back({0, 0, a.port, a.host});
  }
  expected<std::vector<std::string>, std::string> resolve_ip(const std::string& name) override {
    if (name.rfind("127.", 0) != 0) return unexpected("no such name " + name);
    return std::vector<std::string>{name};
  }
  expected<std::vector<srv_record>, std::string> resolve_srv(const std::string& name) override {
    std::lock_guard lock(mutex);
    ++srv_lookups;
    if (name != service) return unexpected("no such name " + name);
    return records;
  }
  int lookups() {
    std::lock_guard lock(mutex);
    return srv_lookups;
  }
};

/// Akka's settings scaled down five times, with discovery in place of seed-nodes.
nlohmann::json discovery_settings(const std::string& host) {
  return {
      {"system", "dtest"},
      {"remote", {{"host", host}, {"port", 0}, {"cookie", "c00kie"}}},
      {"gossip-interval-ms", 200},
      {"heartbeat-interval-ms", 200},
      {"leader-actions-interval-ms", 200},
      {"unreachable-nodes-reaper-interval-ms", 200},
      {"seed-node-timeout-ms", 1000},
      {"retry-unsuccessful-join-after-ms", 2000},
      {"failure-detector",
       {{"acceptable-heartbeat-pause-ms", 1000}, {"expected-response-after-ms", 200}, {"min-std-deviation-ms", 50}}},
      {"discovery",
       {{"method", "dns"},
        {"service-name", service},
        {"srv", true},
        {"required-contact-points", 3},
        {"stable-margin-ms", 300},
        {"interval-ms", 50}}},
  };
}

struct node {
  node(const std::shared_ptr<fake_resolver>& resolver, const std::string& host) : system("dtest") {
    auto s = cluster_settings::parse(discovery_settings(host));
    REQUIRE(s);
    REQUIRE(s->discovery);
    s->discovery->resolver = resolver;
    auto started = cl().start(*s);
    REQUIRE(started);
    address = *started;
  }
  ~node() {
    system.terminate();
    system.await_termination(10s);
  }
  tc::cluster& cl() { return cluster::get(system); }
  actor_system system;
  model::address address;
};

/// True when `n` sees exactly `expected` members, all up, with convergence.
bool sees_all_up(node& n, const std::vector<model::address>& expected) {
  const auto st = n.cl().state();
  if (st.members.size() != expected.size()) return false;
  for (const auto& a : expected) {
    const model::member* m = st.find(a);
    if (!m || m->status() != model::member_status::up) return false;
  }
  return model::membership_state{n.cl().latest_gossip(), n.cl().self_unique_address()}.convergence();
}

/// The member of `n`'s view with the lowest up number: the one that formed the cluster.
model::address oldest(node& n) {
  const auto st = n.cl().state();
  const auto it = std::min_element(st.members.begin(), st.members.end(),
                                   [](const model::member& a, const model::member& b) { return a.is_older_than(b); });
  return it == st.members.end() ? model::address{} : it->address();
}

}  // namespace

TEST_CASE("discovery: three nodes found by DNS form one cluster, and a fourth joins it", "[integration][discovery]") {
  auto resolver = std::make_shared<fake_resolver>();
  std::vector<std::unique_ptr<node>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(std::make_unique<node>(resolver, "127.0.0.2"));
  std::vector<model::address> all;
  for (const auto& n : nodes) all.push_back(n->address);
  std::sort(all.begin(), all.end());

  // 1. Until DNS lists them, the nodes only look (too few contact points).
  await_condition(nodes[0]->system, [&] { return resolver->lookups() >= 6; }, 5s, "lookups");
  for (auto& n : nodes) CHECK(n->cl().state().members.empty());

  // 2. Listed, they wait out the stable margin and form one cluster through the lowest address.
  for (const auto& n : nodes) resolver->add(n->address);
  for (auto& n : nodes) await_condition(n->system, [&] { return sees_all_up(*n, all); }, 20s, "three members up");
  for (auto& n : nodes) {
    INFO(model::to_string(n->address));
    CHECK(n->cl().state().leader == all.front());
    CHECK(oldest(*n) == all.front());
  }

  const model::address formed_by = all.front();

  // 3. A fourth node with the same discovery finds all four and joins the running cluster:
  //    it is the first seed of its list (the lowest address), but the members answer its
  //    InitJoin, so it joins them and forms nothing.
  nodes.push_back(std::make_unique<node>(resolver, "127.0.0.1"));
  resolver->add(nodes.back()->address);
  all.push_back(nodes.back()->address);
  std::sort(all.begin(), all.end());
  for (auto& n : nodes) await_condition(n->system, [&] { return sees_all_up(*n, all); }, 20s, "four members up");
  REQUIRE(all.front() == nodes.back()->address);
  for (auto& n : nodes) {
    INFO(model::to_string(n->address));
    CHECK(n->cl().state().members.size() == 4);
    CHECK(oldest(*n) == formed_by);                // still the cluster the three formed
    CHECK(n->cl().state().leader == all.front());  // the leader is the lowest up member
  }
}
