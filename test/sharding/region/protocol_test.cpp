// Sharding's wire protocol and settings: every message survives the registry's encode and
// decode unchanged; malformed bytes are an error naming the message and the field, never a
// crash; settings errors name the key.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/remote/serialization.hpp>
#include <troupe/sharding/protocol.hpp>
#include <troupe/sharding/settings.hpp>
#include <troupe/sharding/sharding.hpp>

#include "internal/actors.hpp"  // region_forward, the library's private message

using namespace std::chrono_literals;
namespace model = troupe::sharding::model;
namespace ts = troupe::sharding;
using model::region_id;

namespace {

region_id node(std::uint16_t port, std::uint64_t uid) { return {{"shop", "10.0.0.7", port}, uid}; }

const model::coordinator_id coord{node(2551, 11), 0xfeedface12345678ULL};

/// A registry with sharding's protocol (and the built-in types).
struct registry : troupe::remote::serialization {
  registry() { ts::register_protocol(*this); }
};

/// `value` encoded and decoded again through `s`.
template <class T>
T round_trip(const troupe::remote::serialization& s, T value) {
  auto wire = s.encode(troupe::make_message(std::move(value)));
  REQUIRE(wire);
  CHECK(wire.value().serializer == ts::serializer_id);
  auto back = s.decode(wire.value().serializer, wire.value().manifest, wire.value().payload);
  REQUIRE(back);
  REQUIRE(back.value().template is<T>());
  return std::move(*back.value().template get_if<T>());
}

template <class T>
void same_after_round_trip(const troupe::remote::serialization& s, const T& value) {
  CHECK(round_trip(s, value) == value);
}

}  // namespace

TEST_CASE("sharding protocol: every coordinator and region message round-trips", "[unit][sharding][protocol]") {
  const registry s;
  model::register_region reg{node(2552, 3), false, {"1", "7"}, {{"3", node(2553, 4)}}, 9, {node(2552, 3), node(2553, 4)}};
  same_after_round_trip(s, reg);
  same_after_round_trip(s, model::register_region{node(2560, 5), true});
  same_after_round_trip(s, model::get_shard_home{node(2552, 3), "17"});
  same_after_round_trip(s, model::shard_started{node(2552, 3), "17"});
  same_after_round_trip(s, model::begin_handoff_ack{node(2552, 3), "17"});
  same_after_round_trip(s, model::shard_stopped{node(2552, 3), "17"});
  same_after_round_trip(s, model::graceful_shutdown_request{node(2552, 3)});
  same_after_round_trip(s, model::region_stopped{node(2552, 3)});
  same_after_round_trip(s, model::assign_shard{"4", node(2553, 4)});
  same_after_round_trip(s, model::assign_shard{"4", std::nullopt});
  same_after_round_trip(s, model::register_ack{coord, node(2552, 3)});
  same_after_round_trip(s, model::please_register{coord, node(2552, 3)});
  same_after_round_trip(s, model::region_set{coord, 12, {node(2552, 3), node(2553, 4)}, node(2552, 3)});
  same_after_round_trip(s, model::shard_home{coord, "17", node(2553, 4), node(2552, 3)});
  same_after_round_trip(s, model::host_shard{coord, "17", node(2552, 3)});
  same_after_round_trip(s, model::begin_handoff{coord, "17", node(2553, 4), 77, node(2552, 3)});
  same_after_round_trip(s, model::handoff{coord, "17", 77, {node(2552, 3)}, node(2553, 4)});
  same_after_round_trip(s, model::graceful_shutdown_ack{coord, node(2552, 3)});
  same_after_round_trip(s, model::handoff_marker{node(2552, 3), "17", coord, 77, node(2553, 4)});
}

TEST_CASE("sharding protocol: forwarded messages and envelopes carry the entity's message in its own form",
          "[unit][sharding][protocol]") {
  const registry s;
  auto env = round_trip(s, ts::sharding_envelope{"alice", troupe::make_message(std::string("hi"))});
  CHECK(env.entity_id == "alice");
  REQUIRE(env.message.is<std::string>());
  CHECK(*env.message.get_if<std::string>() == "hi");
  // An entity's message of a type the registry does not know cannot be sent: the error
  // names the type (the transport drops it to dead letters).
  struct unknown {
    int x;
  };
  auto wire = s.encode(troupe::make_message(ts::sharding_envelope{"a", troupe::make_message(unknown{1})}));
  REQUIRE_FALSE(wire);
  CHECK(wire.error().find("unknown") != std::string::npos);
  ts::shard_region_stats stats{node(2552, 3), {{"1", 4}, {"7", 0}}};
  const auto back = round_trip(s, stats);
  CHECK(back.region == stats.region);
  CHECK(back.shards == stats.shards);
}

