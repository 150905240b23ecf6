// dot_kernel: keys tagged with dots, plus the causal context; the core of orset and ormap.
//
// Each key holds the dots of the writes that put it there (normally one; several after
// concurrent writes), each with a payload (nothing for a set, the key's value for a map).
// Writing a key draws a fresh dot and replaces the key's dots; removing a key forgets its
// dots but keeps them in the context. Merging keeps a dot when both sides hold it, or when
// the side without it has never seen it, and drops it when that side has seen it and removed
// it: observed-remove with add-wins on concurrent add and remove (Almeida, Shoker, Baquero,
// "Delta state replicated data types", 2018, the "dot kernel" of add-wins sets and maps;
// Akka's ORSet keeps the same information as a version vector per element).
//
// Every mutation returns its delta, itself a kernel: the new dot with its payload and, in the
// context, the dots the mutation superseded. Deltas join like full states, so they may be
// applied in any order, more than once.
//
//   dot_kernel<std::string, std::monostate> k;
//   auto d1 = k.put("x", a, {});   // k: {x: {a1}}, context {a1}
//   auto d2 = k.remove("x");       // k: {}, context {a1}; d2: {} with context {a1}
//
// Pure value type: links only the standard library.
#pragma once

#include <cstddef>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/dot_context.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// Keys `K` with dotted payloads `P` (std::monostate for none, else a CRDT), and a context.
template <class K, class P>
class dot_kernel {
 public:
  /// The dots of one key, each with the payload of the write it names.
  using dots = std::map<dot, P>;

  /// The empty kernel.
  dot_kernel() = default;
  /// A kernel with these entries and context (for decoders; see `invariant_violation`).
  dot_kernel(std::map<K, dots> entries, dot_context context)
      : entries_(std::move(entries)), context_(std::move(context)) {}

  /// Keys with their dots; a key is present when it has at least one dot.
  const std::map<K, dots>& entries() const noexcept { return entries_; }
  /// Every dot seen.
  const dot_context& context() const noexcept { return context_; }

  /// The dots of `key`, or nullptr when absent.
  const dots* find(const K& key) const {
    const auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }

