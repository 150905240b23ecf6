#include "troupe/sharding/model/allocation_table.hpp"

#include <utility>

namespace troupe::sharding::model {

bool allocation_table::add_region(const region_id& r) {
  if (regions_.contains(r) || proxies_.contains(r)) return false;
  regions_.emplace(r, std::set<shard_id>{});
  return true;
}

bool allocation_table::add_proxy(const region_id& r) {
  if (regions_.contains(r) || proxies_.contains(r)) return false;
  proxies_.insert(r);
  return true;
}

std::vector<shard_id> allocation_table::remove_region(const region_id& r) {
  proxies_.erase(r);
  const auto it = regions_.find(r);
  if (it == regions_.end()) return {};
  std::vector<shard_id> orphaned(it->second.begin(), it->second.end());
  for (const auto& s : orphaned) homes_.erase(s);
  regions_.erase(it);
  return orphaned;
}

bool allocation_table::allocate(const shard_id& s, const region_id& r) {
  const auto region = regions_.find(r);
  if (region == regions_.end() || homes_.contains(s)) return false;
  region->second.insert(s);
  homes_.emplace(s, r);
  return true;
}

bool allocation_table::deallocate(const shard_id& s) {
  const auto home = homes_.find(s);
  if (home == homes_.end()) return false;
  regions_.at(home->second).erase(s);
  homes_.erase(home);
  return true;
}

std::optional<region_id> allocation_table::home_of(const shard_id& s) const {
  if (const auto it = homes_.find(s); it != homes_.end()) return it->second;
  return std::nullopt;
}

std::optional<std::string> allocation_table::invariant_violation() const {
  // 1. A node is a hosting region or a proxy, never both.
  for (const auto& p : proxies_)
    if (regions_.contains(p)) return "registered both as region and as proxy: " + to_string(p);
  // 2. Every shard a region lists has that region as its home in the index; as the index
  //    maps a shard to one region, a shard listed by two regions fails here for one of them.
  std::size_t listed = 0;
  for (const auto& [r, shards] : regions_) {
    listed += shards.size();
    for (const auto& s : shards) {
      const auto home = homes_.find(s);
      if (home == homes_.end()) return "shard " + s + " on " + to_string(r) + " has no home in the index";
      if (home->second != r)
        return "shard " + s + " is listed by " + to_string(r) + " but its home is " + to_string(home->second);
    }
  }
  // 3. Nothing in the index that no region lists. Step 2 put every listed pair in the
  //    index, each shard once, so equal counts mean equal sides; otherwise name one extra.
  if (listed == homes_.size()) return std::nullopt;
  for (const auto& [s, r] : homes_) {
    const auto region = regions_.find(r);
    if (region == regions_.end()) return "shard " + s + " has a home that is no hosting region: " + to_string(r);
    if (!region->second.contains(s)) return "shard " + s + " is not listed by its home " + to_string(r);
  }
  return std::nullopt;
}

}  // namespace troupe::sharding::model
