// Cluster routers on three actor systems in one process: a group router reaches the workers
// of every node and drops a node that leaves; roles restrict it; a pool starts its routees
// on the nodes that registered their kind and stops them with the router. Every wait polls
// a condition with a deadline.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/routers/cluster_router.hpp>

#include "router_messages.hpp"
#include "support/test_cluster.hpp"

using namespace std::chrono_literals;
using troupe::testkit::await_condition;
namespace tr = troupe::routers;
namespace model = troupe::cluster::model;

namespace {

using troupe_router_test::done;
using troupe_router_test::job;
using troupe_router_test::register_messages;
using troupe_router_test::routee_count;

/// Answers each job with its own node's address.
class worker final : public troupe::actor {
 public:
  explicit worker(std::string node) : node_(std::move(node)) {}
  troupe::behavior make_behavior() override {
    return {[this](const job& j) { reply(done{j.id, node_}); }};
  }

 private:
  std::string node_;
};


/// Sends `count` jobs through `router` from `probe`; the nodes that answered, with counts.
std::map<std::string, int> run_jobs(troupe::testkit::test_probe& probe, const troupe::actor_ref& router, int count) {
  for (int i = 0; i < count; ++i) probe.send(router, job{i});
  std::map<std::string, int> by_node;
  std::set<int> ids;
  for (int i = 0; i < count; ++i) {
    const auto d = probe.expect_msg<done>(5s);
    ids.insert(d.id);
    ++by_node[d.node];
  }
  CHECK(ids.size() == static_cast<std::size_t>(count));  // each job answered once
  return by_node;
}


}  // namespace

TEST_CASE(
    "cluster group router: round robin over every node's worker, a "
    "leaving node dropped",
    "[integration]") {
  auto nodes = troupe::test::form_cluster(3, "rtest");
  register_messages(nodes, "rtest");
  for (auto& n : nodes) n->system.spawn(troupe::props::of<worker>(model::to_string(n->address)), "worker");

  tr::cluster_router_settings s;
  s.routees_paths = {"/user/worker"};
  auto& a = *nodes[0];
  auto router = a.system.spawn(tr::cluster_group(s, troupe::routing::round_robin()), "workers");
  troupe::testkit::test_probe probe(a.system);
  await_condition(
      a.system, [&] { return routee_count(probe, router) == 3; }, 10s, "three routees");

  const auto by_node = run_jobs(probe, router, 30);
  REQUIRE(by_node.size() == 3);
  for (const auto& [n, count] : by_node) CHECK(count == 10);  // round robin: evenly

  // Node c leaves: it is dropped from the routees, and every job still gets its answer.
  auto& c = *nodes[2];
  c.cl().leave(c.address);
  await_condition(
      a.system, [&] { return routee_count(probe, router) == 2; }, 15s, "two routees");
  const auto after = run_jobs(probe, router, 20);
  CHECK(after.size() == 2);
  CHECK_FALSE(after.contains(model::to_string(c.address)));
}

TEST_CASE(
    "cluster group router: only members with the role, consistent "
    "hashing keeps keys on one node",
    "[integration]") {
  using troupe::test::fast_cluster_json;
  auto nodes =
      troupe::test::form_cluster({fast_cluster_json("rtest", {"frontend"}), fast_cluster_json("rtest", {"backend"}),
                                  fast_cluster_json("rtest", {"backend"})});
  register_messages(nodes, "rtest");
  for (auto& n : nodes) n->system.spawn(troupe::props::of<worker>(model::to_string(n->address)), "worker");

  tr::cluster_router_settings s;
  s.routees_paths = {"/user/worker"};
  s.use_role = "backend";
  auto& front = *nodes[0];
  auto by_key = troupe::routing::consistent_hashing(
      [](const troupe::message& m) { return std::to_string(m.get_if<job>()->id % 4); });
  auto router = front.system.spawn(tr::cluster_group(s, by_key), "backends");
  troupe::testkit::test_probe probe(front.system);
  await_condition(
      front.system, [&] { return routee_count(probe, router) == 2; }, 10s, "two backend routees");

  std::map<int, std::set<std::string>> nodes_of_key;
  for (int i = 0; i < 40; ++i) probe.send(router, job{i});
  for (int i = 0; i < 40; ++i) {
    const auto d = probe.expect_msg<done>(5s);
    CHECK(d.node != model::to_string(front.address));  // never the frontend
    nodes_of_key[d.id % 4].insert(d.node);
  }
  REQUIRE(nodes_of_key.size() == 4);
  for (const auto& [key, where] : nodes_of_key) CHECK(where.size() == 1);  // one node per key
}

