#include "troupe/cluster/sim/simulation.hpp"

#include <catch2/catch.hpp>

#include <chrono>

#include "troupe/cluster/sim/report.hpp"
#include "troupe/cluster/sim/scenarios.hpp"

using namespace troupe::cluster;
using namespace troupe::cluster::sim;
using namespace std::chrono_literals;

namespace {

sim_settings small(std::size_t nodes, std::uint64_t seed) {
  sim_settings s;
  s.nodes = nodes;
  s.seed = seed;
  s.check_gossip_invariants = true;
  return s;
}

bool is_member_anywhere(const simulation& sim, const model::unique_address& node) {
  for (const auto& n : sim.nodes())
    if (n.life == node_life::running && n.view && n.view->gossip().has_member(node)) return true;
  return false;
}

}  // namespace

TEST_CASE("a run replays exactly from its seed", "[unit][sim]") {
  scenario_options o;
  o.name = "crash-one";
  o.settings = small(7, 1234);
  auto strip = [](nlohmann::json j) {
    j.erase("wall_s");  // the machine's, not the run's
    j.erase("resident_mib");
    return j;
  };
  const auto first = strip(to_json(run_scenario(o)));
  const auto again = strip(to_json(run_scenario(o)));
  CHECK(first == again);
  o.settings.seed = 1235;
  CHECK(strip(to_json(run_scenario(o))) != first);
}

TEST_CASE("nodes join through the seeds and agree on one leader", "[unit][sim]") {
  simulation sim{small(6, 3)};
  sim.start_all();
  REQUIRE(sim.run_until_settled(60s));
  CHECK(sim.running_members() == 6);
  const auto leader = sim.leader_of(0);
  REQUIRE(leader);
  for (std::size_t i = 0; i < 6; ++i) CHECK(sim.leader_of(i) == leader);
  CHECK_FALSE(sim.violation());
  CHECK(sim.checks().status_monotonic > 0);
  CHECK(sim.checks().gossip_valid > 0);
}

TEST_CASE("the first seed forms the cluster alone when it is the only seed", "[unit][sim]") {
  sim_settings s = small(4, 9);
  s.seeds = 1;
  simulation sim{s};
  sim.start_all();
  CHECK(sim.run_until_settled(30s));
}

TEST_CASE("a restarted node joins with a new uid and its old incarnation is removed",
          "[unit][sim]") {
  simulation sim{small(5, 21)};
  sim.start_all();
  REQUIRE(sim.run_until_settled(60s));
  const auto old = sim.nodes()[4].self;
  sim.crash(4);
  sim.run_for(1s);
  sim.start(4);
  REQUIRE(sim.run_until_settled(sim.now() + 90s));
  CHECK(sim.nodes()[4].self.uid != old.uid);
  CHECK(sim.nodes()[4].self.address == old.address);
  CHECK_FALSE(is_member_anywhere(sim, old));
  CHECK(is_member_anywhere(sim, sim.nodes()[4].self));
}

TEST_CASE("a node that leaves goes through exiting, is removed, and stops", "[unit][sim]") {
  simulation sim{small(5, 5)};
  sim.start_all();
  REQUIRE(sim.run_until_settled(60s));
  const auto leaving = sim.nodes()[3].self;
  sim.leave(3);
  REQUIRE(sim.run_until([&] { return sim.nodes()[3].life == node_life::stopped; }, sim.now() + 60s));
  REQUIRE(sim.run_until_settled(sim.now() + 60s));
  CHECK(sim.running_members() == 4);
  CHECK_FALSE(is_member_anywhere(sim, leaving));
  CHECK_FALSE(sim.violation());
}

TEST_CASE("a frozen node holds its events until it is thawed", "[unit][sim]") {
  simulation sim{small(5, 8)};
  sim.start_all();
  REQUIRE(sim.run_until_settled(60s));
  const view_ptr before = sim.nodes()[2].view;
  sim.freeze(2);
  sim.run_for(2s);
  CHECK(sim.nodes()[2].view == before);  // nothing processed
  CHECK_FALSE(sim.nodes()[2].stash.empty());
  sim.thaw(2);
  sim.run_for(2s);
  CHECK(sim.nodes()[2].stash.empty());
  CHECK(sim.run_until_settled(sim.now() + 30s));
}

TEST_CASE("a crashed node is detected, downed by the leader and removed", "[unit][sim]") {
  simulation sim{small(5, 17)};
  sim.start_all();
  REQUIRE(sim.run_until_settled(60s));
  sim.watch_victim(4);
  sim.crash(4);
  const auto& v = sim.victims().back();
  REQUIRE(sim.run_until([&] { return v.removed_everywhere_at.has_value(); }, sim.now() + 60s));
  REQUIRE(v.unreachable_at);
  REQUIRE(v.downed_at);
  const double detected = std::chrono::duration<double>(*v.unreachable_at - v.fault_at).count();
  const double downed = std::chrono::duration<double>(*v.downed_at - v.fault_at).count();
  CHECK(detected > 3.0);  // phi 8 with a 3 s acceptable pause: ~4.5 s after the last beat
  CHECK(detected < 6.5);
  CHECK(downed >= detected + 7.0);  // stable-after 7 s
  CHECK(sim.run_until_settled(sim.now() + 30s));
  CHECK(sim.false_unreachable() == 0);
}

