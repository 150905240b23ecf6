// ormap: a map from keys to CRDT values, with observed-remove keys.
//
// The keys behave as an `orset` (a concurrent update wins over a remove), and each value is
// itself a CRDT. Every write of a key (`put` or `update`) draws a fresh dot of the writing
// replica and stores the key's whole new value under it, replacing the dots it supersedes;
// concurrent writes leave one dot each, and reading the key joins their values
// (Almeida, Shoker, Baquero 2018, the "map of embedded CRDTs" over a dot kernel; Akka's
// `ORMap` keeps the keys in an ORSet and the values beside it).
//
//   ormap<std::string, pncounter> m;
//   m.update(a, "apples", [&](pncounter& c) { c.increment(a, 3); });
//   m.update(a, "pears", [&](pncounter& c) { c.increment(a, 1); });
//   m.remove("pears");
//   assert(m.get("apples")->value() == 3 && !m.contains("pears"));
//
// Semantics worth knowing:
// - A remove concurrent with an update at another replica loses: the key stays, with the
//   value the updating replica wrote (which includes what it held before), as in Akka.
// - A key removed and later written again starts from `V{}` (the removed value does not come
//   back), unless a replica that had not seen the remove wrote it concurrently.
// - Unlike Akka's `ORMap`, merge is a join in every case (commutative, associative,
//   idempotent, also across concurrent removes and updates), because values live under the
//   dots of the writes that made them. The price: a write's delta carries the key's whole
//   value, not the value's own delta (fine for counters, registers and small sets).
//
// Pruning: keys with a dot of `removed`, or whose value holds entries of `removed`, are
// written again by `into` with the value pruned (the value's `prune`, when it has one).
//
// Pure value type: links only the standard library.
#pragma once

#include <concepts>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/dot_kernel.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// An observed-remove map of CRDT values.
template <class K, class V>
  requires crdt<V> && std::default_initializable<V>
class ormap {
 public:
  /// Keys with their values under the dots of their writes, and the context.
  using kernel_type = dot_kernel<K, V>;

  /// The empty map.
  ormap() = default;
  /// A map with this kernel (for decoders and tests).
  explicit ormap(kernel_type kernel) : kernel_(std::move(kernel)) {}

  /// True when `key` is present.
  bool contains(const K& key) const { return kernel_.find(key) != nullptr; }
  /// The value of `key` (the join of its concurrent writes), or nullopt.
  std::optional<V> get(const K& key) const {
    const auto* ds = kernel_.find(key);
    if (ds == nullptr) return std::nullopt;
    return kernel_type::joined(*ds);
  }
  /// The keys.
  std::set<K> keys() const {
    std::set<K> out;
    for (const auto& [k, ds] : kernel_.entries()) out.insert(out.end(), k);
    return out;
  }
  /// Every key with its value.
  std::map<K, V> entries() const {
    std::map<K, V> out;
    for (const auto& [k, ds] : kernel_.entries()) out.emplace_hint(out.end(), k, kernel_type::joined(ds));
    return out;
  }
  /// The number of keys.
  std::size_t size() const noexcept { return kernel_.entries().size(); }
  /// True when there is no key.
  bool empty() const noexcept { return kernel_.entries().empty(); }
  /// The keys' dotted values and the context (for codecs).
  const kernel_type& kernel() const noexcept { return kernel_; }

  /// Sets `key` to `value` at `replica`, replacing the writes this replica has seen.
  void put(const replica_id& replica, const K& key, V value) {
    if constexpr (delta_crdt<V>) value.reset_delta();
    accumulate(delta_, kernel_.put(key, replica, std::move(value)));
  }
  /// Calls `modify(V&)` on the key's current value (`V{}` when absent) and writes the result
  /// at `replica`.
  template <class F>
  void update(const replica_id& replica, const K& key, F&& modify) {
    V value = get(key).value_or(V{});
    std::forward<F>(modify)(value);
    put(replica, key, std::move(value));
  }
  /// Removes `key` (the writes observed so far); nothing when absent.
  void remove(const K& key) {
    if (contains(key)) accumulate(delta_, kernel_.remove(key));
  }
  /// Removes every key.
  void clear() {
    if (!empty()) accumulate(delta_, kernel_.clear());
  }

  /// Joins `other` in.
  void merge(const ormap& other) { kernel_.merge(other.kernel_); }
  /// The changes since the last `reset_delta`, or nullopt.
  std::optional<ormap> delta() const {
    if (!delta_) return std::nullopt;
    return ormap(*delta_);
  }
  /// Forgets the recorded delta.
  void reset_delta() noexcept { delta_.reset(); }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const ormap& delta) { merge(delta); }

  /// Replicas with a dot, or with entries in a value.
  std::set<replica_id> modified_by() const { return kernel_.modified_by(); }
  /// True when a dot or a value mentions `replica`.
  bool needs_pruning_from(const replica_id& replica) const { return kernel_.needs_pruning_from(replica); }
  /// Folds `removed` into `into` (see the file comment).
  void prune(const replica_id& removed, const replica_id& into) {
    if (removed != into) accumulate(delta_, kernel_.prune(removed, into));
  }
  /// Forgets `removed`'s dots and value entries.
  void pruning_cleanup(const replica_id& removed) { kernel_.pruning_cleanup(removed); }

  /// Equal dotted values and contexts (the recorded delta does not count).
  friend bool operator==(const ormap& a, const ormap& b) { return a.kernel_ == b.kernel_; }

 private:
  kernel_type kernel_;
  std::optional<kernel_type> delta_;
};

template <class K, class V>
struct type_name<ormap<K, V>> {
  static std::string get() { return "ddata.ormap<" + type_name<K>::get() + "," + type_name<V>::get() + ">"; }
};

}  // namespace troupe::ddata