  /// Writes `payload` under a fresh dot of `replica` as `key`'s only dot; returns the delta.
  dot_kernel put(const K& key, const replica_id& replica, P payload) {
    const dot d = context_.next_dot(replica);
    dot_kernel delta;
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      for (const auto& [old, unused] : it->second) delta.context_.insert(old);
      it->second.clear();
    } else {
      it = entries_.emplace(key, dots{}).first;
    }
    delta.context_.insert(d);
    delta.entries_[key].emplace(d, payload);
    it->second.emplace(d, std::move(payload));
    context_.insert(d);
    return delta;
  }

  /// Removes `key`; returns the delta (its dots, in the context only). Empty when absent.
  dot_kernel remove(const K& key) {
    dot_kernel delta;
    const auto it = entries_.find(key);
    if (it == entries_.end()) return delta;
    for (const auto& [d, unused] : it->second) delta.context_.insert(d);
    entries_.erase(it);
    return delta;
  }

  /// Removes every key; returns the delta.
  dot_kernel clear() {
    dot_kernel delta;
    for (const auto& [k, ds] : entries_)
      for (const auto& [d, unused] : ds) delta.context_.insert(d);
    entries_.clear();
    return delta;
  }

  /// Joins `other` into this kernel.
  void merge(const dot_kernel& other) {
    if (this == &other) return;
    // 1. Keys here: keep a dot both hold (joining the payloads) or `other` has not seen;
    //    take `other`'s dots of the key that this side has not seen.
    for (auto it = entries_.begin(); it != entries_.end();) {
      dots& mine = it->second;
      const dots* theirs = other.find(it->first);
      for (auto d = mine.begin(); d != mine.end();) {
        if (theirs != nullptr) {
          if (const auto t = theirs->find(d->first); t != theirs->end()) {
            join_payload(d->second, t->second);
            ++d;
            continue;
          }
        }
        d = other.context_.contains(d->first) ? mine.erase(d) : std::next(d);
      }
      if (theirs != nullptr) {
        for (const auto& [d, p] : *theirs)
          if (!context_.contains(d)) mine.emplace(d, p);
      }
      it = mine.empty() ? entries_.erase(it) : std::next(it);
    }
    // 2. Keys only `other` holds: their dots this side has not seen.
    for (const auto& [k, theirs] : other.entries_) {
      if (entries_.count(k) > 0) continue;
      dots fresh;
      for (const auto& [d, p] : theirs)
        if (!context_.contains(d)) fresh.emplace(d, p);
      if (!fresh.empty()) entries_.emplace(k, std::move(fresh));
    }
    // 3. The contexts' union.
    context_.merge(other.context_);
  }

  /// The join of the payloads of `ds` (not empty).
  static P joined(const dots& ds) {
    auto it = ds.begin();
    P out = it->second;
    for (++it; it != ds.end(); ++it) join_payload(out, it->second);
    return out;
  }

  /// True when a dot or a payload mentions `replica`.
  bool needs_pruning_from(const replica_id& replica) const {
    if (context_.mentions(replica)) return true;
    if constexpr (removed_node_pruning<P>) {
      for (const auto& [k, ds] : entries_)
        for (const auto& [d, p] : ds)
          if (p.needs_pruning_from(replica)) return true;
    }
    return false;
  }

  /// Every replica a dot or a payload mentions.
  std::set<replica_id> modified_by() const {
    std::set<replica_id> out;
    context_.collect_replicas(out);
    if constexpr (removed_node_pruning<P>) {
      for (const auto& [k, ds] : entries_)
        for (const auto& [d, p] : ds) out.merge(p.modified_by());
    }
    return out;
  }

  /// Folds `removed` into `into`, the calling replica (it draws `into`'s dots): each key with
  /// a dot of `removed` (or a payload that needs pruning) is written again by `into` with its
  /// joined (and pruned) payload, then the context forgets `removed`. Returns the delta of
  /// the writes.
  dot_kernel prune(const replica_id& removed, const replica_id& into) {
    // 1. The keys to write again.
    std::vector<K> affected;
    for (const auto& [k, ds] : entries_) {
      bool hit = false;
      for (const auto& [d, p] : ds) {
        hit = hit || d.replica == removed;
        if constexpr (removed_node_pruning<P>) hit = hit || p.needs_pruning_from(removed);
      }
      if (hit) affected.push_back(k);
    }
    // 2. Write each with a dot of `into`, superseding the old dots.
    dot_kernel delta;
    for (const K& k : affected) {
      P p = joined(entries_.at(k));
      if constexpr (removed_node_pruning<P>) p.prune(removed, into);
      if constexpr (delta_crdt<P>) p.reset_delta();
      delta.merge(put(k, into, std::move(p)));
    }
    // 3. Forget `removed`'s dots.
    context_.drop(removed);
    return delta;
  }

  /// Drops every dot and payload entry of `removed`, without folding (for values that still
  /// carry them after the pruning was done elsewhere).
  void pruning_cleanup(const replica_id& removed) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      std::erase_if(it->second, [&](const auto& e) { return e.first.replica == removed; });
      if constexpr (removed_node_pruning<P>) {
        for (auto& [d, p] : it->second) p.pruning_cleanup(removed);
      }
      it = it->second.empty() ? entries_.erase(it) : std::next(it);
    }
    context_.drop(removed);
  }

  /// Why this kernel cannot come from a well-behaved replica (a key without dots, a dot not
  /// in the context or under two keys), or nullopt.
  std::optional<const char*> invariant_violation() const {
    std::set<dot> seen;
    for (const auto& [k, ds] : entries_) {
      if (ds.empty()) return "a key without dots";
      for (const auto& [d, p] : ds) {
        if (d.counter == 0) return "a dot with counter 0";
        if (!context_.contains(d)) return "a dot missing from the context";
        if (!seen.insert(d).second) return "a dot under two keys";
      }
    }
    return std::nullopt;
  }

  friend bool operator==(const dot_kernel&, const dot_kernel&) = default;

 private:
  static void join_payload(P& into, const P& from) {
    if constexpr (!std::is_same_v<P, std::monostate>) into.merge(from);
  }

  std::map<K, dots> entries_;
  dot_context context_;
};

/// Joins `delta` into `acc` (or starts it).
template <class K, class P>
void accumulate(std::optional<dot_kernel<K, P>>& acc, dot_kernel<K, P>&& delta) {
  if (acc) {
    acc->merge(delta);
  } else {
    acc = std::move(delta);
  }
}

}  // namespace troupe::ddata