TEST_CASE("a recorded violation stops the run with its step", "[unit][sim]") {
  simulation sim{small(3, 1)};
  sim.start_all();
  sim.run_for(2s);
  const auto steps = sim.steps();
  sim.fail("test", "on purpose");
  sim.run_for(10s);
  REQUIRE(sim.violation());
  CHECK(sim.violation()->invariant == "test");
  CHECK(sim.violation()->step == steps);
  CHECK(sim.steps() == steps);
}

TEST_CASE("with gossips on downing the leader sends its decision at once", "[unit][sim]") {
  sim_settings s = small(20, 23);
  s.check_gossip_invariants = false;
  s.gossips_on_downing = 5;
  simulation sim{s};
  sim.start_all();
  REQUIRE(sim.run_until_settled(60s));
  sim.watch_victim(7);
  sim.crash(7);
  const auto& v = sim.victims().back();
  REQUIRE(sim.run_until([&] { return v.downed_at.has_value(); }, sim.now() + 30s, 1ms));
  sim.run_for(20ms);  // a few one-way latencies, far less than a gossip interval
  int holding_down = 0;
  for (const auto& n : sim.nodes())
    if (n.life == node_life::running && n.view)
      if (const auto* m = n.view->gossip().find(v.node); m && m->status() == model::member_status::down)
        ++holding_down;
  CHECK(holding_down >= 6);  // the leader and the five it told
}

TEST_CASE("crash-one at 5 nodes keeps node_core's failover times: at once, stable-after, one round trip",
          "[unit][sim]") {
  // The times of node_core's fake-clock test ("the leader learns of a loss at once, downs at
  // stable-after and removes within one round trip"), here with stable-after 7 s.
  simulation sim{small(5, 17)};
  sim.start_all();
  REQUIRE(sim.run_until_settled(60s));
  const auto leader = sim.leader_of(0);
  REQUIRE(leader);
  std::size_t victim = 4;
  while (sim.nodes()[victim].self == *leader) --victim;
  sim.watch_victim(victim);
  sim.crash(victim);
  const auto& v = sim.victims().back();
  REQUIRE(sim.run_until([&] { return v.removed_everywhere_at.has_value(); }, sim.now() + 60s));
  REQUIRE(v.unreachable_at);
  REQUIRE(v.leader_unreachable_at);
  REQUIRE(v.downed_at);
  const double detected = std::chrono::duration<double>(*v.unreachable_at - v.fault_at).count();
  CHECK(detected > 3.0);  // phi 8 with a 3 s acceptable pause
  CHECK(detected < 6.5);
  CHECK(*v.leader_unreachable_at - *v.unreachable_at <= 20ms);  // the observer tells the leader at once
  CHECK(*v.downed_at - *v.leader_unreachable_at >= 7s);         // the resolver's tick at downing_due()
  CHECK(*v.downed_at - *v.leader_unreachable_at <= 7s + 20ms);
  CHECK(*v.removed_everywhere_at - *v.downed_at <= 50ms);  // fan-out to every member (<= 16)
  CHECK(sim.run_until_settled(sim.now() + 30s));
  CHECK_FALSE(sim.violation());
}

TEST_CASE("roles given at join reach every node's view, and per-role minimums hold joiners", "[unit][sim]") {
  sim_settings s = small(5, 3);
  s.roles = {{"frontend"}, {"backend"}, {"backend"}, {}, {"backend", "worker"}};
  SECTION("every view has each member's roles, and one backend leader") {
    simulation sim{s};
    sim.start_all();
    REQUIRE(sim.run_until_settled(60s));
    for (const auto& n : sim.nodes()) {
      REQUIRE(n.view);
      for (std::size_t i = 0; i < s.roles.size(); ++i) {
        const model::member* m = n.view->gossip().find(sim.nodes()[i].self);
        REQUIRE(m);
        CHECK(m->roles() == s.roles[i]);
      }
      const auto backend_leader = n.view->state().role_leader("backend");
      REQUIRE(backend_leader);
      CHECK(backend_leader->address != sim.nodes()[0].address);
      CHECK(backend_leader->address != sim.nodes()[3].address);
    }
  }
  SECTION("four backends required, three joined: nobody is moved up") {
    s.membership.min_nr_of_members_per_role["backend"] = 4;
    simulation sim{s};
    sim.start_all();
    sim.run_for(30s);
    CHECK(sim.running_members() == 5);
    for (const auto& n : sim.nodes()) {
      REQUIRE(n.view);
      CHECK(n.view->gossip().members().size() == 5);
      for (const auto& m : n.view->gossip().members()) CHECK(m.status() == model::member_status::joining);
    }
    CHECK_FALSE(sim.settled());
  }
}
