#include "troupe/sharding/model/allocation_table.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

using troupe::cluster::model::unique_address;
using troupe::sharding::model::allocation_table;
using troupe::sharding::model::region_id;
using troupe::sharding::model::shard_id;

namespace {

region_id region(std::uint16_t port, std::uint64_t uid = 1) { return unique_address{{"sys", "127.0.0.1", port}, uid}; }

}  // namespace

TEST_CASE("allocation_table: the header's example", "[unit][sharding][allocation_table]") {
  const region_id a = region(2551);
  const region_id b = region(2552);
  const region_id p = region(2553);
  allocation_table t;
  CHECK(t.add_region(a));
  CHECK(t.add_proxy(p));
  CHECK(t.allocate("7", a));
  CHECK_FALSE(t.allocate("7", b));
  CHECK(t.home_of("7") == a);
  CHECK(t.remove_region(a) == std::vector<shard_id>{"7"});
  CHECK_FALSE(t.home_of("7"));
  CHECK(t.shard_count() == 0);
  CHECK_FALSE(t.invariant_violation());
}

TEST_CASE("allocation_table: a node registers once, as a region or as a proxy", "[unit][sharding][allocation_table]") {
  const region_id a = region(2551);
  const region_id p = region(2552);
  allocation_table t;
  REQUIRE(t.add_region(a));
  REQUIRE(t.add_proxy(p));
  const allocation_table before = t;
  CHECK_FALSE(t.add_region(a));
  CHECK_FALSE(t.add_proxy(a));
  CHECK_FALSE(t.add_region(p));
  CHECK_FALSE(t.add_proxy(p));
  CHECK(t == before);
  CHECK(t.is_region(a));
  CHECK_FALSE(t.is_proxy(a));
  CHECK(t.is_proxy(p));
  CHECK_FALSE(t.is_region(p));
  // Another incarnation at the same address is another node.
  CHECK(t.add_region(region(2551, 2)));
  CHECK(t.regions().size() == 2);
  CHECK(t.proxies() == std::set<region_id>{p});
}

TEST_CASE("allocation_table: a shard has one home, and only on a hosting region", "[unit][sharding][allocation_table]") {
  const region_id a = region(2551);
  const region_id b = region(2552);
  const region_id p = region(2553);
  allocation_table t;
  t.add_region(a);
  t.add_region(b);
  t.add_proxy(p);
  REQUIRE(t.allocate("1", a));
  const allocation_table before = t;
  CHECK_FALSE(t.allocate("1", a));             // has a home already (the same one)
  CHECK_FALSE(t.allocate("1", b));             // has a home already
  CHECK_FALSE(t.allocate("2", p));             // a proxy hosts nothing
  CHECK_FALSE(t.allocate("2", region(2554)));  // not registered
  CHECK_FALSE(t.deallocate("2"));              // had no home
  CHECK(t == before);
  CHECK(t.deallocate("1"));
  CHECK_FALSE(t.home_of("1"));
  CHECK(t.regions().at(a).empty());
  CHECK(t.allocate("1", b));
  CHECK(t.home_of("1") == b);
  CHECK(t.homes().size() == 1);
  CHECK_FALSE(t.invariant_violation());
}

TEST_CASE("allocation_table: removing a region frees its shards, sorted, and only its", "[unit][sharding][allocation_table]") {
  const region_id a = region(2551);
  const region_id b = region(2552);
  const region_id p = region(2553);
  allocation_table t;
  t.add_region(a);
  t.add_region(b);
  t.add_proxy(p);
  for (const char* s : {"9", "10", "1", "b", "a"}) t.allocate(s, a);
  t.allocate("5", b);
  CHECK(t.remove_region(a) == std::vector<shard_id>{"1", "10", "9", "a", "b"});
  CHECK_FALSE(t.is_region(a));
  CHECK(t.shard_count() == 1);
  CHECK(t.home_of("5") == b);
  // A proxy hosts nothing; an unknown node changes nothing.
  CHECK(t.remove_region(p).empty());
  CHECK_FALSE(t.is_proxy(p));
  const allocation_table before = t;
  CHECK(t.remove_region(region(2599)).empty());
  CHECK(t == before);
  // Freed shards may go elsewhere, and the removed node may register again (as a proxy).
  CHECK(t.allocate("1", b));
  CHECK(t.add_proxy(a));
  CHECK_FALSE(t.invariant_violation());
}

TEST_CASE("allocation_table: equality compares every part", "[unit][sharding][allocation_table]") {
  allocation_table x;
  allocation_table y;
  CHECK(x == y);
  x.add_region(region(2551));
  CHECK_FALSE(x == y);
  y.add_proxy(region(2551));
  CHECK_FALSE(x == y);
  y.remove_region(region(2551));
  y.add_region(region(2551));
  CHECK(x == y);
  x.allocate("1", region(2551));
  CHECK_FALSE(x == y);
}

TEST_CASE("allocation_table: the invariant holds under random operations, and refused ones change nothing",
          "[unit][sharding][allocation_table]") {
  // A plain reference model (shard -> home, and who is registered as what) is kept beside
  // the table; every answer of the table must match it.
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  const auto pick = [&](std::uint64_t n) { return rng() % n; };
  for (int trial = 0; trial < 20; ++trial) {
    CAPTURE(trial);
    allocation_table t;
    std::map<shard_id, region_id> homes;
    std::set<region_id> regions;
    std::set<region_id> proxies;
    for (int step = 0; step < 2000; ++step) {
      CAPTURE(step);
      const region_id r = region(static_cast<std::uint16_t>(2550 + pick(8)), 1 + pick(2));
      const shard_id s = std::to_string(pick(60));
      const allocation_table before = t;
      bool changed = false;
      switch (pick(6)) {
        case 0: {
          const bool fresh = !regions.contains(r) && !proxies.contains(r);
          CHECK(t.add_region(r) == fresh);
          if (fresh) regions.insert(r);
          changed = fresh;
          break;
        }
        case 1: {
          const bool fresh = !regions.contains(r) && !proxies.contains(r);
          CHECK(t.add_proxy(r) == fresh);
          if (fresh) proxies.insert(r);
          changed = fresh;
          break;
        }
        case 2: {
          std::vector<shard_id> expected;
          for (auto it = homes.begin(); it != homes.end();) {
            if (it->second == r) {
              expected.push_back(it->first);  // std::map: already sorted
              it = homes.erase(it);
            } else {
              ++it;
            }
          }
          changed = regions.erase(r) + proxies.erase(r) > 0;
          CHECK(t.remove_region(r) == expected);
          break;
        }
        case 3:
        case 4: {
          const bool ok = regions.contains(r) && !homes.contains(s);
          CHECK(t.allocate(s, r) == ok);
          if (ok) homes.emplace(s, r);
          changed = ok;
          break;
        }
        default: {
          const bool ok = homes.erase(s) > 0;
          CHECK(t.deallocate(s) == ok);
          changed = ok;
          break;
        }
      }
      if (!changed) REQUIRE(t == before);
      const auto violation = t.invariant_violation();
      CAPTURE(violation.value_or(""));
      REQUIRE_FALSE(violation);
      REQUIRE(t.shard_count() == homes.size());
      REQUIRE(t.proxies() == proxies);
      REQUIRE(t.regions().size() == regions.size());
      const auto home = t.home_of(s);
      const auto expected = homes.find(s);
      REQUIRE(home.has_value() == (expected != homes.end()));
      if (home) REQUIRE(*home == expected->second);
    }
  }
}
