// The cache's replica on an in-process cluster of three actor systems: with `replicas` 1 a
// bucket's keys survive its hand-off to another node and the crash of the node it lives
// on, and its one copy follows the ring of members when a node joins; without, a moved
// bucket starts empty. The bucket's shard is placed by the external allocation strategy,
// so each move is one the test makes. Waits poll with deadlines.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor/testkit.hpp>
#include <troupe/cache/cache.hpp>
#include <troupe/cache/model/replica.hpp>
#include <troupe/sharding/model/ids.hpp>
#include <troupe/sharding/sharding.hpp>

#include "cache_nodes.hpp"
#include "support/test_cluster.hpp"

using namespace std::chrono_literals;
using troupe::testkit::await_condition;
namespace tcache = troupe::cache;

namespace {

/// A cache of one bucket in one shard, placed where the test assigns it; moves are quick.
tcache::cache_settings one_bucket(const std::string& type_name, int replicas) {
  auto s = tcache::cache_settings::parse(nlohmann::json{{"type-name", type_name},
                                                        {"number-of-buckets", 1},
                                                        {"number-of-shards", 1},
                                                        {"replicas", replicas},
                                                        {"sweep-interval-ms", 100},
                                                        {"ask-timeout-ms", 2000},
                                                        {"sharding",
                                                         {{"allocation-strategy", "external"},
                                                          {"rebalance-interval-ms", 100},
                                                          {"retry-interval-ms", 100},
                                                          {"handoff-timeout-ms", 3000},
                                                          {"shard-start-timeout-ms", 1000},
                                                          {"coordinator-recovery-timeout-ms", 500}}}});
  REQUIRE(s);
  return *s;
}

/// Cluster settings whose failure detector finds the crashed node unreachable sooner (the
/// cluster removes a downed node once the others find it unreachable).
nlohmann::json quick_detection() {
  auto j = troupe::test::fast_cluster_json("cachereplica");
  j["heartbeat-interval-ms"] = 100;
  j["failure-detector"]["acceptable-heartbeat-pause-ms"] = 500;
  return j;
}

using node = troupe::test::cache_node;
using node_list = troupe::test::cache_node_list;
using troupe::test::start_cache;

/// Assigns the bucket of cache `c` to node `to` (again until the coordinator has it) and
/// waits until it runs there, a get through node `via` starting it.
void place(node_list& nodes, std::size_t c, std::size_t to, std::size_t via) {
  const auto& type_name = nodes[via]->caches[c].settings().type_name;
  const std::string shard = troupe::sharding::model::default_shard_of("0", 1);
  await_condition(
      nodes[via]->system,
      [&] {
        troupe::sharding::cluster_sharding::get(nodes[via]->system).assign(type_name, shard, nodes[to]->address);
        (void)nodes[via]->caches[c].get("probe").result();
        return nodes[to]->caches[c].local_buckets() == 1;
      },
      10s, "the bucket placed on node " + std::to_string(to));
}

/// Bytes of the copies of cache `c` held over the live nodes (1 crashed: skipped).
std::size_t replica_bytes(node_list& nodes, std::size_t c) {
  std::size_t sum = 0;
  for (auto& n : nodes)
    if (!n->system.is_terminated()) sum += n->caches[c].local_replica_bytes();
  return sum;
}

std::string key(int i) { return "key-" + std::to_string(i); }
std::string value(int i) { return std::string("\0\xff value ", 8) + std::to_string(i); }

}  // namespace

