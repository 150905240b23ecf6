// allocation: where a new shard goes, and which shards to move (Akka's
// `ShardAllocationStrategy`), as pure, pluggable strategies.
//
// The coordinator asks a strategy two questions, always about the regions that may take
// shards now (registered, up, reachable, not shutting down), each with the shards it holds:
// - `allocate(shard, requester, view)`: the home of a shard that has none; nullopt means
//   "not now" (the coordinator keeps the request and asks again later);
// - `rebalance(view, in_progress)`: shards to hand off now; the coordinator hands each off
//   and then asks `allocate` for its new home.
//
//   auto s = least_shard({});                          // Akka's current default
//   allocation_view v{{{a, {"1", "2", "3"}}, {b, {}}}};
//   s->allocate("4", a, v);                            // b: it holds the fewest
//   s->rebalance(v, {});                               // {"1"}: a holds 3, b none
//
// Strategies:
// - `least_shard` (Akka's LeastShardAllocationStrategy since 2.6.10): a new shard goes to
//   the region with the fewest shards; a rebalance round, only while nothing else is
//   moving, first takes from every region the shards above the rounded-up fair share
//   (shards / regions), and if that finds nothing, one shard from each region at the fair
//   share, as many as the regions two or more below it lack to reach one below it; at most
//   `rebalance_limits::limit(shards)` per round. Regions are visited most shards first
//   (ties by region id) and each gives its lowest-sorted shards. Repeated rounds, each
//   moved shard going to the region with the fewest, end with every region within one
//   shard of every other.
// - `consistent_hash_ring` (consistent hashing, Karger et al. 1997; XComponent's placement
//   on Akka.NET): each region owns `virtual_nodes` points on a 64-bit ring at
//   `stable_hash("<host>:<port>/<system>#<i>")`, i = 0..virtual_nodes-1 in decimal, e.g.
//   "127.0.0.1:2551/shop#0" (the address, not the incarnation, so a restarted node takes
//   its old points back); a shard belongs to the first point clockwise of its own hash
//   (the first point >= stable_hash(shard), wrapping past the top to the lowest point);
//   equal points go to the lowest region id (so of two incarnations of one address in the
//   view, the lower uid owns their points). A joining region takes a small slice from
//   every region, a leaving one spreads its share over all. Rebalance moves the shards
//   whose owner changed. The ring is cached and rebuilt only when the view's set of
//   regions changes.
// - `external`: the user assigns shards to regions (`assign`); a shard without an
//   assignment to an available region waits; rebalance moves shards to their assignment
//   when that region is in the view (a shard assigned to a region not in the view stays).
//
// Limits: `least_shard` starts a round only when `in_progress` is empty, and returns at
// most the limit. The ring and `external` let rounds overlap, but keep at most the limit
// in flight: they return at most `limit - in_progress.size()` shards, none of
// `in_progress`.
//
// Strategies are deterministic: ties go to the lowest region id, and the order of shards
// in the answer is sorted. Pure: no clock, no I/O, no randomness. A strategy object keeps
// state (the ring's cache, the assignments), so one coordinator uses it from one thread.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "troupe/sharding/model/ids.hpp"

namespace troupe::sharding::model {

/// The regions that may take shards now, each with the shards it holds (sorted).
struct allocation_view {
  std::map<region_id, std::vector<shard_id>> regions;  ///< by region id; each list sorted
  /// Every shard held by a region of the view.
  std::size_t shard_count() const noexcept;
};

/// A placement policy; see the file comment.
class allocation_strategy {
 public:
  virtual ~allocation_strategy() = default;
  /// The home for `shard`, which has none, asked for by `requester` (a region or a proxy);
  /// nullopt: not now. When it returns a region, that region is in `view`.
  virtual std::optional<region_id> allocate(const shard_id& shard, const region_id& requester,
                                            const allocation_view& view) = 0;
  /// Shards of `view` to hand off now, sorted; none of `in_progress` (moving already).
  virtual std::vector<shard_id> rebalance(const allocation_view& view, const std::set<shard_id>& in_progress) = 0;
  /// "least-shard", "consistent-hash-ring" or "external".
  virtual std::string_view name() const noexcept = 0;
  /// external only: `shard` should live on `region` (nullopt: no preference any more).
  /// The other strategies ignore it.
  virtual void assign(const shard_id& shard, const std::optional<region_id>& region) {
    (void)shard;
    (void)region;
  }
};

/// How many shards one rebalance round may move: max(1, min(absolute, floor(relative x
/// shards))). Both settings are caps, as in Akka (its source takes the lower of the two):
/// with the defaults, 20 of 10,000 shards, 2 of 20.
struct rebalance_limits {
  std::size_t absolute_limit = 20;  ///< Akka's rebalance-absolute-limit
  double relative_limit = 0.1;      ///< Akka's rebalance-relative-limit, in [0, 1] (clamped)
  /// The limit for `shard_count` shards.
  std::size_t limit(std::size_t shard_count) const noexcept;
};

/// Akka's least-shard strategy (see the file comment).
std::unique_ptr<allocation_strategy> least_shard(rebalance_limits limits = {});

/// The consistent-hash ring with `virtual_nodes` (>= 1, asserted) points per region.
std::unique_ptr<allocation_strategy> consistent_hash_ring(std::size_t virtual_nodes = 100,
                                                          rebalance_limits limits = {});

/// User-assigned homes (see `allocation_strategy::assign`).
std::unique_ptr<allocation_strategy> external(rebalance_limits limits = {});

/// The strategy named `name` ("least-shard", "consistent-hash-ring", "external"), or
/// nullptr for another name.
std::unique_ptr<allocation_strategy> make_strategy(std::string_view name, std::size_t virtual_nodes = 100,
                                                   rebalance_limits limits = {});

}  // namespace troupe::sharding::model
