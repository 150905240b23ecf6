// replica: the pure parts of a bucket's replica on a second node (docs/cache.md, "Replica
// and hand-over"): which node holds a bucket's copy, and the copy its holder keeps.
//
//   replica_holder<std::string>({"a", "c", "b"}, "b") == "c";      // the next one up
//   replica_holder<std::string>({"a", "c", "b"}, "c") == "a";      // wrapping around
//   replica_holder<std::string>({"b"}, "b") == std::nullopt;       // no other node
//
//   bucket_replica r;
//   r.copy_part(7, 4096, 0, 1, {{"k", "v", std::nullopt}}, now);  // a full copy at version 7,
//                                                                // in one part: complete
//   r.put(8, 4096, "k2", "v2", std::nullopt, now);  // true: 8 follows 7
//   r.remove(10, "k");                              // false: 9 is missing, nothing changed
//
// The copy is an `lru_store` with the primary's capacity, so it expires and evicts by the
// same rules as the primary without being told of each expiry or eviction (a get at the
// primary is not mirrored, so the two may evict different keys when full). Pure: time is
// an argument, as for `lru_store`.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troupe/cache/model/lru_store.hpp"

namespace troupe::cache::model {

/// The node that holds the replica of a bucket living on `self`: the first node of `ring`
/// after `self` in `<` order, wrapping around to the lowest (`self` need not be in `ring`);
/// nullopt when `ring` holds no other node. Every node with the same ring picks the same.
template <class Node>
std::optional<Node> replica_holder(std::vector<Node> ring, const Node& self) {
  std::sort(ring.begin(), ring.end());
  for (const auto& n : ring)
    if (self < n) return n;
  for (const auto& n : ring)
    if (n != self) return n;
  return std::nullopt;
}

/// What a part of a full copy did.
enum class copy_status {
  partial,   ///< more parts to come
  complete,  ///< the last part: the copy is the one held now
  broken,    ///< out of order (a part was lost): the primary should send a full copy again
};

/// One bucket's copy on its replica holder: a complete copy at a version, kept up to date
/// by the primary's writes, each one version after the one before.
class bucket_replica {
 public:
  bucket_replica() = default;

  /// Part `part` (0-based) of `parts` of a full copy at `version`: part 0 starts receiving
  /// it (dropping any half-received one), the last part makes it the copy held (until then
  /// the previous one stays, so a primary dying mid-transfer leaves the last complete copy).
  /// A part that does not follow the one before drops the half-received copy (`broken`).
  copy_status copy_part(std::uint64_t version, std::size_t capacity, std::uint32_t part, std::uint32_t parts,
                        const std::vector<entry_copy>& entries, time_point now);

  /// The primary's write `version`: applied when it follows the version held (true); else
  /// nothing changes (false: a write was lost or no copy is held, the primary sends a full
  /// copy). The copy's capacity follows the primary's first.
  bool put(std::uint64_t version, std::size_t capacity, std::string key, std::string value,
           std::optional<std::chrono::nanoseconds> ttl, time_point now);
  /// As `put`, for the removal of `key`.
  bool remove(std::uint64_t version, const std::string& key);
  /// Drops the entries expired at `now`.
  void expire(time_point now);

  /// True when a complete copy is held.
  bool held() const noexcept { return held_ != nullptr; }
  /// The version of the copy held (0 when none).
  std::uint64_t version() const noexcept { return version_; }
  /// The live entries of the copy held, least recently written first (`lru_store::entries`).
  std::vector<entry_copy> entries(time_point now) const;
  /// Bytes held: the copy and a copy being received.
  std::size_t bytes() const noexcept;

 private:
  std::unique_ptr<lru_store> held_;
  std::unique_ptr<lru_store> receiving_;
  std::uint64_t version_ = 0;
  std::uint64_t receiving_version_ = 0;
  std::uint32_t next_part_ = 0;
};

}  // namespace troupe::cache::model
