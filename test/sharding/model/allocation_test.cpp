#include "troupe/sharding/model/allocation.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "troupe/sharding/model/allocation_table.hpp"

using troupe::cluster::model::unique_address;
using troupe::sharding::model::allocation_strategy;
using troupe::sharding::model::allocation_table;
using troupe::sharding::model::allocation_view;
using troupe::sharding::model::consistent_hash_ring;
using troupe::sharding::model::external;
using troupe::sharding::model::least_shard;
using troupe::sharding::model::make_strategy;
using troupe::sharding::model::rebalance_limits;
using troupe::sharding::model::region_id;
using troupe::sharding::model::shard_id;
using troupe::sharding::model::stable_hash;

namespace {

region_id region(std::uint16_t port, std::uint64_t uid = 1) { return unique_address{{"sys", "127.0.0.1", port}, uid}; }

std::vector<shard_id> shard_names(std::size_t n) {
  std::vector<shard_id> shards;
  for (std::size_t i = 0; i < n; ++i) shards.push_back(std::to_string(i));
  return shards;
}

std::size_t spread(const allocation_view& v) {
  std::size_t low = SIZE_MAX;
  std::size_t high = 0;
  for (const auto& [r, held] : v.regions) {
    low = std::min(low, held.size());
    high = std::max(high, held.size());
  }
  return v.regions.empty() ? 0 : high - low;
}

bool strictly_sorted(const std::vector<shard_id>& shards) {
  return std::adjacent_find(shards.begin(), shards.end(), std::greater_equal<>{}) == shards.end();
}

// The cluster as a coordinator sees it: the allocation table and, kept in step with it,
// the view the strategy is asked about (every region may host).
struct placement {
  allocation_table table;
  allocation_view view;
  region_id requester = region(1);

  void join(const region_id& r) {
    REQUIRE(table.add_region(r));
    view.regions[r];
  }

  std::vector<shard_id> leave(const region_id& r) {
    view.regions.erase(r);
    return table.remove_region(r);
  }

  // Asks `s` for a home of `shard` and records it; false if the strategy says "not now".
  bool allocate(allocation_strategy& s, const shard_id& shard) {
    const auto home = s.allocate(shard, requester, view);
    if (!home) return false;
    REQUIRE(view.regions.contains(*home));
    REQUIRE(table.allocate(shard, *home));
    auto& held = view.regions.at(*home);
    held.insert(std::lower_bound(held.begin(), held.end(), shard), shard);
    return true;
  }

  void deallocate(const shard_id& shard) {
    const auto home = table.home_of(shard);
    REQUIRE(home);
    REQUIRE(table.deallocate(shard));
    auto& held = view.regions.at(*home);
    held.erase(std::lower_bound(held.begin(), held.end(), shard));
  }

  void allocate_all(allocation_strategy& s, const std::vector<shard_id>& shards) {
    for (const auto& shard : shards) REQUIRE(allocate(s, shard));
  }
};

struct settle_result {
  std::size_t rounds = 0;     ///< rounds that moved something
  std::size_t moved = 0;      ///< shards moved in all
  std::size_t largest = 0;    ///< most shards moved in one round
  std::map<shard_id, region_id> moved_to;  ///< each moved shard's last new home
};

// Rebalance rounds until one returns nothing (at most `max_rounds`): every returned shard
// is handed off at once (no overlap between rounds) and allocated again by `s`. Checks
// each answer: sorted, without duplicates, of homed shards, at most `limit`.
settle_result settle(allocation_strategy& s, placement& p, std::size_t limit, std::size_t max_rounds) {
  settle_result result;
  for (;;) {
    const auto moves = s.rebalance(p.view, {});
    if (moves.empty()) return result;
    REQUIRE(result.rounds < max_rounds);
    ++result.rounds;
    REQUIRE(strictly_sorted(moves));
    REQUIRE(moves.size() <= limit);
    result.moved += moves.size();
    result.largest = std::max(result.largest, moves.size());
    for (const auto& m : moves) {
      p.deallocate(m);
      REQUIRE(p.allocate(s, m));
      result.moved_to[m] = *p.table.home_of(m);
    }
    REQUIRE_FALSE(p.table.invariant_violation());
  }
}

// A view from per-region shard counts: region i (port 2551 + i) holds "<i>-00", "<i>-01"...
allocation_view view_of_sizes(const std::vector<std::size_t>& sizes) {
  allocation_view v;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    auto& held = v.regions[region(static_cast<std::uint16_t>(2551 + i))];
    for (std::size_t k = 0; k < sizes[i]; ++k) held.push_back(std::to_string(i) + "-" + (k < 10 ? "0" : "") + std::to_string(k));
  }
  return v;
}

