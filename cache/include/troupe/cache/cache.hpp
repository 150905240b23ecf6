// cache: a distributed, memory-bounded key-value cache on cluster sharding (issue 12).
//
// Keys are spread over `number-of-buckets` bucket entities (a key lives in bucket
// `stable_hash(key) % number-of-buckets`), which sharding places over the nodes, so the
// capacity grows with the cluster. Each node holds at most `max-bytes-per-node`, split
// evenly across the buckets living there, each evicting its least recently used keys; a
// key's time to live is honoured (an expired key is never returned, and is dropped when met
// and by each bucket's periodic sweep). Values are bytes. Every call is asynchronous: it
// returns an `ask_result` (block with `get()`, or poll with `ready()`).
//
//   auto settings = troupe::cache::cache_settings::parse(R"({"max-bytes-per-node": 1048576})").value();
//   auto cache = troupe::cache::distributed_cache::start(system, settings).value();  // cluster started
//   cache.put("user/42", "alice", std::chrono::minutes(5)).get();                   // put_reply
//   troupe::cache::get_reply r = cache.get("user/42").get();                        // r.found, r.value
//   auto v = cache.get_or_load("user/43", [](const std::string& key)
//                                  -> troupe::expected<std::string, std::string> { return load_user(key); }).get();
//   cache.remove("user/42").get();                                                  // remove_reply
//
// `get_or_load` runs the loader once per key across the cluster while a load is running:
// the bucket grants one caller the load and holds the others until its value arrives.
// The loader runs on the granted caller's node, on an actor thread (keep it short, or it
// holds a dispatcher thread). Without replicas, a node that dies loses the keys of the
// buckets it held, and so does a bucket moved by a rebalance or a graceful leave; with
// `replicas` 1 each bucket keeps a copy on a second node, a put is answered once the copy
// has it, and a bucket that moves or loses its node starts from the copy (docs/cache.md).
//
// Every member function may be called from any thread but not from inside an actor of a
// manual (deterministic) system.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/ask.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/cache/protocol.hpp"
#include "troupe/cache/settings.hpp"

namespace troupe::cache {

namespace detail {
class node_budget;
}

/// Produces the value of a key that is not in the cache, or says why not.
using loader = std::function<expected<std::string, std::string>(const std::string& key)>;

/// A handle on one distributed cache from one node; cheap to copy.
class distributed_cache {
 public:
  /// Starts this node's part of the cache `settings.type_name` (the sharding region of its
  /// buckets) and registers its messages with the transport. Needs the cluster started;
  /// every node that holds keys starts it with the same settings. An error says why not.
  static expected<distributed_cache, std::string> start(actor_system& system, cache_settings settings);

  /// Stores `value` under `key` for `ttl` (nullopt: `default-ttl-ms`, which 0 makes
  /// forever); a ttl <= 0 is refused (`bad_ttl`), and so is a value larger than a bucket's
  /// share of the node (`too_large`).
  ask_result<put_reply> put(std::string key, std::string value,
                            std::optional<std::chrono::milliseconds> ttl = std::nullopt) const;
  /// The value of `key`; `found` false when absent or expired.
  ask_result<get_reply> get(std::string key) const;
  /// Removes `key`; `removed` false when it held nothing.
  ask_result<remove_reply> remove(std::string key) const;
  /// The value of `key`, or the one `load` produces (stored for `ttl`, as `put`), `load`
  /// running once however many callers ask at once; when it fails, `found` is false and
  /// `error` says why, for every caller that waited.
  ask_result<get_reply> get_or_load(std::string key, loader load,
                                    std::optional<std::chrono::milliseconds> ttl = std::nullopt) const;

  /// `put` of `value` as CBOR, for types with nlohmann `to_json`.
  template <class T>
  ask_result<put_reply> put_json(std::string key, const T& value,
                                 std::optional<std::chrono::milliseconds> ttl = std::nullopt) const {
    const std::vector<std::uint8_t> b = nlohmann::json::to_cbor(nlohmann::json(value));
    return put(std::move(key), std::string(b.begin(), b.end()), ttl);
  }
  /// The value of a `get_reply` written by `put_json`; nullopt when not found or not a `T`.
  template <class T>
  static std::optional<T> value_as(const get_reply& r) {
    if (!r.found) return std::nullopt;
    try {
      return nlohmann::json::from_cbor(r.value.begin(), r.value.end()).template get<T>();
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;
    }
  }

  /// The bucket (entity id) of `key`: "0" .. number-of-buckets - 1, the same on every node.
  std::string bucket_of(std::string_view key) const;
  /// Bytes held by the buckets living on this node.
  std::size_t local_bytes() const;
  /// Buckets living on this node.
  std::size_t local_buckets() const;
  /// Bytes of the copies of other nodes' buckets held here (`replicas` 1), not counted in
  /// `local_bytes` nor bounded by `max-bytes-per-node`, but by their primaries' shares.
  std::size_t local_replica_bytes() const;
  /// The settings it was started with.
  const cache_settings& settings() const noexcept { return *settings_; }

 private:
  distributed_cache(actor_system& system, std::shared_ptr<const cache_settings> s,
                    std::shared_ptr<detail::node_budget> budget)
      : system_(&system), settings_(std::move(s)), budget_(std::move(budget)) {}
  std::int64_t ttl_ms(std::optional<std::chrono::milliseconds> ttl) const;

  actor_system* system_;
  std::shared_ptr<const cache_settings> settings_;
  std::shared_ptr<detail::node_budget> budget_;
};

}  // namespace troupe::cache