TEST_CASE(
    "cluster pool router: routees started per node, broadcast to all, "
    "stopped with the router",
    "[integration]") {
  auto nodes = troupe::test::form_cluster(3, "rtest");
  register_messages(nodes, "rtest");
  // Nodes a and b host routees; c never registered the kind, so it refuses them.
  for (std::size_t i = 0; i < 2; ++i)
    tr::cluster_routers::get(nodes[i]->system)
        .register_routee("worker", troupe::props::of<worker>(model::to_string(nodes[i]->address)));
  tr::cluster_routers::get(nodes[2]->system).host();

  tr::cluster_router_settings s;
  s.max_instances_per_node = 2;
  s.total_instances = 10;
  auto& a = *nodes[0];
  auto pool = a.system.spawn(tr::cluster_pool(s, "worker", troupe::routing::round_robin()), "pool");
  troupe::testkit::test_probe probe(a.system);
  await_condition(
      a.system, [&] { return routee_count(probe, pool) == 4; }, 10s, "four routees");

  const auto by_node = run_jobs(probe, pool, 40);
  REQUIRE(by_node.size() == 2);
  for (const auto& [n, count] : by_node) CHECK(count == 20);  // two routees per node, round robin

  // A broadcast reaches each of the four routees once.
  probe.send(pool, troupe::routing::broadcast(job{99}));
  std::map<std::string, int> bcast;
  for (int i = 0; i < 4; ++i) ++bcast[probe.expect_msg<done>(5s).node];
  CHECK(bcast.size() == 2);
  for (const auto& [n, count] : bcast) CHECK(count == 2);

  // The router stops: its routees on the other node stop too.
  auto& b = *nodes[1];
  auto host_b = tr::cluster_routers::get(b.system).host();
  troupe::testkit::test_probe probe_b(b.system);
  auto routees_on_b = [&] { return routee_count(probe_b, host_b); };
  REQUIRE(routees_on_b() == 2);
  a.system.stop(pool);
  await_condition(
      b.system, [&] { return routees_on_b() == 0; }, 10s, "routees on b stopped");
}

TEST_CASE("cluster group router: an unreachable node leaves the routees until it is reachable again",
          "[integration]") {
  auto nodes = troupe::test::form_cluster(3, "rtest");
  register_messages(nodes, "rtest");
  for (auto& n : nodes) n->system.spawn(troupe::props::of<worker>(model::to_string(n->address)), "worker");
  tr::cluster_router_settings s;
  s.routees_paths = {"/user/worker"};
  auto& a = *nodes[0];
  auto& c = *nodes[2];
  auto router = a.system.spawn(tr::cluster_group(s, troupe::routing::round_robin()), "workers");
  troupe::testkit::test_probe probe(a.system);
  await_condition(a.system, [&] { return routee_count(probe, router) == 3; }, 10s, "three routees");

  // No downing in these settings: c stays a member, unreachable from a.
  const troupe::remote::address c_addr = c.transport().local_address();
  a.transport().blackhole(c_addr, troupe::remote::direction::both);
  await_condition(a.system, [&] { return routee_count(probe, router) == 2; }, 15s, "c out of the routees");
  const auto during = run_jobs(probe, router, 10);
  CHECK_FALSE(during.contains(model::to_string(c.address)));

  a.transport().pass_through(c_addr);
  await_condition(a.system, [&] { return routee_count(probe, router) == 3; }, 15s, "c back in the routees");
  CHECK(run_jobs(probe, router, 30).size() == 3);
}
