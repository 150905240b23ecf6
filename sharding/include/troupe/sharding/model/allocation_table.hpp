// allocation_table: which region hosts which shard, as the coordinator knows it (Akka's
// `ShardCoordinator.Internal.State`).
//
// A value with one invariant, checked by `invariant_violation`: every shard has at most
// one home, the home is a registered hosting region (never a proxy), and the per-region
// sets and the shard index agree. Operations that would break it return false and change
// nothing.
//
//   allocation_table t;
//   t.add_region(a); t.add_proxy(p);
//   t.allocate("7", a);            // true
//   t.allocate("7", b);            // false: "7" has a home (and b is not registered)
//   t.remove_region(a);            // {"7"}: its shards have no home now
//
// Pure value type.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "troupe/sharding/model/ids.hpp"

namespace troupe::sharding::model {

class allocation_table {
 public:
  /// Registers a hosting region; false if it is registered already (as region or proxy).
  bool add_region(const region_id& r);
  /// Registers a proxy (routes only); false if registered already.
  bool add_proxy(const region_id& r);
  /// Unregisters `r`; returns the shards it hosted (sorted), which have no home now.
  std::vector<shard_id> remove_region(const region_id& r);

  /// Makes `r` the home of `s`; false if `s` has a home or `r` is not a hosting region.
  bool allocate(const shard_id& s, const region_id& r);
  /// `s` has no home any more; false if it had none.
  bool deallocate(const shard_id& s);

  /// The home of `s`, if any.
  std::optional<region_id> home_of(const shard_id& s) const;
  /// True for a registered hosting region.
  bool is_region(const region_id& r) const { return regions_.contains(r); }
  /// True for a registered proxy.
  bool is_proxy(const region_id& r) const { return proxies_.contains(r); }
  /// Hosting regions with their shards.
  const std::map<region_id, std::set<shard_id>>& regions() const noexcept { return regions_; }
  /// Proxies.
  const std::set<region_id>& proxies() const noexcept { return proxies_; }
  /// Number of shards with a home.
  std::size_t shard_count() const noexcept { return homes_.size(); }
  /// Every shard with its home.
  const std::unordered_map<shard_id, region_id>& homes() const noexcept { return homes_; }

  /// Why the invariant is broken, or nullopt (for tests and the simulator).
  std::optional<std::string> invariant_violation() const;

  friend bool operator==(const allocation_table&, const allocation_table&) = default;

 private:
  std::map<region_id, std::set<shard_id>> regions_;
  std::set<region_id> proxies_;
  std::unordered_map<shard_id, region_id> homes_;
};

}  // namespace troupe::sharding::model
