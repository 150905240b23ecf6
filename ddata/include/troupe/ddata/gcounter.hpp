// gcounter: a grow-only counter.
//
// Each replica counts its own increments; the value is the sum, and merging takes the
// larger count per replica (Shapiro et al. 2011, "G-Counter"; Akka's `GCounter`).
//
//   gcounter c;
//   c.increment(a, 2);
//   c.increment(b);                 // value 3
//   auto d = c.delta();             // {a:2, b:1}: the entries changed since reset_delta()
//   other.merge_delta(*d);
//
// Counts and the sum are unsigned 64-bit (Akka uses BigInt); the sum wraps past 2^64.
// A delta holds the new counts of the replicas that incremented (absolute, not the
// increments), so deltas join like states: in any order, any number of times.
//
// Pruning, the rule for every type with replica entries (Akka's `RemovedNodePruning`): when a
// replica is removed from the cluster, one live replica (the replicator picks it) calls
// `prune(removed, self)`, which folds `removed`'s entries into its own, keeping the value;
// `into` must be the caller's own id, as only it may grow its own entries without racing
// itself. Every other replica merges the pruned value and calls `pruning_cleanup(removed)`,
// which erases `removed`'s entries without folding them (in either order); from then on a
// value arriving with entries of `removed` is cleaned up before it is merged, or it would
// count them twice. For gcounter: `removed`'s count is added to `into`'s and erased.
//
// Pure value type: links only the standard library.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// A grow-only counter with one count per replica.
class gcounter {
 public:
  /// The type's tag on the wire and in errors.
  static constexpr std::string_view type_tag = "ddata.gcounter";

  /// The zero counter.
  gcounter() = default;
  /// A counter with these counts (zero counts dropped; for decoders and tests).
  explicit gcounter(std::map<replica_id, std::uint64_t> counts);

  /// The sum of every replica's count.
  std::uint64_t value() const noexcept;
  /// `replica`'s count (0 when absent).
  std::uint64_t value_of(const replica_id& replica) const noexcept;
  /// The nonzero counts per replica.
  const std::map<replica_id, std::uint64_t>& counts() const noexcept { return counts_; }

  /// Adds `n` to `replica`'s count and records it in the delta (nothing for 0).
  void increment(const replica_id& replica, std::uint64_t n = 1);

  /// Joins `other` in: the larger count per replica.
  void merge(const gcounter& other);
  /// The counts changed since the last `reset_delta`, or nullopt.
  std::optional<gcounter> delta() const;
  /// Forgets the recorded delta.
  void reset_delta() noexcept { delta_.clear(); }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const gcounter& delta) { merge(delta); }

  /// Replicas with a count.
  std::set<replica_id> modified_by() const;
  /// True when `replica` has a count.
  bool needs_pruning_from(const replica_id& replica) const { return counts_.count(replica) > 0; }
  /// Adds `removed`'s count to `into`'s (recorded in the delta) and erases `removed`.
  void prune(const replica_id& removed, const replica_id& into);
  /// Erases `removed`'s count.
  void pruning_cleanup(const replica_id& removed);

  /// Equal counts (the recorded delta does not count).
  friend bool operator==(const gcounter& a, const gcounter& b) { return a.counts_ == b.counts_; }

 private:
  std::map<replica_id, std::uint64_t> counts_;
  std::map<replica_id, std::uint64_t> delta_;  ///< new counts of the changed replicas
};

}  // namespace troupe::ddata
