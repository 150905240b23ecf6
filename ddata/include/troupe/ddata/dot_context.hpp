// dot_context: which writes a replica has seen, compactly.
//
// A dot `(replica, n)` names the n-th write made at `replica` (counting from 1). The causal
// context of a value is the set of dots it has seen: a version vector for the contiguous
// prefix (every dot 1..v of each replica) plus the "dot cloud" of dots seen beyond a gap.
// Deltas carry only a few dots each and may arrive out of order, lost or twice; the cloud
// records what arrived early, and `insert`/`merge` fold it back into the vector as soon as
// the gap fills (Almeida, Shoker, Baquero, "Delta state replicated data types", 2018,
// section 6: compact causal contexts). Akka's ORSet keeps only a version vector and needs its
// deltas in causal order; with the cloud, any order does.
//
//   dot_context c;
//   c.insert({a, 2});                       // early: in the cloud
//   assert(!c.contains({a, 1}) && c.contains({a, 2}));
//   c.insert({a, 1});                       // the gap fills: vector {a:2}, empty cloud
//   assert(c.next_dot(a) == (dot{a, 3}));
//
// The representation is canonical (no zero entry, no cloud dot the vector covers or that
// could extend it), so equal sets of seen dots compare equal.
//
// Pure value type: links only the standard library.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <set>

#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// The `counter`-th write at `replica` (counters start at 1).
struct dot {
  replica_id replica;         ///< where the write happened
  std::uint64_t counter = 0;  ///< its sequence number there, from 1

  friend auto operator<=>(const dot&, const dot&) = default;
  friend bool operator==(const dot&, const dot&) = default;
};

/// The set of dots a value has seen: version vector plus dot cloud, kept compact.
class dot_context {
 public:
  /// The empty context.
  dot_context() = default;
  /// A context seeing `versions` (every dot up to each counter) and `cloud`; compacted, zero
  /// counters dropped (for decoders and tests).
  dot_context(std::map<replica_id, std::uint64_t> versions, std::set<dot> cloud);

  /// True when `d` has been seen (dots with counter 0 count as seen).
  bool contains(const dot& d) const;
  /// The next dot `replica` should draw: one past the highest it has seen of that replica.
  dot next_dot(const replica_id& replica) const;
  /// Records `d` as seen.
  void insert(const dot& d);
  /// Records every dot of `other` as seen (set union).
  void merge(const dot_context& other);

  /// True when a dot of `replica` has been seen.
  bool mentions(const replica_id& replica) const;
  /// Adds every replica with a seen dot to `out`.
  void collect_replicas(std::set<replica_id>& out) const;
  /// Forgets every dot of `replica` (pruning a removed replica).
  void drop(const replica_id& replica);

  /// The contiguous prefix seen per replica.
  const std::map<replica_id, std::uint64_t>& versions() const noexcept { return versions_; }
  /// Dots seen beyond a gap.
  const std::set<dot>& cloud() const noexcept { return cloud_; }
  /// True when no dot has been seen.
  bool empty() const noexcept { return versions_.empty() && cloud_.empty(); }

  friend bool operator==(const dot_context&, const dot_context&) = default;

 private:
  /// Folds cloud dots that extend the vector into it, drops those it covers.
  void compact();

  std::map<replica_id, std::uint64_t> versions_;
  std::set<dot> cloud_;
};

}  // namespace troupe::ddata
