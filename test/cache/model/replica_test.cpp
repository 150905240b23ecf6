// The replica's pure parts: the choice of a bucket's replica holder, and a holder's copy
// (full copies in parts, writes that must follow its version, expiry with made-up times,
// and a seeded random run against the primary's store). No actor system, no clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <troupe/cache/model/lru_store.hpp>
#include <troupe/cache/model/replica.hpp>

using namespace std::chrono_literals;
using troupe::cache::model::bucket_replica;
using troupe::cache::model::copy_status;
using troupe::cache::model::entry_copy;
using troupe::cache::model::lru_store;
using troupe::cache::model::replica_holder;
using troupe::cache::model::time_point;

namespace {
const time_point epoch{};
using nodes = std::vector<std::string>;

std::vector<std::string> keys_of(const std::vector<entry_copy>& entries) {
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(e.key);
  return keys;
}
}  // namespace

TEST_CASE("replica_holder is the next node up in address order, wrapping around", "[unit]") {
  CHECK(replica_holder<std::string>({"b", "c", "a"}, "a") == "b");
  CHECK(replica_holder<std::string>({"b", "c", "a"}, "b") == "c");
  CHECK(replica_holder<std::string>({"b", "c", "a"}, "c") == "a");
  // A node not in the ring (leaving, say) still gets the next one.
  CHECK(replica_holder<std::string>({"a", "c"}, "b") == "c");
  CHECK(replica_holder<std::string>({"a", "c"}, "d") == "a");
  // No other node: none.
  CHECK(replica_holder<std::string>({"a"}, "a") == std::nullopt);
  CHECK(replica_holder<std::string>({}, "a") == std::nullopt);
  // The same on every node, whatever order each lists the members in.
  const nodes orders[] = {{"n1", "n2", "n3", "n4"}, {"n4", "n3", "n2", "n1"}, {"n3", "n1", "n4", "n2"}};
  for (const auto& ring : orders) {
    CHECK(replica_holder(ring, std::string("n2")) == "n3");
    CHECK(replica_holder(ring, std::string("n4")) == "n1");
  }
  // Every node holds the copy of exactly one other: the ring is a permutation.
  std::vector<std::string> holders;
  for (const auto& n : orders[0]) holders.push_back(*replica_holder(orders[0], n));
  std::sort(holders.begin(), holders.end());
  CHECK(holders == orders[0]);
}

TEST_CASE("bucket_replica: a full copy in parts, then writes that follow its version", "[unit]") {
  bucket_replica r;
  CHECK_FALSE(r.held());
  // 1. A write before any copy is refused: the primary sends the full state.
  CHECK_FALSE(r.put(1, 4096, "k", "v", std::nullopt, epoch));
  // 2. A copy at version 7 in two parts; the first alone is not yet held.
  CHECK(r.copy_part(7, 4096, 0, 2, {{"a", "1", std::nullopt}}, epoch) == copy_status::partial);
  CHECK_FALSE(r.held());
  CHECK(r.copy_part(7, 4096, 1, 2, {{"b", "2", 5s}}, epoch) == copy_status::complete);
  CHECK(r.held());
  CHECK(r.version() == 7);
  CHECK(keys_of(r.entries(epoch)) == std::vector<std::string>{"a", "b"});
  // 3. Writes 8 and 9 follow; 11 skips 10 and changes nothing.
  CHECK(r.put(8, 4096, "c", "3", std::nullopt, epoch));
  CHECK(r.remove(9, "a"));
  CHECK_FALSE(r.put(11, 4096, "d", "4", std::nullopt, epoch));
  CHECK(r.version() == 9);
  CHECK(keys_of(r.entries(epoch)) == std::vector<std::string>{"b", "c"});
  // 4. Expiry by the copy's own rules: b's 5 s run out.
  r.expire(epoch + 6s);
  CHECK(keys_of(r.entries(epoch + 6s)) == std::vector<std::string>{"c"});
  CHECK(r.bytes() == troupe::cache::model::entry_cost("c", "3"));
}

TEST_CASE("bucket_replica: a half-received copy never replaces the one held", "[unit]") {
  bucket_replica r;
  REQUIRE(r.copy_part(3, 4096, 0, 1, {{"old", "x", std::nullopt}}, epoch) == copy_status::complete);
  // A new copy whose part 1 is lost: part 2 breaks it, the old copy stays.
  CHECK(r.copy_part(5, 4096, 0, 3, {{"new", "y", std::nullopt}}, epoch) == copy_status::partial);
  CHECK(r.copy_part(5, 4096, 2, 3, {}, epoch) == copy_status::broken);
  CHECK(r.version() == 3);
  CHECK(keys_of(r.entries(epoch)) == std::vector<std::string>{"old"});
  // A part without its part 0 is broken too.
  CHECK(r.copy_part(6, 4096, 1, 2, {}, epoch) == copy_status::broken);
  // The copy is bounded by the primary's capacity, as the primary is: a write shrinks it.
  REQUIRE(r.copy_part(10, 4096, 0, 1, {{"a", std::string(100, 'a'), std::nullopt}}, epoch) == copy_status::complete);
  const std::size_t one = troupe::cache::model::entry_cost("b", std::string(100, 'b'));
  CHECK(r.put(11, one, "b", std::string(100, 'b'), std::nullopt, epoch));
  CHECK(keys_of(r.entries(epoch)) == std::vector<std::string>{"b"});
}

TEST_CASE("bucket_replica: fed the primary's writes, it lists what the primary lists (seeded)", "[unit]") {
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  const std::size_t capacity = 2000;
  lru_store primary(capacity);
  bucket_replica copy;
  std::uint64_t version = 0;
  time_point now = epoch;
  REQUIRE(copy.copy_part(version, capacity, 0, 1, primary.entries(now), now) == copy_status::complete);
  for (int step = 0; step < 3000; ++step) {
    const std::string k = "k" + std::to_string(rng() % 40);
    switch (rng() % 10) {
      case 0:
      case 1:
        // A removal that removed something is a write.
        if (primary.remove(k)) REQUIRE(copy.remove(++version, k));
        break;
      case 2:
        now += std::chrono::milliseconds(rng() % 30);
        break;
      case 3:
        // Now and then the full state again, in two parts.
        if (rng() % 10 == 0) {
          auto all = primary.entries(now);
          const auto half = all.begin() + static_cast<std::ptrdiff_t>(all.size() / 2);
          REQUIRE(copy.copy_part(version, capacity, 0, 2, {all.begin(), half}, now) == copy_status::partial);
          REQUIRE(copy.copy_part(version, capacity, 1, 2, {half, all.end()}, now) == copy_status::complete);
        }
        break;
      default: {
        // A put (too large ones included) is a write; the copy applies the same rules.
        const std::string v(rng() % 10 == 0 ? rng() % 2100 : rng() % 200, 'v');
        std::optional<std::chrono::nanoseconds> ttl;
        if (rng() % 2) ttl = std::chrono::milliseconds(1 + rng() % 100);
        primary.put(k, v, ttl, now);
        REQUIRE(copy.put(++version, capacity, k, v, ttl, now));
      }
    }
    const auto want = primary.entries(now);
    const auto got = copy.entries(now);
    REQUIRE(keys_of(got) == keys_of(want));
    for (std::size_t i = 0; i < want.size(); ++i) {
      REQUIRE(got[i].value == want[i].value);
      REQUIRE(got[i].ttl == want[i].ttl);
    }
  }
  CHECK(copy.version() == version);
}