// The owner of `shard` on a ring of `regions`, found the plain way: the region of the
// lowest point at or above the shard's hash, else of the lowest point; points built from
// the format documented in allocation.hpp; equal points to the lowest region id.
region_id ring_owner_by_brute_force(const std::set<region_id>& regions, std::size_t virtual_nodes,
                                    const shard_id& shard) {
  const std::uint64_t h = stable_hash(shard);
  std::pair<std::uint64_t, region_id> above{UINT64_MAX, {}};
  std::pair<std::uint64_t, region_id> lowest{UINT64_MAX, {}};
  bool found_above = false;
  bool found_any = false;
  for (const auto& r : regions) {
    for (std::size_t i = 0; i < virtual_nodes; ++i) {
      const std::string key = r.address.host + ":" + std::to_string(r.address.port) + "/" + r.address.system +
                              "#" + std::to_string(i);
      const std::pair<std::uint64_t, region_id> candidate{stable_hash(key), r};
      if (!found_any || candidate < lowest) lowest = candidate;
      found_any = true;
      if (candidate.first >= h && (!found_above || candidate < above)) {
        above = candidate;
        found_above = true;
      }
    }
  }
  return found_above ? above.second : lowest.second;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// rebalance_limits and make_strategy

TEST_CASE("rebalance_limits: the lower of the absolute and the relative limit, at least one",
          "[unit][sharding][allocation]") {
  const rebalance_limits defaults;
  CHECK(defaults.limit(0) == 1);
  CHECK(defaults.limit(20) == 2);
  CHECK(defaults.limit(100) == 10);
  CHECK(defaults.limit(209) == 20);
  CHECK(defaults.limit(10'000) == 20);
  CHECK(rebalance_limits{0, 0.0}.limit(1'000) == 1);
  CHECK(rebalance_limits{10, 0.5}.limit(3) == 1);
  CHECK(rebalance_limits{10, 0.5}.limit(7) == 3);
  CHECK(rebalance_limits{5, 1.0}.limit(1'000'000) == 5);
  // Out of range: clamped to [0, 1].
  CHECK(rebalance_limits{100, 2.0}.limit(40) == 40);
  CHECK(rebalance_limits{3, -1.0}.limit(40) == 1);
  CHECK(rebalance_limits{3, std::nan("")}.limit(40) == 1);
}

TEST_CASE("make_strategy: by name, or nullptr", "[unit][sharding][allocation]") {
  for (const char* name : {"least-shard", "consistent-hash-ring", "external"}) {
    const auto s = make_strategy(name);
    REQUIRE(s);
    CHECK(s->name() == name);
  }
  CHECK(least_shard()->name() == "least-shard");
  CHECK(consistent_hash_ring()->name() == "consistent-hash-ring");
  CHECK(external()->name() == "external");
  CHECK_FALSE(make_strategy("least_shard"));
  CHECK_FALSE(make_strategy(""));
}

TEST_CASE("allocation_view: shard_count sums the regions", "[unit][sharding][allocation]") {
  CHECK(allocation_view{}.shard_count() == 0);
  CHECK(view_of_sizes({3, 0, 5}).shard_count() == 8);
}

// ---------------------------------------------------------------------------------------
// least-shard

TEST_CASE("least_shard: the header's example", "[unit][sharding][allocation][least_shard]") {
  const region_id a = region(2551);
  const region_id b = region(2552);
  auto s = least_shard({});
  allocation_view v{{{a, {"1", "2", "3"}}, {b, {}}}};
  CHECK(s->allocate("4", a, v) == b);
  CHECK(s->rebalance(v, {}) == std::vector<shard_id>{"1"});
}

TEST_CASE("least_shard: allocate picks the fewest shards, ties to the lowest region id",
          "[unit][sharding][allocation][least_shard]") {
  auto s = least_shard();
  CHECK_FALSE(s->allocate("x", region(1), allocation_view{}));
  CHECK(s->allocate("x", region(1), view_of_sizes({2, 1, 1, 3})) == region(2552));
  CHECK(s->allocate("x", region(1), view_of_sizes({0, 0})) == region(2551));
  CHECK(s->allocate("x", region(2552), view_of_sizes({5, 4, 4, 0})) == region(2554));
  // Two incarnations of one address are two regions; the lower uid wins a tie.
  allocation_view v{{{region(2551, 9), {}}, {region(2551, 3), {}}}};
  CHECK(s->allocate("x", region(1), v) == region(2551, 3));
}

TEST_CASE("least_shard: phase 1 takes each region's lowest shards above the rounded-up share",
          "[unit][sharding][allocation][least_shard]") {
  auto s = least_shard({20, 1.0});  // no limit in these small examples
  // 7 shards on 3 regions: share 3; the first region gives its 2 lowest.
  CHECK(s->rebalance(view_of_sizes({5, 2, 0}), {}) == std::vector<shard_id>{"0-00", "0-01"});
  // 11 on 3: share 4; the first gives 2, the second 1.
  CHECK(s->rebalance(view_of_sizes({6, 5, 0}), {}) == std::vector<shard_id>{"0-00", "0-01", "1-00"});
  // The region with most shards gives first, whatever its id.
  CHECK(s->rebalance(view_of_sizes({5, 6, 0}), {}) == std::vector<shard_id>{"0-00", "1-00", "1-01"});
  // Shards are compared as text: "10" sorts before "9".
  allocation_view text{{{region(2551), {"10", "11", "9"}}, {region(2552), {}}}};
  CHECK(s->rebalance(text, {}) == std::vector<shard_id>{"10"});
}

TEST_CASE("least_shard: a round moves at most the limit, most loaded regions first",
          "[unit][sharding][allocation][least_shard]") {
  auto two = least_shard({2, 1.0});
  CHECK(two->rebalance(view_of_sizes({5, 6, 0}), {}) == std::vector<shard_id>{"1-00", "1-01"});
  auto one = least_shard({1, 1.0});
  // Equal loads: the lower region id gives first.
  CHECK(one->rebalance(view_of_sizes({5, 5, 0}), {}) == std::vector<shard_id>{"0-00"});
  auto relative = least_shard({20, 0.25});
  // 40 shards: limit min(20, 10) = 10, though 30 are above the share of 10.
  CHECK(relative->rebalance(view_of_sizes({40, 0, 0, 0}), {}).size() == 10);
}

TEST_CASE("least_shard: phase 2 evens out regions two or more below the share",
          "[unit][sharding][allocation][least_shard]") {
  auto s = least_shard({20, 1.0});
  // 13 on 4: share 4, nobody above it; the last region lies 2 below the share minus one,
  // so two regions at the share give one shard each.
  CHECK(s->rebalance(view_of_sizes({4, 4, 4, 1}), {}) == std::vector<shard_id>{"0-00", "1-00"});
  CHECK(s->rebalance(view_of_sizes({5, 5, 5, 2}), {}) == std::vector<shard_id>{"0-00", "1-00"});
  CHECK(s->rebalance(view_of_sizes({4, 4, 4, 2}), {}) == std::vector<shard_id>{"0-00"});
  CHECK(least_shard({1, 1.0})->rebalance(view_of_sizes({4, 4, 4, 1}), {}) == std::vector<shard_id>{"0-00"});
  // Within one shard of each other: nothing to do.
  CHECK(s->rebalance(view_of_sizes({4, 4, 3, 3}), {}).empty());
  CHECK(s->rebalance(view_of_sizes({1, 0, 0, 0}), {}).empty());
  CHECK(s->rebalance(view_of_sizes({2, 2, 2}), {}).empty());
}

TEST_CASE("least_shard: one round at a time, and only between two regions or more",
          "[unit][sharding][allocation][least_shard]") {
  auto s = least_shard();
  CHECK(s->rebalance(view_of_sizes({9, 0}), {"0-00"}).empty());
  CHECK(s->rebalance(view_of_sizes({9, 0}), {"elsewhere"}).empty());
  CHECK(s->rebalance(view_of_sizes({9}), {}).empty());
  CHECK(s->rebalance(view_of_sizes({0, 0}), {}).empty());
  CHECK(s->rebalance(allocation_view{}, {}).empty());
}

TEST_CASE("least_shard: an unsorted list still gives its lowest shards", "[unit][sharding][allocation][least_shard]") {
  auto s = least_shard({20, 1.0});
  allocation_view v{{{region(2551), {"d", "b", "e", "a", "c"}}, {region(2552), {}}}};
  CHECK(s->rebalance(v, {}) == std::vector<shard_id>{"a", "b"});
}

TEST_CASE("least_shard: random joins and leaves always settle within one shard, in bounded rounds",
          "[unit][sharding][allocation][least_shard]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  const auto pick = [&](std::uint64_t n) { return rng() % n; };
  for (int trial = 0; trial < 30; ++trial) {
    CAPTURE(trial);
    // Small limits exercise the truncation; the default ones the common case.
    const rebalance_limits limits = pick(2) == 0 ? rebalance_limits{1 + pick(5), 1.0} : rebalance_limits{};
    CAPTURE(limits.absolute_limit, limits.relative_limit);
    auto s = least_shard(limits);
    placement p;
    std::uint16_t next_port = 2551;
    for (std::uint64_t i = 0, n = 1 + pick(8); i < n; ++i) p.join(region(next_port++));
    const auto shards = shard_names(pick(400));
    p.allocate_all(*s, shards);
    for (int event = 0; event < 12; ++event) {
      CAPTURE(event);
      // 1. A region joins (empty), or one leaves and its shards are allocated again.
      if (p.view.regions.size() <= 1 || pick(2) == 0) {
        p.join(region(next_port++, 1 + pick(3)));
      } else {
        auto it = p.view.regions.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(pick(p.view.regions.size())));
        const region_id leaver = it->first;
        for (const auto& orphan : p.leave(leaver)) REQUIRE(p.allocate(*s, orphan));
      }
      // 2. Rounds until the strategy is content. Each round moves at least one shard and
      //    lowers the sum of squared loads, so the rounds are few: the bound below is the
      //    shards to move at the limit's pace, plus one phase-2 round per region.
      const std::size_t limit = limits.limit(shards.size());
      const std::size_t bound = shards.size() / limit + p.view.regions.size() + 2;
      const auto result = settle(*s, p, limit, bound);
      CAPTURE(result.rounds, result.moved);
      // 3. Every shard has one home, and the loads are within one of each other.
      REQUIRE(p.table.shard_count() == shards.size());
      REQUIRE(spread(p.view) <= 1);
    }
  }
}

TEST_CASE("least_shard: a join to 100 regions of 10,000 shards settles in a few rounds",
          "[unit][sharding][allocation][least_shard]") {
  auto s = least_shard();  // limit min(20, 0.1 x 10,000) = 20 per round
  placement p;
  for (std::uint16_t i = 0; i < 100; ++i) p.join(region(static_cast<std::uint16_t>(2551 + i)));
  p.allocate_all(*s, shard_names(10'000));
  REQUIRE(spread(p.view) == 0);
  for (std::uint16_t i = 0; i < 10; ++i) p.join(region(static_cast<std::uint16_t>(3551 + i)));
  const auto result = settle(*s, p, 20, 60);
  CAPTURE(result.rounds, result.moved, result.largest);
  // 110 regions: share 91 (rounded up); the 10 new ones need about 909 shards in all, at
  // most 20 a round.
  CHECK(result.moved >= 900);
  CHECK(result.moved <= 1'000);
  CHECK(result.rounds <= 50);
  CHECK(spread(p.view) <= 1);
}

// ---------------------------------------------------------------------------------------
// consistent-hash-ring

TEST_CASE("consistent_hash_ring: owners follow the documented ring, found by brute force",
          "[unit][sharding][allocation][ring]") {
  for (const std::size_t virtual_nodes : {std::size_t{1}, std::size_t{3}, std::size_t{50}}) {
    CAPTURE(virtual_nodes);
    std::set<region_id> regions{region(2551), region(2552, 7), region(2553)};
    regions.insert(unique_address{{"other", "10.0.0.1", 2551}, 1});
    allocation_view v;
    for (const auto& r : regions) v.regions[r];
    auto s = consistent_hash_ring(virtual_nodes);
    for (const auto& shard : shard_names(300)) {
      CAPTURE(shard);
      CHECK(s->allocate(shard, region(1), v) == ring_owner_by_brute_force(regions, virtual_nodes, shard));
    }
  }
}

TEST_CASE("consistent_hash_ring: one region with one point owns everything, no region, nothing",
          "[unit][sharding][allocation][ring]") {
  auto s = consistent_hash_ring(1);
  CHECK_FALSE(s->allocate("1", region(1), allocation_view{}));
  allocation_view v{{{region(2551), {}}}};
  for (const auto& shard : shard_names(50)) CHECK(s->allocate(shard, region(1), v) == region(2551));
}

TEST_CASE("consistent_hash_ring: the answer depends on the shard and the regions only",
          "[unit][sharding][allocation][ring]") {
  allocation_view v = view_of_sizes({0, 0, 0, 0, 0});
  auto s = consistent_hash_ring();
  auto t = consistent_hash_ring();
  for (const auto& shard : shard_names(100)) {
    const auto home = s->allocate(shard, region(1), v);
    CHECK(home == t->allocate(shard, region(2555), v));
    // The shards the regions hold do not matter, only which regions there are.
    allocation_view loaded = view_of_sizes({9, 0, 3, 0, 1});
    CHECK(home == s->allocate(shard, region(1), loaded));
  }
}

TEST_CASE("consistent_hash_ring: two incarnations of one address, the lower uid owns their points",
          "[unit][sharding][allocation][ring]") {
  allocation_view v{{{region(2551, 5), {}}, {region(2551, 9), {}}, {region(2552), {}}}};
  auto s = consistent_hash_ring(20);
  std::set<region_id> homes;
  for (const auto& shard : shard_names(200)) homes.insert(*s->allocate(shard, region(1), v));
  CHECK(homes == std::set<region_id>{region(2551, 5), region(2552)});
}

TEST_CASE("consistent_hash_ring: a join at 10 regions x 1,000 shards x 100 points moves ~S/(N+1), all to the joiner",
          "[unit][sharding][allocation][ring]") {
  // Fixed addresses, so the figure is the same on every run: measured, 70 shards move
  // (0.77 of the ideal 90.9). Over random addresses at these parameters the ratio varies
  // with a standard deviation of 13% (0.70 to 1.44 in 200 trials), so the random test
  // below uses more points and shards.
  auto s = consistent_hash_ring(100, {1'000, 1.0});  // the whole move in one round
  placement p;
  for (std::uint16_t i = 0; i < 10; ++i) p.join(region(static_cast<std::uint16_t>(2551 + i)));
  p.allocate_all(*s, shard_names(1'000));
  CHECK(s->rebalance(p.view, {}).empty());
  const region_id joiner = region(2561);
  p.join(joiner);
  const auto result = settle(*s, p, 1'000, 1);
  const double ideal = 1'000.0 / 11;
  CAPTURE(result.moved, ideal);
  CHECK(result.moved > 0);
  CHECK(static_cast<double>(result.moved) <= 1.2 * ideal);
  for (const auto& [shard, home] : result.moved_to) CHECK(home == joiner);
  CHECK(p.view.regions.at(joiner).size() == result.moved);
}

TEST_CASE("consistent_hash_ring: random joins move only to the joiner, about S/(N+1) shards",
          "[unit][sharding][allocation][ring]") {
  // 10 regions x 10,000 shards x 400 points. The joiner's share of the ring is a sum of
  // 400 gaps, relative standard deviation 1/sqrt(400) = 5%; the shards falling in it add
  // 1/sqrt(909) = 3.3%; together about 6% (measured: 5.5%, ratio 0.85 to 1.18 in 200
  // trials). The bounds 0.7x and 1.3x are 5 standard deviations away.
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  const auto shards = shard_names(10'000);
  for (int trial = 0; trial < 4; ++trial) {
    CAPTURE(trial);
    auto s = consistent_hash_ring(400, {1'000, 1.0});
    placement p;
    std::set<std::uint16_t> ports;
    while (ports.size() < 11) ports.insert(static_cast<std::uint16_t>(1024 + rng() % 60'000));
    const std::uint16_t joining_port = *std::next(ports.begin(), static_cast<std::ptrdiff_t>(rng() % 11));
    for (const auto port : ports)
      if (port != joining_port) p.join(region(port, rng()));
    p.allocate_all(*s, shards);
    const region_id joiner = region(joining_port, rng());
    p.join(joiner);
    const auto result = settle(*s, p, 1'000, 2);
    const double ideal = 10'000.0 / 11;
    CAPTURE(result.moved, ideal);
    CHECK(static_cast<double>(result.moved) <= 1.3 * ideal);
    CHECK(static_cast<double>(result.moved) >= 0.7 * ideal);
    for (const auto& [shard, home] : result.moved_to) REQUIRE(home == joiner);
  }
}

TEST_CASE("consistent_hash_ring: a leaver's shards spread over the others, and nothing else moves",
          "[unit][sharding][allocation][ring]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int trial = 0; trial < 10; ++trial) {
    CAPTURE(trial);
    auto s = consistent_hash_ring(100);
    placement p;
    std::set<std::uint16_t> ports;
    while (ports.size() < 10) ports.insert(static_cast<std::uint16_t>(1024 + rng() % 60'000));
    for (const auto port : ports) p.join(region(port, rng()));
    p.allocate_all(*s, shard_names(10'000));
    const region_id leaver = std::next(p.view.regions.begin(), static_cast<std::ptrdiff_t>(rng() % 10))->first;
    const allocation_table before = p.table;
    const auto orphans = p.leave(leaver);
    std::map<region_id, std::size_t> received;
    for (const auto& orphan : orphans) {
      REQUIRE(p.allocate(*s, orphan));
      ++received[*p.table.home_of(orphan)];
    }
    // About 1,000 orphans over 9 regions. A region gets none only if it follows none of
    // the leaver's 100 points, (8/9)^100 < 1e-5; in 3,000 measured trials every region got
    // some, and the largest share was 37% (median 19%) against the bound of one half.
    CAPTURE(orphans.size(), received.size());
    CHECK(received.size() >= 8);
    for (const auto& [r, n] : received) CHECK(n <= orphans.size() / 2);
    // The others keep their shards: no rebalance, and every other home is unchanged.
    CHECK(s->rebalance(p.view, {}).empty());
    for (const auto& [shard, home] : before.homes())
      if (home != leaver) REQUIRE(p.table.home_of(shard) == home);
  }
}

TEST_CASE("consistent_hash_ring: a restarted node (same address, new uid) gets its shards back",
          "[unit][sharding][allocation][ring]") {
  auto s = consistent_hash_ring(100);
  placement p;
  for (std::uint16_t i = 0; i < 8; ++i) p.join(region(static_cast<std::uint16_t>(2551 + i)));
  p.allocate_all(*s, shard_names(1'000));
  const region_id old_incarnation = region(2553, 1);
  const region_id new_incarnation = region(2553, 2);
  const auto held = p.view.regions.at(old_incarnation);
  REQUIRE(!held.empty());

  SECTION("the new incarnation is there when the old one's shards are allocated again") {
    const auto orphans = p.leave(old_incarnation);
    p.join(new_incarnation);
    for (const auto& orphan : orphans) REQUIRE(p.allocate(*s, orphan));
    CHECK(p.view.regions.at(new_incarnation) == held);
    CHECK(s->rebalance(p.view, {}).empty());
  }
  SECTION("the old one's shards went elsewhere first; a rebalance brings exactly them back") {
    for (const auto& orphan : p.leave(old_incarnation)) REQUIRE(p.allocate(*s, orphan));
    p.join(new_incarnation);
    const auto result = settle(*s, p, 20, 10);  // limit min(20, 0.1 x 1,000) = 20
    CHECK(result.moved == held.size());
    CHECK(p.view.regions.at(new_incarnation) == held);
  }
}

TEST_CASE("consistent_hash_ring: at most the limit in flight, none of those in progress",
          "[unit][sharding][allocation][ring]") {
  auto s = consistent_hash_ring(100, {5, 1.0});
  placement p;
  for (std::uint16_t i = 0; i < 4; ++i) p.join(region(static_cast<std::uint16_t>(2551 + i)));
  p.allocate_all(*s, shard_names(200));
  p.join(region(2560));
  const auto first = s->rebalance(p.view, {});
  REQUIRE(first.size() == 5);
  CHECK(strictly_sorted(first));
  // Two of them still moving: three more, none of the two.
  const std::set<shard_id> moving{first[0], first[3]};
  const auto second = s->rebalance(p.view, moving);
  CHECK(second.size() == 3);
  for (const auto& shard : second) CHECK_FALSE(moving.contains(shard));
  CHECK(second == std::vector<shard_id>{first[1], first[2], first[4]});
  // The limit in flight: nothing more.
  CHECK(s->rebalance(p.view, std::set<shard_id>(first.begin(), first.end())).empty());
  CHECK(s->rebalance(p.view, {"a", "b", "c", "d", "e", "f"}).empty());
  // Settling at 5 per round moves all the joiner's shards.
  const auto result = settle(*s, p, 5, 200);
  CHECK(result.largest == 5);
  CHECK(p.view.regions.at(region(2560)).size() == result.moved);
  CHECK(result.rounds == (result.moved + 4) / 5);
}

TEST_CASE("consistent_hash_ring: one strategy asked about changing views answers as a fresh one",
          "[unit][sharding][allocation][ring]") {
  // The ring is cached by the view's set of regions; a stale cache would answer from an old
  // ring. A fresh strategy per question has no cache at all.
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  auto cached = consistent_hash_ring(16, {3, 1.0});
  const auto shards = shard_names(60);
  allocation_view v;
  for (int step = 0; step < 300; ++step) {
    CAPTURE(step);
    // 1. A random change: a region joins or leaves (sometimes none: same set again).
    const region_id r = region(static_cast<std::uint16_t>(2551 + rng() % 12), 1 + rng() % 2);
    switch (rng() % 3) {
      case 0: v.regions[r]; break;
      case 1: v.regions.erase(r); break;
      default: break;
    }
    // 2. The shards land on random regions of the view.
    for (auto& [region_of_view, held] : v.regions) held.clear();
    if (!v.regions.empty())
      for (const auto& shard : shards)
        std::next(v.regions.begin(), static_cast<std::ptrdiff_t>(rng() % v.regions.size()))->second.push_back(shard);
    for (auto& [region_of_view, held] : v.regions) std::sort(held.begin(), held.end());
    // 3. Both strategies answer alike.
    const auto& shard = shards[rng() % shards.size()];
    CHECK(cached->allocate(shard, region(1), v) == consistent_hash_ring(16, {3, 1.0})->allocate(shard, region(1), v));
    CHECK(cached->rebalance(v, {}) == consistent_hash_ring(16, {3, 1.0})->rebalance(v, {}));
  }
}

TEST_CASE("consistent_hash_ring: 1,000 regions x 10,000 shards, as the simulator runs it",
          "[unit][sharding][allocation][ring]") {
  auto s = consistent_hash_ring(100);
  placement p;
  for (int i = 0; i < 1'000; ++i)
    p.join(unique_address{{"sys", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250), 2552}, 1});
  p.allocate_all(*s, shard_names(10'000));
  std::size_t empty = 0;
  std::size_t most = 0;
  for (const auto& [r, held] : p.view.regions) {
    empty += held.empty() ? 1 : 0;
    most = std::max(most, held.size());
  }
  CAPTURE(empty, most);
  // 10 shards per region on average. Fixed addresses, so the figures are fixed: measured,
  // the heaviest region holds 23 and none is empty.
  CHECK(most <= 30);
  CHECK(empty == 0);
  CHECK(s->rebalance(p.view, {}).empty());
  const auto leaver = p.view.regions.begin()->first;
  for (const auto& orphan : p.leave(leaver)) REQUIRE(p.allocate(*s, orphan));
  CHECK(s->rebalance(p.view, {}).empty());
}

// ---------------------------------------------------------------------------------------
// external

TEST_CASE("external: a shard goes to its assignment while that region is in the view",
          "[unit][sharding][allocation][external]") {
  const region_id a = region(2551);
  const region_id b = region(2552);
  auto s = external();
  allocation_view v{{{a, {}}, {b, {}}}};
  CHECK_FALSE(s->allocate("1", a, v));
  s->assign("1", b);
  CHECK(s->allocate("1", a, v) == b);
  s->assign("1", a);
  CHECK(s->allocate("1", b, v) == a);
  s->assign("1", region(2599));
  CHECK_FALSE(s->allocate("1", a, v));
  s->assign("1", std::nullopt);
  CHECK_FALSE(s->allocate("1", a, v));
  s->assign("2", std::nullopt);  // no assignment to forget: nothing happens
  CHECK_FALSE(s->allocate("2", a, v));
}

TEST_CASE("external: rebalance moves shards away from regions they are not assigned to",
          "[unit][sharding][allocation][external]") {
  const region_id a = region(2551);
  const region_id b = region(2552);
  const region_id gone = region(2553);
  auto s = external({2, 1.0});
  allocation_view v{{{a, {"1", "2", "3", "4", "5"}}, {b, {"6"}}}};
  CHECK(s->rebalance(v, {}).empty());  // no assignments: nobody moves
  s->assign("1", a);                   // there already
  s->assign("2", gone);                // its region is not in the view: it stays
  s->assign("4", b);
  s->assign("5", b);
  s->assign("3", b);
  s->assign("6", a);
  CHECK(s->rebalance(v, {}) == std::vector<shard_id>{"3", "4"});
  CHECK(s->rebalance(v, {"3"}) == std::vector<shard_id>{"4"});
  CHECK(s->rebalance(v, {"3", "4"}).empty());
  CHECK(external({10, 1.0})->rebalance(v, {}).empty());  // a fresh strategy: no assignments
  auto wide = external({10, 1.0});
  for (const auto& [shard, r] : std::map<shard_id, region_id>{{"3", b}, {"4", b}, {"5", b}, {"6", a}, {"2", gone}})
    wide->assign(shard, r);
  CHECK(wide->rebalance(v, {"4"}) == std::vector<shard_id>{"3", "5", "6"});
}

TEST_CASE("external: random assignments, moves go only to assignments, and settle there",
          "[unit][sharding][allocation][external]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int trial = 0; trial < 20; ++trial) {
    CAPTURE(trial);
    const rebalance_limits limits{1 + rng() % 10, 1.0};
    auto s = external(limits);
    placement p;
    std::vector<region_id> all;
    for (std::uint16_t i = 0; i < 8; ++i) all.push_back(region(static_cast<std::uint16_t>(2551 + i)));
    for (std::size_t i = 0; i < 5; ++i) p.join(all[i]);  // 2556..2558 are never in the view
    // 1. Every shard starts where an assignment puts it (shards assigned elsewhere wait).
    const auto shards = shard_names(100);
    std::map<shard_id, region_id> assigned;
    for (const auto& shard : shards) {
      assigned[shard] = all[rng() % all.size()];
      s->assign(shard, assigned[shard]);
      p.allocate(*s, shard);
    }
    for (const auto& shard : shards)
      CHECK(p.table.home_of(shard).has_value() == p.view.regions.contains(assigned[shard]));
    // 2. New assignments for some (or none any more), then rounds until content.
    for (const auto& shard : shards) {
      switch (rng() % 4) {
        case 0:
          assigned[shard] = all[rng() % all.size()];
          s->assign(shard, assigned[shard]);
          break;
        case 1:
          assigned.erase(shard);
          s->assign(shard, std::nullopt);
          break;
        default: break;
      }
    }
    const allocation_table before = p.table;
    const auto result = settle(*s, p, limits.limit(p.table.shard_count()), 200);
    CAPTURE(result.rounds, result.moved);
    // 3. Every move went to an assignment, each shard moved at most once; a shard with an
    //    assignment in the view is there, and any other stayed where it was.
    CHECK(result.moved == result.moved_to.size());
    for (const auto& [shard, home] : result.moved_to) REQUIRE(assigned.at(shard) == home);
    for (const auto& [shard, home] : before.homes()) {
      const auto it = assigned.find(shard);
      if (it != assigned.end() && p.view.regions.contains(it->second))
        REQUIRE(p.table.home_of(shard) == it->second);
      else
        REQUIRE(p.table.home_of(shard) == home);
    }
  }
}
