// The cache's settings: defaults, every key read, and errors that name the key.
#include <catch2/catch.hpp>

#include <string>

#include <troupe/cache/settings.hpp>

using namespace std::chrono_literals;
using troupe::cache::cache_settings;

TEST_CASE("cache settings: defaults and every key", "[unit]") {
  auto d = cache_settings::parse("{}");
  REQUIRE(d);
  CHECK(d->type_name == "cache");
  CHECK(d->number_of_buckets == 256);
  CHECK(d->sharding.number_of_shards == 32);
  CHECK(d->max_bytes_per_node == 64u << 20);
  CHECK(d->default_ttl == 0ms);
  CHECK_FALSE(d->sharding.region.idle_timeout);  // passivation would lose keys: always off
  CHECK(d->replicas == 0);
  CHECK(d->restore_timeout == 1000ms);

  auto s = cache_settings::parse(R"({"type-name": "sessions", "number-of-buckets": 64, "number-of-shards": 8,
      "max-bytes-per-node": 4096, "default-ttl-ms": 30000, "sweep-interval-ms": 250, "load-timeout-ms": 2000,
      "ask-timeout-ms": 1500, "replicas": 1, "restore-timeout-ms": 300, "sharding": {"retry-interval-ms": 200, "rebalance-interval-ms": 600000}})");
  REQUIRE(s);
  CHECK(s->type_name == "sessions");
  CHECK(s->number_of_buckets == 64);
  CHECK(s->sharding.number_of_shards == 8);
  CHECK(s->max_bytes_per_node == 4096);
  CHECK(s->default_ttl == 30s);
  CHECK(s->sweep_interval == 250ms);
  CHECK(s->load_timeout == 2s);
  CHECK(s->ask_timeout == 1500ms);
  CHECK(s->replicas == 1);
  CHECK(s->restore_timeout == 300ms);
  CHECK(s->sharding.region.retry_interval == 200ms);
  CHECK_FALSE(s->sharding.region.idle_timeout);
}

TEST_CASE("cache settings: errors name the key", "[unit]") {
  const auto key_of = [](const char* json) {
    auto r = cache_settings::parse(json);
    REQUIRE_FALSE(r);
    return r.error().key;
  };
  CHECK(key_of(R"({"max-bytes-per-node": 12})") == "max-bytes-per-node");
  CHECK(key_of(R"({"max-bytes": 4096})") == "max-bytes");
  CHECK(key_of(R"({"number-of-buckets": 0})") == "number-of-buckets");
  CHECK(key_of(R"({"default-ttl-ms": -1})") == "default-ttl-ms");
  CHECK(key_of(R"({"sweep-interval-ms": "1s"})") == "sweep-interval-ms");
  CHECK(key_of(R"({"type-name": ""})") == "type-name");
  CHECK(key_of(R"({"replicas": 2})") == "replicas");
  CHECK(key_of(R"({"restore-timeout-ms": 0})") == "restore-timeout-ms");
  CHECK(key_of(R"({"sharding": {"retry-interval-ms": 0}})") == "sharding.retry-interval-ms");
  CHECK(key_of(R"({"sharding": {"passivation": {"idle-timeout-ms": 1000}}})") == "sharding.passivation");
  CHECK(key_of(R"({"sharding": {"number-of-shards": 4}})") == "sharding.number-of-shards");
  CHECK(key_of(R"({"sharding": 3})") == "sharding");
  CHECK(key_of("{") == "<json>");

  auto r = cache_settings::parse(R"({"sharding": {"retry-interval-ms": 0}})");
  REQUIRE_FALSE(r);
  const std::string what = r.error().what();
  CHECK(what.rfind("sharding.retry-interval-ms: expected an integer in [1, ", 0) == 0);
  auto rep = cache_settings::parse(R"({"replicas": 2})");
  REQUIRE_FALSE(rep);
  CHECK(std::string(rep.error().what()).rfind("replicas: expected an integer in [0, 1]", 0) == 0);
}
