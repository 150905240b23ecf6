// Least-loaded cluster routers on three actor systems in one process: a routee whose
// mailbox holds a backlog (its actor is stuck on a gate) gets none of the new messages
// while the others' estimates stay below its size, and its size is seen to drain once the
// gate opens; a pool's routees on other nodes report their sizes. Every wait polls a
// condition with a deadline.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
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

/// Local only: the worker waits for the gate before it takes its next message.
struct hold {};

/// Answers each job with its own node's address; a `hold` blocks it until the gate opens.
class gated_worker final : public troupe::actor {
 public:
  gated_worker(std::string node, std::shared_future<void> gate) : node_(std::move(node)), gate_(std::move(gate)) {}
  troupe::behavior make_behavior() override {
    return {
        [this](const job& j) {
          reply(done{j.id, node_});
        },
        [this](const hold&) { gate_.wait(); },
    };
  }

 private:
  std::string node_;
  std::shared_future<void> gate_;
};

/// Opens the gate when the test ends, also when it fails (before the nodes stop).
struct gate_opener {
  std::promise<void> promise;
  bool opened = false;
  void open() {
    if (!opened) promise.set_value();
    opened = true;
  }
  ~gate_opener() { open(); }
};


std::vector<tr::routee_load> loads_of(troupe::testkit::test_probe& probe, const troupe::actor_ref& router) {
  probe.send(router, tr::get_routee_loads{});
  return probe.expect_msg<tr::routee_loads>().loads;
}


}  // namespace

TEST_CASE("least-loaded group router: a routee with a backlog gets no new messages until the others catch up",
          "[integration]") {
  auto nodes = troupe::test::form_cluster(3, "lltest");
  register_messages(nodes, "lltest");
  gate_opener gate;  // after the nodes: destroyed (and opened) before they stop
  const std::shared_future<void> gate_future = gate.promise.get_future().share();
  auto& a = *nodes[0];
  auto& c = *nodes[2];
  troupe::actor_ref worker_c;
  for (auto& n : nodes) {
    // c's worker has a bounded mailbox, whose size counts each message as it arrives.
    auto p = troupe::props::of<gated_worker>(model::to_string(n->address), gate_future);
    if (n.get() == &c) p = p.with_mailbox(troupe::mailbox::bounded(1'000));
    auto w = n->system.spawn(p, "worker");
    if (n.get() == &c) worker_c = w;
    tr::cluster_routers::get(n->system).host();  // answers the router's load queries
  }

  tr::cluster_router_settings s;
  s.routees_paths = {"/user/worker"};
  s.load_report_interval = 50ms;
  auto router = a.system.spawn(tr::cluster_group(s, tr::least_loaded()), "workers");
  troupe::testkit::test_probe probe(a.system);
  await_condition(
      a.system, [&] { return routee_count(probe, router) == 3; }, 10s, "three routees");

  // 1. c's worker gets stuck with 50 jobs waiting, and the router learns it.
  troupe::testkit::test_probe probe_c(c.system);
  probe_c.send(worker_c, hold{});
  constexpr int backlog = 50;
  for (int i = 0; i < backlog; ++i) probe_c.send(worker_c, job{1'000 + i});
  await_condition(
      c.system, [&] { return c.system.mailbox_size(worker_c) == std::uint32_t{backlog}; }, 10s,
      "c's backlog in its mailbox");
  await_condition(
      a.system,
      [&] {
        for (const auto& l : loads_of(probe, router))
          if (l.reported && *l.reported >= backlog) return true;
        return false;
      },
      10s, "c's backlog reported to the router");

  // 2. New jobs: c's estimate stays at 50 or more; a's (measured on a, the router's node)
  //    is at most the jobs sent to a, and b's at most twice those sent to b (a report
  //    may count a job that was also sent after the query). c would be chosen only once
  //    both reached 50, after 75 jobs at least: none of 60 reaches c, and all are answered
  //    while c is stuck.
  constexpr int routed = 60;
  for (int i = 0; i < routed; ++i) probe.send(router, job{i});
  std::map<std::string, int> by_node;
  std::set<int> ids;
  for (int i = 0; i < routed; ++i) {
    const auto d = probe.expect_msg<done>(10s);
    ids.insert(d.id);
    ++by_node[d.node];
  }
  CHECK(ids.size() == std::size_t{routed});
  CHECK_FALSE(by_node.contains(model::to_string(c.address)));
  CHECK(by_node[model::to_string(a.address)] >= 1);
  CHECK(by_node[model::to_string(nodes[1]->address)] >= 1);

  // 3. The gate opens: c answers its own 50 jobs, and its reported size drains to 0.
  gate.open();
  for (int i = 0; i < backlog; ++i) CHECK(probe_c.expect_msg<done>(10s).id >= 1'000);
  await_condition(
      a.system,
      [&] {
        const auto loads = loads_of(probe, router);
        if (loads.size() != 3) return false;
        for (const auto& l : loads)
          if (l.reported != 0u) return false;
        return true;
      },
      10s, "every routee reported empty");
}

TEST_CASE("least-loaded pool router: the routees on every node report their mailbox sizes", "[integration]") {
  auto nodes = troupe::test::form_cluster(3, "lltest");
  register_messages(nodes, "lltest");
  std::promise<void> open;
  open.set_value();
  const std::shared_future<void> no_gate = open.get_future().share();
  for (auto& n : nodes)
    tr::cluster_routers::get(n->system).register_routee(
        "worker", troupe::props::of<gated_worker>(model::to_string(n->address), no_gate));

  tr::cluster_router_settings s;
  s.max_instances_per_node = 2;
  s.load_report_interval = 50ms;
  auto& a = *nodes[0];
  auto pool = a.system.spawn(tr::cluster_pool(s, "worker", tr::least_loaded()), "pool");
  troupe::testkit::test_probe probe(a.system);
  await_condition(
      a.system, [&] { return routee_count(probe, pool) == 6; }, 10s, "six routees");
  await_condition(
      a.system,
      [&] {
        const auto loads = loads_of(probe, pool);
        if (loads.size() != 6) return false;
        for (const auto& l : loads)
          if (!l.reported) return false;
        return true;
      },
      10s, "a report for every routee");

  // Idle routees, reported empty: the jobs spread over all three nodes.
  std::map<std::string, int> by_node;
  for (int i = 0; i < 60; ++i) probe.send(pool, job{i});
  for (int i = 0; i < 60; ++i) ++by_node[probe.expect_msg<done>(10s).node];
  int total = 0;
  for (const auto& [node, count] : by_node) total += count;
  CHECK(total == 60);
  CHECK(by_node.size() == 3);
}
