// The coordinator and region cores together, driven by shard_sim: every message a client
// sends reaches its entity once and in order through rebalances, graceful leaves and
// coordinator moves; after a crash the shards come back elsewhere; no shard is ever local
// at two regions at once.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include <troupe/sharding/sim/shard_sim.hpp>

using namespace std::chrono_literals;
using troupe::sharding::sim::delivery_report;
using troupe::sharding::sim::shard_sim;
using troupe::sharding::sim::shard_sim_settings;
namespace model = troupe::sharding::model;

namespace {

shard_sim_settings fast(std::uint64_t seed = 1) {
  shard_sim_settings s;
  s.seed = seed;
  s.number_of_shards = 30;
  s.coordinator.rebalance_interval = 2s;
  s.coordinator.handoff_timeout = 10s;
  s.region.retry_interval = 1s;
  s.region.handoff_timeout = 10s;
  s.region.idle_timeout = std::nullopt;
  s.jitter = 3ms;
  s.failure_detection = 10s;
  return s;
}

/// Clients: sender k sends through node k % nodes, to entities "e0".."e<n-1>" in turn.
struct traffic {
  std::vector<model::region_id> via;  ///< by sender
  std::vector<std::uint64_t> seq;     ///< last seq, by sender
  std::size_t entities = 40;
  std::size_t next = 0;

  traffic(const std::vector<model::region_id>& nodes, std::size_t senders) {
    for (std::size_t k = 0; k < senders; ++k) via.push_back(nodes[k % nodes.size()]);
    seq.assign(senders, 0);
  }
  /// One message per live sender, then `step` of simulated time.
  void round(shard_sim& sim, std::chrono::nanoseconds step = 20ms) {
    const auto running = sim.running_nodes();
    for (std::size_t k = 0; k < via.size(); ++k) {
      if (std::find(running.begin(), running.end(), via[k]) == running.end()) continue;
      sim.tell(via[k], "e" + std::to_string(next++ % entities), static_cast<std::uint32_t>(k), ++seq[k]);
    }
    sim.run_for(step);
  }
  void rounds(shard_sim& sim, int n) {
    for (int i = 0; i < n; ++i) round(sim);
  }
};

void require_clean(const shard_sim& sim, const delivery_report& r) {
  INFO("violation: " << sim.violation().value_or("none"));
  CHECK_FALSE(sim.violation());
  INFO("sent " << r.sent << " delivered " << r.delivered << " lost " << r.lost << " duplicated " << r.duplicated
               << " reordered " << r.reordered << " dead letters " << r.dead_letters);
  CHECK(r.lost == 0);
  CHECK(r.duplicated == 0);
  CHECK(r.reordered == 0);
  CHECK(r.dead_letters == 0);
}

bool balanced(const shard_sim& sim, std::size_t within = 1) {
  std::size_t lo = SIZE_MAX, hi = 0, total = 0;
  for (const auto& [r, shards] : sim.hosted()) {
    lo = std::min(lo, shards.size());
    hi = std::max(hi, shards.size());
    total += shards.size();
  }
  return total > 0 && hi - lo <= within;
}

}  // namespace

TEST_CASE("shard_sim: messages reach their entities once and in order", "[unit][sharding][sim]") {
  shard_sim sim{fast()};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 6};
  t.rounds(sim, 100);
  sim.run_for(3s);
  const auto r = sim.check_deliveries();
  require_clean(sim, r);
  CHECK(r.sent == 600);
  // Entities run where their shard lives, and every node hosts some.
  for (const auto& [region, shards] : sim.hosted()) CHECK_FALSE(shards.empty());
}

TEST_CASE("shard_sim: a node that joins takes shards by rebalance with traffic flowing, losing nothing",
          "[unit][sharding][sim]") {
  auto strategy = GENERATE(as<std::string>{}, "least-shard", "consistent-hash-ring");
  auto s = fast();
  s.strategy = strategy;
  s.virtual_nodes = 50;
  shard_sim sim{s};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 6};
  t.rounds(sim, 100);
  const auto moved_before = sim.shards_moved();
  nodes.push_back(sim.start_node());
  t.via.push_back(nodes.back());
  t.seq.push_back(0);
  t.rounds(sim, 600);  // 12 s: several rebalance rounds
  sim.run_for(3s);
  INFO("strategy " << strategy);
  CHECK(sim.shards_moved() > moved_before);
  CHECK_FALSE(sim.hosted()[nodes.back()].empty());
  if (strategy == "least-shard") CHECK(balanced(sim));
  require_clean(sim, sim.check_deliveries());
}

TEST_CASE("shard_sim: a graceful leave hands every shard off without loss", "[unit][sharding][sim]") {
  shard_sim sim{fast()};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 8};
  t.rounds(sim, 100);
  sim.leave(nodes[2]);
  t.rounds(sim, 400);
  sim.run_for(3s);
  CHECK(sim.region(nodes[2]) == nullptr);  // gone
  CHECK(sim.hosted().size() == 3);
  std::size_t total = 0;
  for (const auto& [r, shards] : sim.hosted()) total += shards.size();
  CHECK(total > 0);
  require_clean(sim, sim.check_deliveries());
}

