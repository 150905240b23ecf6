// vector_clock: the version of a gossip, one counter per node that changed it.
//
// Each node bumps its own counter when it changes the cluster state; comparing two clocks
// tells whether one state descends from the other or whether they diverged and must be
// merged (Lamport 1978; Fidge 1988; Mattern 1989; Akka's `VectorClock`).
//
// Nodes are keyed by a 64-bit `node_id`: the FNV-1a hash of `to_string(unique_address)`.
// It is stable across processes and platforms (unlike std::hash), costs 8 bytes per entry
// on the wire instead of an address string (Akka keys by an MD5 string of the address),
// and two of a thousand nodes collide with probability about 3e-14.
//
//   const auto a = vector_clock::node_of(node_a), b = vector_clock::node_of(node_b);
//   vector_clock v1 = vector_clock{}.increment(a);       // {a:1}
//   vector_clock v2 = v1.increment(b);                    // {a:1, b:1}
//   assert(v1.compare(v2) == clock_ordering::before);
//   vector_clock v3 = v1.increment(a);                    // {a:2}
//   assert(v2.compare(v3) == clock_ordering::concurrent);
//   assert(v2.merge(v3).compare(v3) == clock_ordering::after);   // {a:2, b:1}
//
// Pure value type: links only the standard library.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// How one clock relates to another.
enum class clock_ordering : std::uint8_t {
  before,      ///< every counter <=, at least one <: the other descends from this one
  after,       ///< every counter >=, at least one >: this one descends from the other
  same,        ///< all counters equal
  concurrent,  ///< some counter greater on each side: the histories diverged
};

/// "before", "after", "same" or "concurrent".
std::string_view to_string(clock_ordering o) noexcept;

/// Counters per node; a missing node counts as 0. Operations return new clocks.
class vector_clock {
 public:
  /// Compact key of a node (see the file comment).
  using node_id = std::uint64_t;

  /// The key of `node`: FNV-1a 64 of `to_string(node)`.
  static node_id node_of(const unique_address& node) noexcept;

  /// The empty clock (every counter 0).
  vector_clock() = default;

  /// A clock with these counters, for decoders and tests; zero counters are dropped.
  explicit vector_clock(std::map<node_id, std::uint64_t> versions);

  /// This clock with `node`'s counter one higher.
  [[nodiscard]] vector_clock increment(node_id node) const;
  /// `increment(node_of(node))`.
  [[nodiscard]] vector_clock increment(const unique_address& node) const {
    return increment(node_of(node));
  }

  /// How this clock relates to `other` (before: this is older).
  clock_ordering compare(const vector_clock& other) const noexcept;

  /// The least clock after or same as both: the counter-wise maximum.
  [[nodiscard]] vector_clock merge(const vector_clock& other) const;

  /// This clock without `node`'s counter (done when the node is removed from the cluster).
  [[nodiscard]] vector_clock prune(node_id node) const;
  /// `prune(node_of(node))`.
  [[nodiscard]] vector_clock prune(const unique_address& node) const {
    return prune(node_of(node));
  }

  /// `node`'s counter (0 if absent).
  std::uint64_t version_of(node_id node) const noexcept;

  /// Non-zero counters by node.
  const std::map<node_id, std::uint64_t>& versions() const noexcept { return versions_; }

  /// True if no node has a counter.
  bool empty() const noexcept { return versions_.empty(); }

  /// Same counters.
  friend bool operator==(const vector_clock&, const vector_clock&) = default;

 private:
  std::map<node_id, std::uint64_t> versions_;
};

/// "{0123456789abcdef:2, ...}" with node ids in hex.
std::string to_string(const vector_clock& v);

}  // namespace troupe::cluster::model
