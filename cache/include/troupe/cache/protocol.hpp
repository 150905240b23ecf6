// protocol: the messages between a cache's callers and its bucket entities, which cross
// the network whenever the bucket lives on another node.
//
// Each is registered with the transport's serialization registry as a CBOR map
// (manifests "cache.put", "cache.get", ...; values as CBOR byte strings, so any bytes go).
// A malformed one from a peer fails to decode; the transport logs it and it goes to dead
// letters, never into a bucket. `distributed_cache::start` registers them.
//
// Requests and replies (the sender of a request gets the reply; `ask` works):
// - `put_request`    -> put_reply
// - `get_request`    -> get_reply
// - `remove_request` -> remove_reply
// - `load_claim`     -> load_answer (hit: the value; grant: you load it, then send
//                       load_done or load_failed; a claim during a load waits for it)
//
// Between a bucket and the replica stores (`replicas` 1; docs/cache.md, "Replica and
// hand-over"), a store living at `replica_store_path(type-name)` on every node:
// - `replica_copy`  -> replica_ack (to the last part): the bucket's full state, in parts
// - `replica_write` -> replica_ack: one put or removal, one version after the one before
// - `replica_drop`: forget the bucket's copy (no reply)
// - `replica_query` -> replica_held (in parts): the copy a store holds, for a bucket that
//                      starts
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace troupe::remote {
class serialization;
}

namespace troupe::cache {

/// Stores `value` under `key`; `ttl_ms` 0: never expires, < 0: refused (bad ttl).
struct put_request {
  std::string key;
  std::string value;
  std::int64_t ttl_ms = 0;
};
/// The answer to `put_request`: stored, or why not ("too_large", "empty_key", "bad_ttl").
struct put_reply {
  bool stored = false;
  std::string error;
};

/// Asks for the value of `key`.
struct get_request {
  std::string key;
};
/// The answer to `get_request` and to `get_or_load`: the value when `found`; `error` says
/// why a load gave none.
struct get_reply {
  bool found = false;
  std::string value;
  std::string error;
};

/// Removes `key`.
struct remove_request {
  std::string key;
};
/// The answer to `remove_request`: whether the key held a value.
struct remove_reply {
  bool removed = false;
};

/// Asks for `key`, or for the right to load it (get_or_load's first step).
struct load_claim {
  std::string key;
};
/// The answer to `load_claim`.
struct load_answer {
  enum class kind : std::uint8_t { hit, grant, failed };
  kind answer = kind::failed;
  std::string value;      ///< hit
  std::string error;      ///< failed
  std::uint64_t claim = 0;  ///< grant: named in the load_done or load_failed that follows
};
/// The loader of the granted claim produced `value`: stored with `ttl_ms` (as put_request)
/// and given to every claim that waited.
struct load_done {
  std::string key;
  std::string value;
  std::int64_t ttl_ms = 0;
  std::uint64_t claim = 0;  ///< the grant's; a lapsed grant's value is stored but answers no one
};
/// The loader of the granted claim failed: every claim that waited gets `error`.
struct load_failed {
  std::string key;
  std::string error;
  std::uint64_t claim = 0;  ///< the grant's; a lapsed grant's failure is ignored
};

/// The path of the replica store of the cache `type_name` on every node.
std::string replica_store_path(const std::string& type_name);

/// The bytes of entries (by `model::entry_cost`) a `replica_copy` or `replica_held` part
/// carries at most, unless one entry alone is larger: parts stay well below the transport's
/// default frame size (256 KiB).
inline constexpr std::size_t replica_part_bytes = 64 * 1024;
/// An entry costing more (by `model::entry_cost`) is kept by its bucket only, never sent to
/// the replica holder (a write of it removes the key there): it might not fit in a frame.
inline constexpr std::size_t replica_max_entry_bytes = 192 * 1024;

/// One entry of a copy: `ttl_ms` is what remains of its time to live (0: none).
struct replica_entry {
  std::string key;
  std::string value;
  std::int64_t ttl_ms = 0;
};
/// A part of a bucket's full state for its replica holder: part 0 starts a new copy, the
/// last one completes it (the holder keeps its previous copy until then) and is acked; a
/// part out of order is acked as `missing`.
struct replica_copy {
  std::string bucket;
  std::uint64_t version = 0;   ///< the bucket's version the copy is of
  std::uint64_t epoch = 0;     ///< echoed in the ack: the bucket ignores acks of an old holder
  std::uint64_t capacity = 0;  ///< the bucket's share of its node
  std::uint32_t part = 0;
  std::uint32_t parts = 1;
  std::vector<replica_entry> entries;  ///< least recently used first
};
/// One write of a bucket for its replica holder, applied when it follows the copy's version.
struct replica_write {
  std::string bucket;
  std::uint64_t version = 0;  ///< one after the previous write's (or the copy's)
  std::uint64_t epoch = 0;
  std::uint64_t capacity = 0;
  bool remove = false;  ///< the removal of `key`; else a put of `value` for `ttl_ms`
  std::string key;
  std::string value;
  std::int64_t ttl_ms = 0;
};
/// The holder has the bucket's state up to `version`; `missing`: it could not apply a write
/// (no copy, or a version skipped) and wants a full copy.
struct replica_ack {
  std::string bucket;
  std::uint64_t version = 0;
  std::uint64_t epoch = 0;
  bool missing = false;
};
/// Forget the copy of `bucket` if it is not newer than `version`.
struct replica_drop {
  std::string bucket;
  std::uint64_t version = 0;
};
/// A bucket that starts asks each store for its copy; `asker` is echoed in the answer.
struct replica_query {
  std::string bucket;
  std::uint64_t asker = 0;
};
/// A part of a store's answer to `replica_query` (part `parts - 1` is the last).
struct replica_held {
  std::string bucket;
  std::uint64_t asker = 0;
  bool found = false;  ///< a complete copy is held
  std::uint64_t version = 0;
  std::uint32_t part = 0;
  std::uint32_t parts = 1;
  std::vector<replica_entry> entries;  ///< least recently used first
};

/// Registers every message above with `s` (registering again replaces).
void register_protocol(remote::serialization& s);

}  // namespace troupe::cache
