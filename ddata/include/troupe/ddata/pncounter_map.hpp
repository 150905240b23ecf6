// pncounter_map: a map of counters (Akka's `PNCounterMap`).
//
// An `ormap` of `pncounter`: keys are observed-remove (a concurrent increment wins over a
// remove), counts per key merge as counters do.
//
//   pncounter_map<std::string> votes;
//   votes.increment(a, "yes", 2);
//   votes.decrement(b, "yes");
//   assert(votes.get("yes") == 1);
//
// Deltas are the ormap's: an increment ships the key's whole counter (a few entries).
// Pruning folds a removed replica's counts into another replica's, key by key.
//
// Pure value type: links only the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/ormap.hpp"
#include "troupe/ddata/pncounter.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// A map of up-and-down counters with observed-remove keys.
template <class K>
class pncounter_map {
 public:
  /// The map underneath.
  using map_type = ormap<K, pncounter>;

  /// The empty map.
  pncounter_map() = default;
  /// A map over this ormap (for decoders and tests).
  explicit pncounter_map(map_type map) : map_(std::move(map)) {}

  /// The count of `key`, or nullopt when absent.
  std::optional<std::int64_t> get(const K& key) const {
    auto c = map_.get(key);
    if (!c) return std::nullopt;
    return c->value();
  }
  /// True when `key` is present.
  bool contains(const K& key) const { return map_.contains(key); }
  /// Every key with its count.
  std::map<K, std::int64_t> entries() const {
    std::map<K, std::int64_t> out;
    for (auto& [k, c] : map_.entries()) out.emplace_hint(out.end(), k, c.value());
    return out;
  }
  /// The number of keys.
  std::size_t size() const noexcept { return map_.size(); }
  /// True when there is no key.
  bool empty() const noexcept { return map_.empty(); }
  /// The ormap underneath (for codecs).
  const map_type& underlying() const noexcept { return map_; }

  /// Adds `n` to `key`'s count at `replica` (the key appears at 0 first when absent).
  void increment(const replica_id& replica, const K& key, std::int64_t n = 1) {
    map_.update(replica, key, [&](pncounter& c) { c.increment(replica, n); });
  }
  /// Subtracts `n` from `key`'s count at `replica`.
  void decrement(const replica_id& replica, const K& key, std::int64_t n = 1) {
    map_.update(replica, key, [&](pncounter& c) { c.decrement(replica, n); });
  }
  /// Removes `key`; nothing when absent.
  void remove(const K& key) { map_.remove(key); }

  /// Joins `other` in.
  void merge(const pncounter_map& other) { map_.merge(other.map_); }
  /// The changes since the last `reset_delta`, or nullopt.
  std::optional<pncounter_map> delta() const {
    auto d = map_.delta();
    if (!d) return std::nullopt;
    return pncounter_map(std::move(*d));
  }
  /// Forgets the recorded delta.
  void reset_delta() noexcept { map_.reset_delta(); }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const pncounter_map& delta) { merge(delta); }

  /// Replicas with a dot or a count.
  std::set<replica_id> modified_by() const { return map_.modified_by(); }
  /// True when a dot or a count mentions `replica`.
  bool needs_pruning_from(const replica_id& replica) const { return map_.needs_pruning_from(replica); }
  /// Folds `removed`'s counts into `into`'s, key by key.
  void prune(const replica_id& removed, const replica_id& into) { map_.prune(removed, into); }
  /// Forgets `removed`'s dots and counts.
  void pruning_cleanup(const replica_id& removed) { map_.pruning_cleanup(removed); }

  /// Equal maps (the recorded delta does not count).
  friend bool operator==(const pncounter_map& a, const pncounter_map& b) { return a.map_ == b.map_; }

 private:
  map_type map_;
};

template <class K>
struct type_name<pncounter_map<K>> {
  static std::string get() { return "ddata.pncounter_map<" + type_name<K>::get() + ">"; }
};

}  // namespace troupe::ddata
