// sharding_settings: one entity type's sharding configuration, parsed from JSON and
// validated once (Akka's `ClusterShardingSettings`, with its defaults).
//
// Every key is optional; unknown keys are errors (usually typos), and every error names the
// key path and the expected value (`passivation.idle-timeout-ms: expected an integer in
// [1, 86400000] or "off", got 0`).
//
//   {
//     "role": "",                              hosts only on members with this role ("" any)
//     "number-of-shards": 100,                 the default extractor's; ~10 per node planned
//     "allocation-strategy": "least-shard",    least-shard | consistent-hash-ring | external
//     "rebalance-absolute-limit": 20,          a round moves at most min(absolute,
//     "rebalance-relative-limit": 0.1,           relative x shards) shards (at least one)
//     "consistent-hash-ring": {"virtual-nodes": 100},
//     "rebalance-interval-ms": 10000,
//     "handoff-timeout-ms": 60000,             acks, markers, entity stops
//     "shard-start-timeout-ms": 10000,         host_shard resent after this
//     "retry-interval-ms": 2000,               register, get-shard-home, shutdown resent
//     "coordinator-recovery-timeout-ms": 2000, a new coordinator waits for registrations
//     "removal-margin-ms": 0,                  after a node's removal, before its shards move
//     "buffer-size": 100000,                   messages waiting for a home, per region
//     "passivation": {"idle-timeout-ms": 120000, "active-entity-limit": 0},
//     "remember-entities": false,
//     "entity-restart-backoff-ms": 10000
//   }
//
// `passivation.idle-timeout-ms` may be "off". The stop message sent to entities and the
// remember-entities store are set in code (`stop_message`, `remember_store`).
//
//   auto s = troupe::sharding::sharding_settings::parse(R"({"number-of-shards": 30})");
//   if (!s) { std::cerr << s.error().what() << '\n'; return 2; }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "troupe/base/expected.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/sharding/model/allocation.hpp"
#include "troupe/sharding/model/coordinator_core.hpp"
#include "troupe/sharding/model/region_core.hpp"

namespace troupe::sharding {

class remember_entities_store;

/// One entity type's sharding settings; the defaults are Akka's.
struct sharding_settings {
  std::string role;                                   ///< host only on members with this role
  std::uint32_t number_of_shards = 100;               ///< the default extractor's
  std::string allocation_strategy = "least-shard";    ///< least-shard, consistent-hash-ring, external
  model::rebalance_limits rebalance_limits;           ///< per rebalance round
  std::size_t virtual_nodes = 100;                    ///< consistent-hash-ring: points per region
  model::coordinator_settings coordinator;            ///< rebalance, hand-off, recovery, removal margin
  model::region_settings region;                      ///< buffer, passivation, retries, remember-entities
  /// Sent to an entity to stop it for passivation or a hand-off (default `poison_pill`);
  /// an entity that needs to finish something first handles it and stops itself.
  std::function<message()> stop_message;
  /// Where remembered entities are kept; nullptr: the process-wide in-memory store.
  std::shared_ptr<remember_entities_store> remember_store;

  /// Parses and validates `j`; unknown keys are errors, named by their key path.
  static expected<sharding_settings, config_error> parse(const nlohmann::json& j);
  /// Like `parse`, from JSON text.
  static expected<sharding_settings, config_error> parse(const std::string& json_text);
  /// Like `parse`, from JSON text (a string literal).
  static expected<sharding_settings, config_error> parse(const char* json_text) { return parse(std::string(json_text)); }
};

}  // namespace troupe::sharding
