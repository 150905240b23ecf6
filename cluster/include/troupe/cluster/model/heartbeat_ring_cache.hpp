// heartbeat_ring_cache: heartbeat rings shared by the views that have the same ring.
//
// A node's heartbeat receivers depend only on the members that are not joining and on the
// unreachable ones; a ring over ten thousand nodes costs ~2 MB and O(n log n) to build.
// The cache keeps the most recently used rings by `ring_key`, so that a node whose view
// changed only in seen marks or statuses that do not matter keeps its ring, and the nodes
// of a simulator (one cache shared by every `node_core`) build each ring once.
//
//   model::heartbeat_ring_cache cache;
//   const std::uint64_t key = model::ring_key(view, 9);
//   if (auto ring = cache.ring_of(view, 9, key)) receivers = ring->receivers_from_place(self);
//
// Not thread-safe: one cache per thread (or per simulator). Links only the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/heartbeat_ring.hpp"

namespace troupe::cluster::model {

/// Hash of what `g`'s heartbeat ring depends on: the members that are not joining (Akka
/// does not monitor joining members yet), the unreachable ones, and `monitored_by`.
std::uint64_t ring_key(const gossip& g, std::size_t monitored_by);

/// The most recently used heartbeat rings, by `ring_key`.
class heartbeat_ring_cache {
 public:
  /// A cache of at most `capacity` rings (at least one).
  explicit heartbeat_ring_cache(std::size_t capacity = 16) : capacity_(capacity < 1 ? 1 : capacity) {}

  /// The ring of `g` (its members that are not joining, its unreachable ones, the first of
  /// them as the ring's self); `key` is `ring_key(g, monitored_by)`. Null when no member
  /// is on the ring.
  std::shared_ptr<const heartbeat_ring> ring_of(const gossip& g, std::size_t monitored_by, std::uint64_t key);

  /// Rings built so far (a cache miss each).
  std::uint64_t built() const noexcept { return built_; }

 private:
  std::size_t capacity_;
  std::uint64_t built_ = 0;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const heartbeat_ring>>> rings_;  // most recent first
};

}  // namespace troupe::cluster::model
