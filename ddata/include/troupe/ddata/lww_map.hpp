// lww_map: a map whose values are last-writer-wins registers (Akka's `LWWMap`).
//
// An `ormap` of `lww_register<V>`: keys are observed-remove (a concurrent put wins over a
// remove), and concurrent puts of one key keep the later write (timestamp, then replica id;
// see lww_register.hpp). Timestamps come from the caller.
//
//   lww_map<std::string, std::string> m;
//   m.put(a, "alice", "admin", now_ms);
//   m.put(b, "alice", "user", now_ms);     // one of the two wins everywhere: b's at a tie
//   m.remove("alice");
//
// Deltas and pruning are the ormap's (the registers themselves hold nothing to prune).
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
#include "troupe/ddata/lww_register.hpp"
#include "troupe/ddata/ormap.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// A map of last-writer-wins values with observed-remove keys.
template <class K, class V>
class lww_map {
 public:
  /// The map underneath.
  using map_type = ormap<K, lww_register<V>>;

  /// The empty map.
  lww_map() = default;
  /// A map over this ormap (for decoders and tests).
  explicit lww_map(map_type map) : map_(std::move(map)) {}

  /// The value of `key`, or nullopt.
  std::optional<V> get(const K& key) const {
    auto r = map_.get(key);
    if (!r) return std::nullopt;
    return r->value();
  }
  /// True when `key` is present.
  bool contains(const K& key) const { return map_.contains(key); }
  /// Every key with its value.
  std::map<K, V> entries() const {
    std::map<K, V> out;
    for (auto& [k, r] : map_.entries()) out.emplace_hint(out.end(), k, r.value());
    return out;
  }
  /// The number of keys.
  std::size_t size() const noexcept { return map_.size(); }
  /// True when there is no key.
  bool empty() const noexcept { return map_.empty(); }
  /// The ormap underneath (for codecs).
  const map_type& underlying() const noexcept { return map_; }

  /// Sets `key` to `value` at `replica` with `timestamp` (see lww_register::set).
  void put(const replica_id& replica, const K& key, V value, std::int64_t timestamp) {
    map_.update(replica, key, [&](lww_register<V>& r) { r.set(replica, std::move(value), timestamp); });
  }
  /// Removes `key`; nothing when absent.
  void remove(const K& key) { map_.remove(key); }

  /// Joins `other` in.
  void merge(const lww_map& other) { map_.merge(other.map_); }
  /// The changes since the last `reset_delta`, or nullopt.
  std::optional<lww_map> delta() const {
    auto d = map_.delta();
    if (!d) return std::nullopt;
    return lww_map(std::move(*d));
  }
  /// Forgets the recorded delta.
  void reset_delta() noexcept { map_.reset_delta(); }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const lww_map& delta) { merge(delta); }

  /// Replicas with a dot.
  std::set<replica_id> modified_by() const { return map_.modified_by(); }
  /// True when a dot mentions `replica`.
  bool needs_pruning_from(const replica_id& replica) const { return map_.needs_pruning_from(replica); }
  /// Writes `removed`'s keys again as `into` (same values), forgets `removed`'s dots.
  void prune(const replica_id& removed, const replica_id& into) { map_.prune(removed, into); }
  /// Forgets `removed`'s dots.
  void pruning_cleanup(const replica_id& removed) { map_.pruning_cleanup(removed); }

  /// Equal maps (the recorded delta does not count).
  friend bool operator==(const lww_map& a, const lww_map& b) { return a.map_ == b.map_; }

 private:
  map_type map_;
};

template <class K, class V>
struct type_name<lww_map<K, V>> {
  static std::string get() { return "ddata.lww_map<" + type_name<K>::get() + "," + type_name<V>::get() + ">"; }
};

}  // namespace troupe::ddata
