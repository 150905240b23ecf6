// pncounter: a counter that goes up and down.
//
// Two grow-only counters, one of increments and one of decrements; the value is their
// difference (Shapiro et al. 2011, "PN-Counter"; Akka's `PNCounter`).
//
//   pncounter c;
//   c.increment(a, 5);
//   c.decrement(b, 2);              // value 3
//   c.increment(a, -1);             // the same as decrement(a, 1): value 2
//
// The value is a signed 64-bit difference of the two unsigned sums, computed modulo 2^64,
// so it is exact while the true value fits in int64. The delta holds the changed entries of
// both counters; pruning folds a removed replica's increments and decrements into another
// replica's (see gcounter.hpp for the rule).
//
// Pure value type: links only the standard library.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>

#include "troupe/ddata/gcounter.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// A counter with increments and decrements per replica.
class pncounter {
 public:
  /// The type's tag on the wire and in errors.
  static constexpr std::string_view type_tag = "ddata.pncounter";

  /// The zero counter.
  pncounter() = default;
  /// A counter from its two halves (for decoders and tests).
  pncounter(gcounter increments, gcounter decrements);

  /// Increments minus decrements.
  std::int64_t value() const noexcept;
  /// The grow-only counter of increments.
  const gcounter& increments() const noexcept { return p_; }
  /// The grow-only counter of decrements.
  const gcounter& decrements() const noexcept { return n_; }

  /// Adds `n` (negative: subtracts) at `replica`.
  void increment(const replica_id& replica, std::int64_t n = 1);
  /// Subtracts `n` (negative: adds) at `replica`.
  void decrement(const replica_id& replica, std::int64_t n = 1);

  /// Joins `other` in.
  void merge(const pncounter& other);
  /// The entries changed since the last `reset_delta`, or nullopt.
  std::optional<pncounter> delta() const;
  /// Forgets the recorded delta.
  void reset_delta() noexcept;
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const pncounter& delta) { merge(delta); }

  /// Replicas with a count in either half.
  std::set<replica_id> modified_by() const;
  /// True when `replica` has a count in either half.
  bool needs_pruning_from(const replica_id& replica) const;
  /// Folds `removed`'s counts into `into`'s.
  void prune(const replica_id& removed, const replica_id& into);
  /// Erases `removed`'s counts.
  void pruning_cleanup(const replica_id& removed);

  /// Equal halves (the recorded delta does not count).
  friend bool operator==(const pncounter& a, const pncounter& b) { return a.p_ == b.p_ && a.n_ == b.n_; }

 private:
  gcounter p_;
  gcounter n_;
};

}  // namespace troupe::ddata
