// What shard_sim gained for the allocation scenarios: restarting a node at its address with
// a new uid, one entity per shard, the rebalance rounds and placement changes it observes,
// and messages counted by kind.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include <troupe/sharding/sim/shard_sim.hpp>

using namespace std::chrono_literals;
using troupe::sharding::sim::shard_sim;
using troupe::sharding::sim::shard_sim_settings;
using troupe::sharding::sim::table_check;
namespace model = troupe::sharding::model;

namespace {

shard_sim_settings remembering(std::uint64_t seed = 1) {
  shard_sim_settings s;
  s.seed = seed;
  s.number_of_shards = 40;
  s.coordinator.rebalance_interval = 2s;
  s.coordinator.remember_entities = true;
  s.region.remember_entities = true;
  s.region.idle_timeout = std::nullopt;
  s.failure_detection = 10s;
  return s;
}

// Tells one message to one entity of every shard, from each node in turn.
void allocate_all(shard_sim& sim, const std::vector<model::region_id>& via) {
  const auto entities = sim.entity_per_shard();
  for (std::size_t s = 0; s < entities.size(); ++s)
    sim.tell(via[s % via.size()], entities[s], static_cast<std::uint32_t>(s), 1);
}

std::size_t homed(const shard_sim& sim) {
  std::size_t n = 0;
  for (const auto& [r, shards] : sim.hosted()) n += shards.size();
  return n;
}

}  // namespace

TEST_CASE("shard_sim: entity_per_shard names one entity of each shard", "[unit][sharding][sim]") {
  shard_sim sim{remembering()};
  const auto entities = sim.entity_per_shard();
  REQUIRE(entities.size() == 40);
  for (std::size_t s = 0; s < entities.size(); ++s) CHECK(sim.shard_of(entities[s]) == std::to_string(s));
}

TEST_CASE("shard_sim: a node restarted at its address after leaving takes its place again", "[unit][sharding][sim]") {
  auto s = remembering();
  s.strategy = "consistent-hash-ring";
  shard_sim sim{s};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node(), sim.start_node()};
  sim.run_for(3s);
  allocate_all(sim, nodes);
  sim.run_for(3s);
  REQUIRE(homed(sim) == 40);
  const auto before = sim.hosted()[nodes[2]];
  REQUIRE_FALSE(before.empty());
  const auto changes = sim.placement_changes();

  sim.leave(nodes[2]);
  REQUIRE(sim.run_until([&] { return !sim.is_member(nodes[2]); }, sim.now() + 30s));
  CHECK(sim.placement_changes() > changes);
  CHECK(homed(sim) == 40);  // remember-entities: re-homed at once
  const auto again = sim.restart_node(nodes[2]);
  CHECK(again.address == nodes[2].address);
  CHECK(again.uid != nodes[2].uid);
  CHECK(sim.is_member(again));
  CHECK_FALSE(sim.is_member(nodes[2]));
  sim.run_for(10s);  // a few rebalance rounds

  // The ring keys its points by address: the new incarnation gets exactly the old one's shards.
  CHECK(sim.hosted()[again] == before);
  CHECK_FALSE(sim.rebalance_rounds().empty());
  std::size_t started = 0;
  for (const auto& r : sim.rebalance_rounds()) started += r.shards;
  CHECK(started == before.size());
  for (const auto& sh : before) CHECK(sim.local_at(sh) == again);
  CHECK(sim.shards_moved() == 2 * before.size());
  CHECK_FALSE(sim.violation());
  const auto kinds = sim.protocol_messages_by_kind();
  CHECK(kinds.at("begin_handoff") > 0);
  CHECK(kinds.at("handoff_marker") > 0);
  std::uint64_t total = 0;
  for (const auto& [k, v] : kinds) total += v;
  CHECK(total == sim.protocol_messages());
}

TEST_CASE("shard_sim: a crashed node restarted before its removal replaces it at once", "[unit][sharding][sim]") {
  shard_sim sim{remembering(3)};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
  sim.run_for(3s);
  allocate_all(sim, nodes);
  sim.run_for(3s);
  REQUIRE(homed(sim) == 40);
  sim.crash(nodes[1]);
  CHECK(homed(sim) < 40);
  sim.run_for(1s);
  const auto again = sim.restart_node(nodes[1]);
  CHECK_FALSE(sim.is_member(nodes[1]));  // the new incarnation's join removes the old one
  REQUIRE(sim.run_until([&] { return homed(sim) == 40; }, sim.now() + 30s));
  sim.run_for(10s);  // rebalance rounds give the new incarnation its share
  CHECK_FALSE(sim.hosted()[again].empty());
  CHECK_FALSE(sim.violation());
  const auto r = sim.check_deliveries();
  CHECK(r.duplicated == 0);
  CHECK(r.reordered == 0);
}

TEST_CASE("shard_sim: checking the table on change runs the same as checking it every step", "[unit][sharding][sim]") {
  auto run = [](table_check mode) {
    auto s = remembering(7);
    s.table = mode;
    shard_sim sim{s};
    std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
    sim.run_for(3s);
    allocate_all(sim, nodes);
    sim.run_for(3s);
    nodes.push_back(sim.start_node());
    sim.run_for(10s);
    sim.leave(nodes[1]);
    sim.run_for(10s);
    return std::tuple{sim.shards_moved(), sim.protocol_messages(), sim.events_run(), sim.table_checks(),
                      sim.violation().has_value()};
  };
  const auto [moved_a, messages_a, events_a, checks_a, broken_a] = run(table_check::every_step);
  const auto [moved_b, messages_b, events_b, checks_b, broken_b] = run(table_check::on_change);
  CHECK(moved_a == moved_b);
  CHECK(messages_a == messages_b);
  CHECK(events_a == events_b);
  CHECK_FALSE(broken_a);
  CHECK_FALSE(broken_b);
  CHECK(checks_b > 0);
  CHECK(checks_b < checks_a);
}