TEST_CASE("sharding protocol: a missing or mistyped field is an error naming the message and the field",
          "[unit][sharding][protocol]") {
  const registry s;
  const auto cbor = [](const nlohmann::json& j) { return nlohmann::json::to_cbor(j); };
  auto r = s.decode(ts::serializer_id, "sharding.host_shard", cbor({{"to", {{"system", "a"}, {"host", "h"}, {"port", 1}, {"uid", 2}}}}));
  REQUIRE_FALSE(r);
  CHECK(r.error().find("sharding.host_shard") != std::string::npos);
  CHECK(r.error().find("coordinator: missing") != std::string::npos);
  r = s.decode(ts::serializer_id, "sharding.get_shard_home",
               cbor({{"region", {{"system", "a"}, {"host", "h"}, {"port", 1}, {"uid", 2}}}, {"shard", 17}}));
  REQUIRE_FALSE(r);
  CHECK(r.error().find("shard: expected a text string") != std::string::npos);
}

TEST_CASE("sharding protocol: a damaged envelope is an error naming the field, and so is a later layout",
          "[unit][sharding][protocol]") {
  const registry s;
  auto wire = s.encode(troupe::make_message(ts::sharding_envelope{"alice", troupe::make_message(std::string("hi"))}));
  REQUIRE(wire);
  const std::vector<std::uint8_t> good = wire.value().payload;
  const auto decode = [&](std::vector<std::uint8_t> bytes) {
    return s.decode(ts::serializer_id, "sharding.envelope", bytes);
  };
  REQUIRE(decode(good));
  // Cut inside the entity id.
  auto r = decode({good.begin(), good.begin() + 3});
  REQUIRE_FALSE(r);
  CHECK(r.error().find("sharding.envelope: entity: truncated") != std::string::npos);
  // Cut before the nested message's manifest.
  r = decode({good.begin(), good.begin() + 1 + 1 + 5 + 1});
  REQUIRE_FALSE(r);
  CHECK(r.error().find("payload.manifest: truncated") != std::string::npos);
  // A layout this build does not know.
  auto later = good;
  later[0] = 2;
  r = decode(later);
  REQUIRE_FALSE(r);
  CHECK(r.error().find("version: unknown layout 2") != std::string::npos);
  // A length that never ends.
  r = decode({1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  REQUIRE_FALSE(r);
  CHECK(r.error().find("entity: varint longer than 10 bytes") != std::string::npos);
  // A nested manifest nobody registered.
  auto unknown = good;
  unknown[1 + 1 + 5 + 1 + 1] = 'x';  // the manifest "s" of the built-in string becomes "x"
  r = decode(unknown);
  REQUIRE_FALSE(r);
  CHECK(r.error().find("payload: no serializer") != std::string::npos);
}

TEST_CASE("sharding protocol: a forwarded message carries its receiver's uid, the entity and its message",
          "[unit][sharding][protocol]") {
  const registry s;
  const auto f = round_trip(
      s, ts::detail::region_forward{0xfeedface12345678ULL, "alice", troupe::make_message(std::string("hi")), true});
  CHECK(f.to_uid == 0xfeedface12345678ULL);
  CHECK(f.entity_id == "alice");
  REQUIRE(f.payload.is<std::string>());
  CHECK(*f.payload.get_if<std::string>() == "hi");
  CHECK_FALSE(f.through_door);  // the receiving door's mark, never sent
  auto wire =
      s.encode(troupe::make_message(ts::detail::region_forward{7, "alice", troupe::make_message(std::string("hi"))}));
  REQUIRE(wire);
  const std::vector<std::uint8_t> good = wire.value().payload;
  // Version, 8 bytes of uid, the entity id, the nested string: nothing else per message.
  CHECK(good.size() == 1 + 8 + 1 + 5 + 1 + 1 + 1 + 2);
  const auto decode = [&](std::vector<std::uint8_t> bytes) {
    return s.decode(ts::serializer_id, "sharding.forward", bytes);
  };
  auto r = decode({good.begin(), good.begin() + 5});
  REQUIRE_FALSE(r);
  CHECK(r.error().find("sharding.forward: to: truncated") != std::string::npos);
  // The first layout (with the receiver's whole address and the shard id) is refused by name.
  auto first = good;
  first[0] = 1;
  r = decode(first);
  REQUIRE_FALSE(r);
  CHECK(r.error().find("version: unknown layout 1") != std::string::npos);
}

TEST_CASE("sharding protocol: random bytes never crash a decoder", "[unit][sharding][protocol]") {
  const registry s;
  const std::vector<std::string> manifests{
      "sharding.register",     "sharding.get_shard_home", "sharding.region_set", "sharding.handoff",
      "sharding.begin_handoff", "sharding.handoff_marker", "sharding.forward",    "sharding.envelope",
      "sharding.region_stats"};
  std::mt19937_64 rng(Catch::rngSeed());
  // Valid messages, then damaged copies of them, then pure noise.
  std::vector<std::vector<std::uint8_t>> seeds;
  seeds.push_back(s.encode(troupe::make_message(model::handoff{coord, "17", 77, {node(2552, 3)}, node(2553, 4)})).value().payload);
  seeds.push_back(s.encode(troupe::make_message(ts::sharding_envelope{"a", troupe::make_message(std::string("x"))})).value().payload);
  seeds.push_back(
      s.encode(troupe::make_message(ts::detail::region_forward{9, "a", troupe::make_message(std::string("x"))}))
          .value()
          .payload);
  std::size_t errors = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> bytes;
    if (i % 2 == 0) {
      bytes = seeds[rng() % seeds.size()];
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !bytes.empty(); ++k)
        bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
      if (rng() % 3 == 0) bytes.resize(rng() % (bytes.size() + 1));
    } else {
      bytes.resize(rng() % 64);
      for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    }
    const auto r = s.decode(ts::serializer_id, manifests[rng() % manifests.size()], bytes);
    if (!r) ++errors;
  }
  CHECK(errors > 0);
}

