// node_budget: the byte budget of one node, shared by the buckets living there (each bucket
// an actor on its own turn, so the counts are under a mutex). Each bucket holds at most
// `share()`: the node's budget split evenly across its live buckets, as Guava's LocalCache
// splits its maximum weight across segments. The copies this node holds for other nodes'
// buckets (`replicas` 1) are counted apart: they are bounded by their primaries' shares.
#pragma once

#include <algorithm>
#include <cstddef>
#include <mutex>

namespace troupe::cache::detail {

class node_budget {
 public:
  explicit node_budget(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  /// A bucket started here.
  void join() {
    std::lock_guard lock(mutex_);
    ++buckets_;
  }
  /// A bucket holding `bytes` stopped here.
  void leave(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    --buckets_;
    bytes_ -= std::min(bytes_, bytes);
  }
  /// A bucket's bytes went from `before` to `after`.
  void update(std::size_t before, std::size_t after) {
    std::lock_guard lock(mutex_);
    bytes_ = bytes_ - std::min(bytes_, before) + after;
  }
  /// The bytes one bucket may hold now.
  std::size_t share() const {
    std::lock_guard lock(mutex_);
    return max_bytes_ / std::max<std::size_t>(1, buckets_);
  }
  /// Bytes held by the buckets living here.
  std::size_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }
  /// Buckets living here.
  std::size_t buckets() const {
    std::lock_guard lock(mutex_);
    return buckets_;
  }
  std::size_t max_bytes() const noexcept { return max_bytes_; }
  /// The replica store holds `bytes` of other nodes' buckets.
  void set_replica_bytes(std::size_t bytes) {
    std::lock_guard lock(mutex_);
    replica_bytes_ = bytes;
  }
  /// Bytes of other nodes' buckets held here.
  std::size_t replica_bytes() const {
    std::lock_guard lock(mutex_);
    return replica_bytes_;
  }

 private:
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::size_t buckets_ = 0;
  std::size_t bytes_ = 0;
  std::size_t replica_bytes_ = 0;
};

}  // namespace troupe::cache::detail
