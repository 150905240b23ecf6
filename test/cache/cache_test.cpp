// The distributed cache on an in-process cluster of three actor systems: a key put on one
// node is read on another, removed, expires by its time to live (swept without a get),
// is evicted under a small byte budget, and get_or_load runs its loader once however many
// callers ask at once; each with and without a replica of every bucket. Waits poll with
// deadlines; nothing sleeps for an effect.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor/testkit.hpp>
#include <troupe/cache/cache.hpp>
#include <troupe/cache/model/lru_store.hpp>

#include "cache_nodes.hpp"
#include "support/test_cluster.hpp"

using namespace std::chrono_literals;
using troupe::testkit::await_condition;
namespace tcache = troupe::cache;

namespace {

/// Cache settings for a test: shards that stay where they are first placed (no rebalance
/// during a case), short retries and sweeps, and `replicas` (each case runs with 0 and 1).
tcache::cache_settings test_settings(int replicas, nlohmann::json j) {
  j["replicas"] = replicas;
  j["sharding"] = {{"rebalance-interval-ms", 600000},
                   {"retry-interval-ms", 200},
                   {"shard-start-timeout-ms", 1000},
                   {"coordinator-recovery-timeout-ms", 500}};
  if (!j.contains("sweep-interval-ms")) j["sweep-interval-ms"] = 100;
  if (!j.contains("number-of-shards")) j["number-of-shards"] = 6;
  auto s = tcache::cache_settings::parse(j);
  REQUIRE(s);
  return *s;
}

using node = troupe::test::cache_node;
using troupe::test::start_cache;

std::size_t total_bytes(std::vector<std::unique_ptr<node>>& nodes, std::size_t cache) {
  std::size_t sum = 0;
  for (auto& n : nodes) sum += n->caches[cache].local_bytes();
  return sum;
}

struct point {
  int x = 0;
  int y = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(point, x, y)

}  // namespace

TEST_CASE("cache: put on one node, get and remove on others, ttl expiry by the sweep", "[integration]") {
  const int replicas = GENERATE(0, 1);
  INFO("replicas " << replicas);
  auto nodes = troupe::test::form_cluster<node>(3, "cachetest");
  const auto plain = start_cache(nodes, test_settings(replicas, {{"type-name", "main"}, {"number-of-buckets", 12}}));
  const auto ttl = start_cache(
      nodes, test_settings(replicas, {{"type-name", "short"}, {"number-of-buckets", 4}, {"default-ttl-ms", 300}}));
  auto& c0 = nodes[0]->caches[plain];
  auto& c1 = nodes[1]->caches[plain];
  auto& c2 = nodes[2]->caches[plain];

  // 1. Keys put through node 0 are read through nodes 1 and 2, bytes and all.
  const std::string binary("\0\xff\x01 bytes", 9);
  for (int i = 0; i < 20; ++i) {
    auto r = c0.put("key-" + std::to_string(i), binary + std::to_string(i)).get();
    REQUIRE(r.stored);
  }
  for (int i = 0; i < 20; ++i) {
    auto& reader = i % 2 ? c1 : c2;
    auto r = reader.get("key-" + std::to_string(i)).get();
    REQUIRE(r.found);
    CHECK(r.value == binary + std::to_string(i));
  }
  CHECK_FALSE(c1.get("absent").get().found);
  CHECK(total_bytes(nodes, plain) > 0);

  // 2. The typed helper round-trips a json-able type.
  REQUIRE(c2.put_json("point", point{3, 4}).get().stored);
  auto p = tcache::distributed_cache::value_as<point>(c0.get("point").get());
  REQUIRE(p);
  CHECK((p->x == 3 && p->y == 4));

  // 3. Remove through another node; a second remove finds nothing.
  CHECK(c1.remove("key-3").get().removed);
  CHECK_FALSE(c2.get("key-3").get().found);
  CHECK_FALSE(c0.remove("key-3").get().removed);

  // 4. Bad input is refused with its reason.
  CHECK(c0.put("", "v").get().error == "empty_key");
  CHECK(c0.put("k", "v", 0ms).get().error == "bad_ttl");

  // 5. Time to live: keys with the default ttl are swept (no get needed) and then not
  //    found; an explicit ttl overrides the default.
  auto& t0 = nodes[0]->caches[ttl];
  for (int i = 0; i < 5; ++i) REQUIRE(t0.put("session-" + std::to_string(i), "data").get().stored);
  REQUIRE(t0.put("long", "data", 60s).get().stored);
  const std::size_t long_cost = troupe::cache::model::entry_cost("long", "data");
  await_condition(
      nodes[0]->system, [&] { return total_bytes(nodes, ttl) == long_cost; }, 10s, "the expired keys swept");
  for (int i = 0; i < 5; ++i) CHECK_FALSE(nodes[2]->caches[ttl].get("session-" + std::to_string(i)).get().found);
  CHECK(nodes[1]->caches[ttl].get("long").get().found);
}

TEST_CASE("cache: eviction under a small budget, get_or_load loads once", "[integration]") {
  const int replicas = GENERATE(0, 1);
  INFO("replicas " << replicas);
  auto nodes = troupe::test::form_cluster<node>(3, "cachetest");
  // One bucket: every key on one node, whose whole budget it has.
  const auto small = start_cache(nodes, test_settings(replicas, {{"type-name", "small"},
                                                                 {"number-of-buckets", 1},
                                                                 {"max-bytes-per-node", 4096},
                                                                 {"number-of-shards", 1}}));
  const auto loaded = start_cache(nodes, test_settings(replicas, {{"type-name", "loaded"}, {"number-of-buckets", 8}}));

  // 1. Twenty entries of 467 bytes where 8 fit: the 12 least recently put are evicted.
  const std::string value(400, 'v');
  const std::size_t cost = troupe::cache::model::entry_cost("k-00", value);
  for (int i = 0; i < 20; ++i) {
    auto k = std::string("k-") + (i < 10 ? "0" : "") + std::to_string(i);
    REQUIRE(nodes[i % 3]->caches[small].put(k, value).get().stored);
  }
  CHECK(total_bytes(nodes, small) == 8 * cost);
  for (auto& n : nodes) CHECK(n->caches[small].local_bytes() <= 4096);
  for (int i = 0; i < 20; ++i) {
    auto k = std::string("k-") + (i < 10 ? "0" : "") + std::to_string(i);
    INFO(k);
    CHECK(nodes[(i + 1) % 3]->caches[small].get(k).get().found == (i >= 12));
  }
  // Larger than the bucket's whole share: refused.
  CHECK(nodes[0]->caches[small].put("huge", std::string(5000, 'x')).get().error == "too_large");

  // 2. Four buckets on one node (one shard) split its budget: each holds at most a quarter,
  //    the first ones started shrinking to it by their next put or sweep.
  const auto split = start_cache(nodes, test_settings(replicas, {{"type-name", "split"},
                                                                 {"number-of-buckets", 4},
                                                                 {"max-bytes-per-node", 4096},
                                                                 {"number-of-shards", 1}}));
  for (int i = 0; i < 40; ++i)
    REQUIRE(nodes[i % 3]->caches[split].put("s-" + std::to_string(i), value.substr(0, 100)).get().stored);
  std::size_t host_buckets = 0;
  for (auto& n : nodes) host_buckets = std::max(host_buckets, n->caches[split].local_buckets());
  CHECK(host_buckets == 4);
  await_condition(
      nodes[0]->system, [&] { return total_bytes(nodes, split) <= 4096; }, 10s, "the split budget held");
  CHECK(total_bytes(nodes, split) > 0);

  // 3. get_or_load: nine callers on three nodes at once; the loader waits at a gate the test
  //    opens once every call is made, so the calls overlap the load.
  std::atomic<int> loads{0};
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  const tcache::loader slow = [&loads, opened](const std::string& key) -> troupe::expected<std::string, std::string> {
    ++loads;
    opened.wait_for(5s);
    return "loaded:" + key;
  };
  std::vector<troupe::ask_result<tcache::get_reply>> replies;
  for (int i = 0; i < 9; ++i) replies.push_back(nodes[i % 3]->caches[loaded].get_or_load("profile", slow));
  await_condition(
      nodes[0]->system, [&] { return loads > 0; }, 10s, "one caller granted the load");
  for (auto& r : replies) CHECK_FALSE(r.ready());  // the granted one waits at the gate, the others for it
  gate.set_value();
  for (auto& r : replies) {
    auto v = r.get();
    CHECK(v.found);
    CHECK(v.value == "loaded:profile");
  }
  CHECK(loads == 1);
  CHECK(nodes[1]->caches[loaded].get("profile").get().value == "loaded:profile");
  CHECK(nodes[2]->caches[loaded].get_or_load("profile", slow).get().found);
  CHECK(loads == 1);  // a hit runs no loader

  // 4. A failing loader: every waiter gets its error, and nothing is cached.
  std::atomic<int> failures{0};
  const tcache::loader failing = [&failures](const std::string&) -> troupe::expected<std::string, std::string> {
    ++failures;
    throw std::runtime_error("database down");
  };
  auto f = nodes[0]->caches[loaded].get_or_load("broken", failing).get();
  CHECK_FALSE(f.found);
  CHECK(f.error == "the loader threw: database down");
  CHECK_FALSE(nodes[1]->caches[loaded].get("broken").get().found);
  CHECK(failures == 1);
}