TEST_CASE("sharding settings: Akka's defaults, every key, and errors that name the key", "[unit][sharding][settings]") {
  const auto d = ts::sharding_settings::parse(nlohmann::json::object());
  REQUIRE(d);
  CHECK(d->number_of_shards == 100);
  CHECK(d->allocation_strategy == "least-shard");
  CHECK(d->coordinator.rebalance_interval == 10s);
  CHECK(d->coordinator.handoff_timeout == 60s);
  CHECK(d->region.buffer_size == 100'000);
  CHECK(d->region.idle_timeout == std::chrono::nanoseconds{120s});
  CHECK_FALSE(d->region.remember_entities);

  const auto all = ts::sharding_settings::parse(R"({
    "role": "backend", "number-of-shards": 30, "allocation-strategy": "consistent-hash-ring",
    "rebalance-absolute-limit": 5, "rebalance-relative-limit": 0.5,
    "consistent-hash-ring": {"virtual-nodes": 64}, "rebalance-interval-ms": 2000,
    "handoff-timeout-ms": 3000, "shard-start-timeout-ms": 4000, "retry-interval-ms": 500,
    "coordinator-recovery-timeout-ms": 700, "removal-margin-ms": 100, "buffer-size": 10,
    "passivation": {"idle-timeout-ms": "off", "active-entity-limit": 1000},
    "remember-entities": true, "entity-restart-backoff-ms": 1500})");
  REQUIRE(all);
  CHECK(all->role == "backend");
  CHECK(all->virtual_nodes == 64);
  CHECK(all->rebalance_limits.absolute_limit == 5);
  CHECK(all->region.handoff_timeout == 3s);
  CHECK(all->coordinator.removal_margin == 100ms);
  CHECK_FALSE(all->region.idle_timeout);
  CHECK(all->region.active_entity_limit == 1000);
  CHECK(all->region.remember_entities);
  CHECK(all->coordinator.remember_entities);

  const auto error_of = [](const std::string& text) {
    auto s = ts::sharding_settings::parse(text);
    REQUIRE_FALSE(s);
    return std::string(s.error().what());
  };
  CHECK_THAT(error_of(R"({"number-of-shards": 0})"), Catch::StartsWith("number-of-shards: expected an integer"));
  CHECK_THAT(error_of(R"({"allocation-strategy": "round-robin"})"), Catch::Contains("allocation-strategy"));
  CHECK_THAT(error_of(R"({"passivation": {"idle-timeout-ms": 0}})"),
             Catch::StartsWith("passivation.idle-timeout-ms: expected an integer in [1, 86400000] or \"off\""));
  CHECK_THAT(error_of(R"({"rebalance-relative-limit": 2})"), Catch::StartsWith("rebalance-relative-limit"));
  CHECK_THAT(error_of(R"({"numbr-of-shards": 3})"), Catch::StartsWith("numbr-of-shards: unknown key"));
  CHECK_THAT(error_of("{not json"), Catch::StartsWith("<json>"));
}

TEST_CASE("sharding extractor: envelopes and routed types map to entity and shard", "[unit][sharding][extractor]") {
  struct greet {
    std::string name;
  };
  auto x = ts::message_extractor::hashing(30).route<greet>(&greet::name);
  const auto env = troupe::make_message(ts::envelope_for("bob", std::string("hi")));
  CHECK(x.entity_id(env) == "bob");
  CHECK(x.entity_id(troupe::make_message(greet{"alice"})) == "alice");
  CHECK_FALSE(x.entity_id(troupe::make_message(42)));
  CHECK(x.shard_id("alice") == model::default_shard_of("alice", 30));
  auto inner = x.unwrap(troupe::make_message(ts::envelope_for("bob", std::string("hi"))));
  REQUIRE(inner.is<std::string>());
  auto same = x.unwrap(troupe::make_message(greet{"alice"}));
  CHECK(same.is<greet>());
}