TEST_CASE("cache replicas: a bucket's keys survive its hand-off and the crash of its node", "[integration]") {
  auto nodes = troupe::test::form_cluster<node>(std::vector<nlohmann::json>(3, quick_detection()));
  const auto kept = start_cache(nodes, one_bucket("kept", 1));
  const auto plain = start_cache(nodes, one_bucket("plain", 0));

  // 1. Both buckets on node 2; keys put through node 0. A put answered stored is on the
  //    replica holder too: its copy is as large as the bucket.
  place(nodes, kept, 2, 0);
  place(nodes, plain, 2, 0);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(nodes[0]->caches[kept].put(key(i), value(i)).get().stored);
    REQUIRE(nodes[0]->caches[plain].put(key(i), value(i)).get().stored);
  }
  REQUIRE(nodes[1]->caches[kept].put("ttl", "v", 60s).get().stored);
  REQUIRE(nodes[1]->caches[kept].remove(key(19)).get().removed);
  const std::size_t bytes = nodes[2]->caches[kept].local_bytes();
  CHECK(bytes > 0);
  CHECK(nodes[0]->caches[kept].local_replica_bytes() + nodes[1]->caches[kept].local_replica_bytes() == bytes);
  CHECK(nodes[2]->caches[kept].local_replica_bytes() == 0);

  // 2. A hand-off (the shard reassigned to node 1): with a replica the bucket starts there
  //    with every key; without, it starts empty.
  place(nodes, kept, 1, 0);
  place(nodes, plain, 1, 0);
  for (int i = 0; i < 19; ++i) {
    auto r = nodes[2]->caches[kept].get(key(i)).get();
    INFO(key(i));
    REQUIRE(r.found);
    CHECK(r.value == value(i));
  }
  CHECK_FALSE(nodes[0]->caches[kept].get(key(19)).get().found);
  CHECK(nodes[0]->caches[kept].get("ttl").get().found);
  CHECK_FALSE(nodes[0]->caches[plain].get(key(0)).get().found);
  CHECK(nodes[1]->caches[kept].local_bytes() == bytes);
  // The new holder has the copy; the old one dropped its own once it had.
  await_condition(
      nodes[0]->system, [&] { return replica_bytes(nodes, kept) == bytes; }, 5s, "one copy after the move");
  REQUIRE(nodes[0]->caches[kept].put("after-move", "v").get().stored);

  // 3. A crash of node 1, where the bucket lives now: its actor system stops at once (no
  //    hand-off), node 0 downs it, and the bucket, placed on node 2, starts from the copy.
  const auto crashed = nodes[1]->address;
  nodes[1]->system.terminate();
  REQUIRE(nodes[1]->system.await_termination(10s));
  nodes[0]->cl().down(crashed);
  for (std::size_t i : {0u, 2u})
    await_condition(
        nodes[i]->system, [&] { return troupe::test::sees_all_up(*nodes[i], 2); }, 10s, "the crashed node removed");
  place(nodes, kept, 2, 0);
  for (int i = 0; i < 19; ++i) {
    auto r = nodes[0]->caches[kept].get(key(i)).get();
    INFO(key(i));
    REQUIRE(r.found);
    CHECK(r.value == value(i));
  }
  CHECK(nodes[2]->caches[kept].get("after-move").get().found);
  CHECK(nodes[2]->caches[kept].get("ttl").get().found);

  // 4. The bucket's copy now lives on node 0, the one other node up, and nowhere else.
  REQUIRE(nodes[2]->caches[kept].put("after-crash", "v").get().stored);
  await_condition(
      nodes[0]->system,
      [&] {
        return nodes[0]->caches[kept].local_replica_bytes() == nodes[2]->caches[kept].local_bytes() &&
               nodes[2]->caches[kept].local_replica_bytes() == 0;
      },
      5s, "one copy, on node 0");

  // 5. A node joins: the copy lives on the successor of node 2 in the new ring (node 3 when
  //    it sorts right after node 2; then node 0's copy is dropped), and only there.
  nodes.push_back(std::make_unique<node>(quick_detection()));
  auto c3 = tcache::distributed_cache::start(nodes[3]->system, one_bucket("kept", 1));
  REQUIRE(c3);
  nodes[3]->caches.push_back(*c3);
  nodes[3]->cl().join_seed_nodes({nodes[0]->address});
  for (std::size_t i : {0u, 2u, 3u})
    await_condition(
        nodes[i]->system, [&] { return troupe::test::sees_all_up(*nodes[i], 3); }, 10s, "the new node up");
  const auto holder = tcache::model::replica_holder(
      std::vector<troupe::cluster::model::address>{nodes[0]->address, nodes[2]->address, nodes[3]->address},
      nodes[2]->address);
  REQUIRE(holder);
  const std::size_t h = *holder == nodes[3]->address ? 3 : 0;
  await_condition(
      nodes[0]->system,
      [&] {
        const std::size_t primary = nodes[2]->caches[kept].local_bytes();
        return nodes[h]->caches[kept].local_replica_bytes() == primary && replica_bytes(nodes, kept) == primary;
      },
      10s, "the copy on the successor in the new ring");
  CHECK(nodes[0]->caches[kept].get(key(0)).get().found);
  // All nodes stop together rather than one after the other in their destructors.
  for (auto& n : nodes) n->system.terminate();
}
