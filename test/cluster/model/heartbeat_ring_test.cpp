#include "troupe/cluster/model/heartbeat_ring.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

using troupe::cluster::model::heartbeat_ring;
using troupe::cluster::model::ring_hash;
using troupe::cluster::model::unique_address;

namespace {

unique_address node(int i, std::uint16_t port = 2552) {
  return {{"shop", "10.0.0." + std::to_string(i), port}, static_cast<std::uint64_t>(i)};
}

std::set<unique_address> cluster_of(int n) {
  std::set<unique_address> nodes;
  for (int i = 1; i <= n; ++i) nodes.insert(node(i));
  return nodes;
}

std::size_t count_reachable(const std::set<unique_address>& picked,
                            const std::set<unique_address>& unreachable) {
  return static_cast<std::size_t>(std::count_if(picked.begin(), picked.end(), [&](const auto& a) {
    return unreachable.count(a) == 0;
  }));
}

}  // namespace

TEST_CASE("ring_hash is a fixed FNV-1a, the same in every run", "[unit][ring]") {
  // Reference values computed independently (Python) from the documented encoding.
  const unique_address a{{"shop", "127.0.0.1", 2551}, 0x1234};
  CHECK(ring_hash(a) == 0xbd3734a3393be28aULL);
  CHECK(ring_hash(node(1)) == 0x4378ed931454878bULL);
  unique_address other_incarnation = a;
  other_incarnation.uid = 0x1235;
  CHECK(ring_hash(other_incarnation) != ring_hash(a));
  // The terminators keep field boundaries apart.
  const unique_address b{{"ab", "c", 1}, 1};
  const unique_address c{{"a", "bc", 1}, 1};
  CHECK(ring_hash(b) != ring_hash(c));
}

TEST_CASE("ring order is by hash, independent of self and insertion order", "[unit][ring]") {
  const heartbeat_ring ring{node(1), cluster_of(6)};
  const std::vector<unique_address> expected{node(4), node(5), node(1),
                                             node(2), node(3), node(6)};
  CHECK(ring.ring_order() == expected);
  const heartbeat_ring seen_from_6{node(6), {node(6), node(3), node(1), node(5), node(2), node(4)}};
  CHECK(seen_from_6.ring_order() == expected);
}

TEST_CASE("receivers are the next nodes on the ring, wrapping around", "[unit][ring]") {
  const heartbeat_ring ring{node(1), cluster_of(6), {}, 2};
  CHECK(ring.my_receivers() == std::set<unique_address>{node(2), node(3)});
  CHECK(ring.receivers(node(3)) == std::set<unique_address>{node(6), node(4)});
  CHECK(ring.receivers(node(6)) == std::set<unique_address>{node(4), node(5)});
  CHECK(ring.monitors_of(node(4)) == std::set<unique_address>{node(3), node(6)});
  CHECK(ring.receivers(node(99)).empty());
}

TEST_CASE("a node off the ring gets the receivers it would have on it", "[unit][ring]") {
  // Many nodes share one ring in the simulator; a joining node is not on the members'
  // ring yet, but watches them from the place it would take.
  std::mt19937_64 rng{Catch::rngSeed()};
  for (int round = 0; round < 50; ++round) {
    const auto nodes = cluster_of(1 + static_cast<int>(rng() % 30));
    std::set<unique_address> unreachable;
    for (const auto& n : nodes)
      if (rng() % 4 == 0) unreachable.insert(n);
    const heartbeat_ring shared{*nodes.begin(), nodes, unreachable};
    const unique_address joining = node(100 + round);
    const heartbeat_ring with_it{joining, nodes, unreachable};
    CHECK(shared.receivers_from_place(joining) == with_it.my_receivers());
    CHECK(shared.receivers(joining).empty());
    for (const auto& n : nodes) CHECK(shared.receivers_from_place(n) == shared.receivers(n));
  }
}