TEST_CASE("shard_sim: the coordinator's node leaves and the next coordinator rebuilds the table",
          "[unit][sharding][sim]") {
  shard_sim sim{fast()};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 6};
  t.rounds(sim, 100);
  REQUIRE(sim.coordinator() != nullptr);
  CHECK(sim.coordinator()->self().node == nodes[0]);
  sim.leave(nodes[0]);
  t.rounds(sim, 500);
  sim.run_for(3s);
  REQUIRE(sim.coordinator() != nullptr);
  CHECK(sim.coordinator()->self().node == nodes[1]);
  CHECK_FALSE(sim.coordinator()->recovering());
  // The new table names exactly what the regions host.
  std::size_t hosted = 0;
  for (const auto& [r, shards] : sim.hosted()) {
    hosted += shards.size();
    for (const auto& sh : shards) CHECK(sim.coordinator()->table().home_of(sh) == r);
  }
  CHECK(hosted == sim.coordinator()->table().shard_count());
  require_clean(sim, sim.check_deliveries());
}

TEST_CASE("shard_sim: after a crash its shards come back elsewhere once it is removed", "[unit][sharding][sim]") {
  shard_sim sim{fast()};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 6};
  t.rounds(sim, 100);
  const auto victim_shards = sim.hosted()[nodes[2]];
  REQUIRE_FALSE(victim_shards.empty());
  sim.crash(nodes[2]);
  t.rounds(sim, 800);  // past failure detection and removal
  const auto before = sim.check_deliveries();
  t.rounds(sim, 200);
  sim.run_for(3s);
  const auto after = sim.check_deliveries();
  CHECK_FALSE(sim.violation());
  CHECK(after.duplicated == 0);
  CHECK(after.reordered == 0);
  // Nothing sent after the removal is lost; every shard of the victim lives elsewhere.
  CHECK(after.lost == before.lost);
  const auto hosted = sim.hosted();
  for (const auto& s : victim_shards) {
    bool somewhere = false;
    for (const auto& [r, shards] : hosted) somewhere = somewhere || shards.contains(s);
    CHECK(somewhere);
  }
}

TEST_CASE("shard_sim: the coordinator's node crashes, and the next one recovers without a second home",
          "[unit][sharding][sim]") {
  shard_sim sim{fast()};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 8};
  t.rounds(sim, 100);
  sim.crash(nodes[0]);
  t.rounds(sim, 800);
  sim.run_for(3s);
  REQUIRE(sim.coordinator() != nullptr);
  CHECK(sim.coordinator()->self().node == nodes[1]);
  CHECK_FALSE(sim.violation());
  const auto r = sim.check_deliveries();
  CHECK(r.duplicated == 0);
  CHECK(r.reordered == 0);
  for (const auto& [region, shards] : sim.hosted())
    for (const auto& sh : shards) CHECK(sim.coordinator()->table().home_of(sh) == region);
}

TEST_CASE("shard_sim: remembered entities start again elsewhere after a crash, without a message",
          "[unit][sharding][sim]") {
  auto s = fast();
  s.region.remember_entities = true;
  s.coordinator.remember_entities = true;
  shard_sim sim{s};
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 6};
  t.rounds(sim, 100);
  const auto* victim = sim.region(nodes[2]);
  REQUIRE(victim != nullptr);
  std::vector<std::string> remembered;
  for (const auto& se : victim->local_shards())
    for (const auto& e : se.entities) remembered.push_back(e);
  REQUIRE_FALSE(remembered.empty());
  sim.crash(nodes[2]);
  sim.run_for(15s);  // removal, then re-allocation; no traffic
  CHECK_FALSE(sim.violation());
  for (const auto& e : remembered) {
    bool running = false;
    for (const auto& n : sim.running_nodes())
      for (const auto& se : sim.region(n)->local_shards())
        running = running || std::find(se.entities.begin(), se.entities.end(), e) != se.entities.end();
    INFO("entity " << e);
    CHECK(running);
  }
}

TEST_CASE("shard_sim: random joins, leaves and crashes never give a shard two homes nor reorder",
          "[unit][sharding][sim]") {
  const std::uint64_t seed = GENERATE(range(1, 9));
  auto s = fast(seed);
  s.strategy = seed % 2 ? "least-shard" : "consistent-hash-ring";
  shard_sim sim{s};
  std::mt19937_64 rng(seed);
  std::vector<model::region_id> nodes{sim.start_node(), sim.start_node(), sim.start_node()};
  traffic t{nodes, 6};
  bool crashed = false;
  for (int step = 0; step < 12; ++step) {
    t.rounds(sim, 100);
    const auto running = sim.running_nodes();
    switch (rng() % 4) {
      case 0:
      case 1: {
        auto n = sim.start_node();
        t.via.push_back(n);
        t.seq.push_back(0);
        break;
      }
      case 2:
        if (running.size() > 2) sim.leave(running[1 + rng() % (running.size() - 1)]);
        break;
      case 3:
        if (running.size() > 3) {
          sim.crash(running[1 + rng() % (running.size() - 1)]);
          crashed = true;
        }
        break;
    }
  }
  t.rounds(sim, 800);
  sim.run_for(5s);
  const auto r = sim.check_deliveries();
  INFO("seed " << seed << ", violation: " << sim.violation().value_or("none"));
  CHECK_FALSE(sim.violation());
  CHECK(r.duplicated == 0);
  CHECK(r.reordered == 0);
  if (!crashed) CHECK(r.lost == 0);
}
