// cache_settings: one distributed cache's configuration, parsed from JSON and validated
// once. Every key is optional; unknown keys are errors, and every error names its key path
// and the allowed range (`max-bytes-per-node: expected an integer in [1024, ...], got 12`).
//
//   {
//     "type-name": "cache",             the sharding entity type (one per cache)
//     "number-of-buckets": 256,         entities; a key lives in bucket stable_hash(key) % n
//     "number-of-shards": 32,           sharding's unit of placement (~10 per node planned)
//     "max-bytes-per-node": 67108864,   split evenly across the buckets living on the node
//     "default-ttl-ms": 0,              time to live of a put without one; 0: none
//     "sweep-interval-ms": 1000,        how often a bucket drops expired keys
//     "load-timeout-ms": 10000,         a get_or_load claim lapses after this
//     "ask-timeout-ms": 5000,           how long the API's futures wait for the bucket
//     "replicas": 0,                    1: a copy of each bucket on a second node
//     "restore-timeout-ms": 1000,       a starting bucket waits this long for the copies
//     "sharding": {...}                 sharding_settings keys (troupe/sharding/settings.hpp),
//   }                                   except number-of-shards and passivation (set here)
//
//   auto s = troupe::cache::cache_settings::parse(R"({"max-bytes-per-node": 1048576})");
//   if (!s) { std::cerr << s.error().what() << '\n'; return 2; }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "troupe/base/expected.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/sharding/settings.hpp"

namespace troupe::cache {

/// One distributed cache's settings.
struct cache_settings {
  std::string type_name = "cache";                        ///< the sharding entity type
  std::uint32_t number_of_buckets = 256;                  ///< bucket entities over the cluster
  std::size_t max_bytes_per_node = 64u << 20;             ///< every bucket living on a node together
  std::chrono::milliseconds default_ttl{0};               ///< 0: keys without a ttl never expire
  std::chrono::milliseconds sweep_interval{1000};         ///< periodic expiry sweep per bucket
  std::chrono::milliseconds load_timeout{10000};          ///< a get_or_load claim lapses after this
  std::chrono::milliseconds ask_timeout{5000};            ///< the API's futures
  /// 1: each bucket keeps a copy of its keys on a second node, which a put waits for and
  /// which the bucket starts from when it moves or its node dies; 0: none (docs/cache.md).
  std::uint32_t replicas = 0;
  /// How long a starting bucket waits for the replica stores' copies (replicas 1).
  std::chrono::milliseconds restore_timeout{1000};
  /// Sharding settings of the buckets' entity type; passivation is always off (a passivated
  /// bucket would lose its keys).
  sharding::sharding_settings sharding;

  /// Parses and validates `j`; unknown keys are errors, named by their key path.
  static expected<cache_settings, config_error> parse(const nlohmann::json& j);
  /// Like `parse`, from JSON text.
  static expected<cache_settings, config_error> parse(const std::string& json_text);
  /// Like `parse`, from JSON text (a string literal).
  static expected<cache_settings, config_error> parse(const char* json_text) { return parse(std::string(json_text)); }
};

}  // namespace troupe::cache