TEST_CASE("every node is monitored by exactly min(9, n - 1) nodes", "[unit][ring]") {
  for (int n = 1; n <= 25; ++n) {
    CAPTURE(n);
    const auto nodes = cluster_of(n);
    const heartbeat_ring ring{node(1), nodes};
    const std::size_t expected = std::min<std::size_t>(9, static_cast<std::size_t>(n - 1));
    for (const auto& a : nodes) {
      const auto receivers = ring.receivers(a);
      CHECK(receivers.size() == expected);
      CHECK(receivers.count(a) == 0);
      const auto monitors = ring.monitors_of(a);
      CHECK(monitors.size() == expected);
      // receivers and monitors describe the same edges, from both ends.
      for (const auto& b : nodes) CHECK((receivers.count(b) != 0) == (ring.monitors_of(b).count(a) != 0));
    }
  }
}

TEST_CASE("unreachable receivers are kept but more reachable ones are added", "[unit][ring]") {
  const auto nodes = cluster_of(20);
  const heartbeat_ring plain{node(1), nodes};
  // r[0] is node 1 itself after rotating the ring order.
  std::vector<unique_address> r = plain.ring_order();
  std::rotate(r.begin(), std::find(r.begin(), r.end(), node(1)), r.end());
  REQUIRE(r.front() == node(1));

  SECTION("an unreachable node among the first nine is kept, and one more is added") {
    const heartbeat_ring ring = plain.with_unreachable({r[2], r[12]});
    const std::set<unique_address> expected(r.begin() + 1, r.begin() + 11);
    CHECK(ring.my_receivers() == expected);
    CHECK(count_reachable(ring.my_receivers(), ring.unreachable()) == 9);
  }
  SECTION("unreachable nodes met after nine picks are skipped") {
    const heartbeat_ring ring = plain.with_unreachable({r[2], r[10], r[11]});
    std::set<unique_address> expected(r.begin() + 1, r.begin() + 10);
    expected.insert(r[12]);
    CHECK(ring.my_receivers() == expected);
    CHECK(count_reachable(ring.my_receivers(), ring.unreachable()) == 9);
  }
  SECTION("with every other node unreachable, the first nine are still watched") {
    const heartbeat_ring ring =
        plain.with_unreachable(std::set<unique_address>(r.begin() + 1, r.end()));
    CHECK(ring.my_receivers() == std::set<unique_address>(r.begin() + 1, r.begin() + 10));
  }
}

TEST_CASE("random unreachable sets keep min(9, reachable others) reachable receivers",
          "[unit][ring]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 200; ++round) {
    const int n = 1 + static_cast<int>(rng() % 30);
    const auto nodes = cluster_of(n);
    std::set<unique_address> unreachable;
    for (const auto& a : nodes)
      if (rng() % 3 == 0) unreachable.insert(a);
    const heartbeat_ring ring{node(1), nodes, unreachable};
    CAPTURE(round, n, unreachable.size());
    for (const auto& sender : nodes) {
      const auto receivers = ring.receivers(sender);
      const std::size_t reachable_others =
          nodes.size() - unreachable.size() - (unreachable.count(sender) == 0 ? 1 : 0);
      CHECK(count_reachable(receivers, unreachable) == std::min<std::size_t>(9, reachable_others));
      CHECK(receivers.size() <= 9 + std::min<std::size_t>(9, reachable_others));
      CHECK(receivers.count(sender) == 0);
    }
  }
}

TEST_CASE("rings are values: add, remove and re-mark nodes", "[unit][ring]") {
  const heartbeat_ring ring{node(1), {node(2), node(3)}, {node(7)}, 9};
  CHECK(ring.nodes() == std::set<unique_address>{node(1), node(2), node(3)});  // self added
  CHECK(ring.unreachable().empty());  // node 7 is not on the ring
  CHECK(ring.my_receivers() == std::set<unique_address>{node(2), node(3)});

  const heartbeat_ring bigger = ring.with_node(node(4)).with_unreachable({node(4)});
  CHECK(bigger.my_receivers() == std::set<unique_address>{node(2), node(3), node(4)});
  CHECK(ring.nodes().size() == 3);  // the original is unchanged

  const heartbeat_ring smaller = bigger.without_node(node(4)).without_node(node(1));
  CHECK(smaller.nodes() == std::set<unique_address>{node(1), node(2), node(3)});
  CHECK(smaller.unreachable().empty());
  CHECK(smaller.monitored_by_nr_of_members() == 9);
}
