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

TEST_CASE("a view with a down member asks for the gossip speedup", "[unit][sim]") {
  const model::unique_address a{{"troupe-sim", "10.0.0.1", 2552}, 1};
  const model::unique_address b{{"troupe-sim", "10.0.0.2", 2552}, 2};
  const model::unique_address c{{"troupe-sim", "10.0.0.3", 2552}, 3};
  const model::gossip all_up{{*model::member{a}.copy_up(1), *model::member{b}.copy_up(2),
                              *model::member{c}.copy_up(3)}};
  const model::gossip seen = all_up.seen(a).seen(b).seen(c);
  CHECK_FALSE(node_view(seen, a).speedup_needed());
  CHECK(node_view(all_up, a).speedup_needed());  // nobody has seen it
  // Down: the speedup stays on until the leader has removed it, however many have seen it.
  const model::gossip downed = seen.mark_as_down(c).seen(a).seen(b);
  CHECK(downed.seen_count() == 2);
  CHECK(node_view(downed, a).speedup_needed());
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
