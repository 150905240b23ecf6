// The bucket's pure store: eviction order, byte accounting, time to live with made-up
// times, replacing a key, refused input, and the listing of live entries a replica is sent.
// No actor system, no clock.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <troupe/cache/model/lru_store.hpp>

using namespace std::chrono_literals;
using troupe::cache::model::entry_cost;
using troupe::cache::model::lru_store;
using troupe::cache::model::put_status;
using troupe::cache::model::time_point;

namespace {
const time_point t0{};  // any origin: only differences matter
using keys = std::vector<std::string>;

keys keys_of_entries(const std::vector<troupe::cache::model::entry_copy>& entries) {
  keys out;
  for (const auto& e : entries) out.push_back(e.key);
  return out;
}
}  // namespace

TEST_CASE("lru_store counts an entry's key, value and overhead", "[unit]") {
  lru_store s(10'000);
  REQUIRE(s.put("ab", "xyz", std::nullopt, t0).status == put_status::stored);
  CHECK(s.bytes() == entry_cost("ab", "xyz"));
  CHECK(entry_cost("ab", "xyz") == 2 + 3 + troupe::cache::model::entry_overhead);
  REQUIRE(s.put("c", "", std::nullopt, t0).ok());
  CHECK(s.bytes() == entry_cost("ab", "xyz") + entry_cost("c", ""));
  CHECK(s.remove("ab"));
  CHECK_FALSE(s.remove("ab"));
  CHECK(s.bytes() == entry_cost("c", ""));
  CHECK(s.size() == 1);
}

TEST_CASE("lru_store evicts the least recently used first, a get making a key recent", "[unit]") {
  const std::string v(36, 'v');         // each entry costs 1 + 36 + 64 = 101 bytes
  lru_store s(3 * entry_cost("a", v));  // room for three
  for (const char* k : {"a", "b", "c"}) REQUIRE(s.put(k, v, std::nullopt, t0).status == put_status::stored);
  CHECK(s.keys_by_recency() == keys{"c", "b", "a"});

  REQUIRE(s.get("a", t0) != nullptr);  // a is now the most recent; b the least
  CHECK(s.keys_by_recency() == keys{"a", "c", "b"});

  auto r = s.put("d", v, std::nullopt, t0);
  CHECK(r.status == put_status::stored);
  CHECK(r.evicted == keys{"b"});
  CHECK(r.expired.empty());
  CHECK(s.keys_by_recency() == keys{"d", "a", "c"});

  // A value twice as big needs two evictions, least recent first.
  auto big = s.put("e", std::string(2 * 36 + 1 + 64, 'w'), std::nullopt, t0);
  CHECK(big.evicted == keys{"c", "a"});
  CHECK(s.keys_by_recency() == keys{"e", "d"});
  CHECK(s.bytes() <= s.capacity());
}

TEST_CASE("lru_store never returns an expired key and drops it when met or swept", "[unit]") {
  lru_store s(10'000);
  REQUIRE(s.put("short", "1", 100ms, t0).ok());
  REQUIRE(s.put("long", "2", 10s, t0).ok());
  REQUIRE(s.put("forever", "3", std::nullopt, t0).ok());

  CHECK(s.get("short", t0 + 99ms) != nullptr);
  CHECK_FALSE(s.contains("short", t0 + 100ms));  // expires at exactly t0 + ttl
  CHECK(s.size() == 3);                          // contains does not drop
  CHECK(s.get("short", t0 + 100ms) == nullptr);  // get drops
  CHECK(s.size() == 2);

  CHECK(s.expire(t0 + 9s).empty());
  CHECK(s.expire(t0 + 10s) == keys{"long"});
  CHECK(s.get("forever", t0 + 1000h) != nullptr);
  CHECK(s.bytes() == entry_cost("forever", "3"));
}

TEST_CASE("lru_store makes room by dropping expired keys before live ones", "[unit]") {
  const std::string v(36, 'v');
  lru_store s(3 * entry_cost("a", v));
  REQUIRE(s.put("a", v, std::nullopt, t0).ok());
  REQUIRE(s.put("b", v, 1s, t0).ok());  // expires first but is more recent than a
  REQUIRE(s.put("c", v, std::nullopt, t0).ok());
  auto r = s.put("d", v, std::nullopt, t0 + 2s);
  CHECK(r.expired == keys{"b"});
  CHECK(r.evicted.empty());
  CHECK(s.keys_by_recency() == keys{"d", "c", "a"});
}

TEST_CASE("lru_store replaces a key's value, its bytes and its ttl", "[unit]") {
  lru_store s(10'000);
  REQUIRE(s.put("k", "old", 1s, t0).status == put_status::stored);
  REQUIRE(s.put("x", "1", std::nullopt, t0).ok());
  auto r = s.put("k", "newer value", std::nullopt, t0);
  CHECK(r.status == put_status::replaced);
  CHECK(s.size() == 2);
  CHECK(s.bytes() == entry_cost("k", "newer value") + entry_cost("x", "1"));
  CHECK(s.keys_by_recency() == keys{"k", "x"});
  const std::string* v = s.get("k", t0 + 1h);  // the new value has no ttl
  REQUIRE(v != nullptr);
  CHECK(*v == "newer value");
}

TEST_CASE("lru_store refuses bad input", "[unit]") {
  lru_store s(200);
  REQUIRE(s.put("k", "v", std::nullopt, t0).ok());
  const auto before = s.bytes();

  CHECK(s.put("", "v", std::nullopt, t0).status == put_status::empty_key);
  CHECK(s.put("k", "w", 0ms, t0).status == put_status::bad_ttl);
  CHECK(s.put("k", "w", -5ms, t0).status == put_status::bad_ttl);
  CHECK(s.bytes() == before);  // refused input changes nothing
  CHECK(*s.get("k", t0) == "v");

  // Too large for the whole store: refused, and the key's old value gone (never stale).
  auto r = s.put("k", std::string(200, 'x'), std::nullopt, t0);
  CHECK(r.status == put_status::too_large);
  CHECK_FALSE(r.ok());
  CHECK(s.get("k", t0) == nullptr);
  CHECK(s.bytes() == 0);
  CHECK(std::string(to_string(put_status::too_large)) == "too_large");
}

TEST_CASE("lru_store shrinks to a smaller capacity, least recent first", "[unit]") {
  lru_store s(1000);
  for (const char* k : {"a", "b", "c", "d"}) REQUIRE(s.put(k, "v", std::nullopt, t0).ok());
  CHECK(s.resize(2 * entry_cost("a", "v")) == keys{"a", "b"});
  CHECK(s.keys_by_recency() == keys{"d", "c"});
  CHECK(s.resize(0) == keys{"c", "d"});
  CHECK(s.size() == 0);
  CHECK(s.bytes() == 0);
}

TEST_CASE("lru_store's byte count matches its entries under random operations", "[unit]") {
  const auto seed = Catch::rngSeed();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  lru_store s(2000);
  std::map<std::string, std::string> last;  // a model of what a get may return
  time_point now = t0;
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 40);
    now += std::chrono::milliseconds(rng() % 5);
    switch (rng() % 5) {
      case 0:
      case 1: {
        std::string value(rng() % 300, 'v');
        const bool ttl = rng() % 2;
        auto r = s.put(
            key, value,
            ttl ? std::optional<std::chrono::nanoseconds>(std::chrono::milliseconds(1 + rng() % 50)) : std::nullopt,
            now);
        if (r.ok()) last[key] = value;
        break;
      }
      case 2: {
        const std::string* v = s.get(key, now);
        if (v) {
          REQUIRE(last.count(key));
          CHECK(*v == last[key]);
        }
        break;
      }
      case 3:
        s.remove(key);
        break;
      default:
        s.expire(now);
        break;
    }
    std::size_t sum = 0;
    for (const auto& k : s.keys_by_recency()) {
      REQUIRE(s.contains(k, t0));  // present (t0 is before any expiry)
      sum += entry_cost(k, last[k]);
    }
    REQUIRE(sum == s.bytes());
    REQUIRE(s.bytes() <= s.capacity());
  }
}

TEST_CASE("lru_store::entries lists live entries least recent first, with what remains of their ttl", "[unit]") {
  lru_store s(10'000);
  s.put("a", "1", std::nullopt, t0);
  s.put("b", "2", 10s, t0);
  s.put("c", "3", 1s, t0);
  s.get("a", t0);                     // a becomes the most recent
  const auto e = s.entries(t0 + 2s);  // c has expired by then
  CHECK(keys_of_entries(e) == std::vector<std::string>{"b", "a"});
  CHECK(e[0].ttl == std::optional<std::chrono::nanoseconds>(8s));
  CHECK_FALSE(e[1].ttl);
  CHECK(e[1].value == "1");
  CHECK(s.size() == 3);  // listing drops nothing

  // Put into an empty store in that order, they keep their recency.
  lru_store copy(10'000);
  for (const auto& x : e) copy.put(x.key, x.value, x.ttl, t0);
  CHECK(copy.keys_by_recency() == std::vector<std::string>{"a", "b"});

  s.clear();
  CHECK(s.bytes() == 0);
  CHECK(s.size() == 0);
  CHECK(s.entries(t0).empty());
}
