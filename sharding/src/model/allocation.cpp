#include "troupe/sharding/model/allocation.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>

namespace troupe::sharding::model {

std::size_t allocation_view::shard_count() const noexcept {
  std::size_t n = 0;
  for (const auto& [r, shards] : regions) n += shards.size();
  return n;
}

std::size_t rebalance_limits::limit(std::size_t shard_count) const noexcept {
  // `relative_limit > 0` is false for NaN, and the clamp keeps the conversion defined.
  const double fraction = relative_limit > 0.0 ? std::min(relative_limit, 1.0) : 0.0;
  const auto relative = static_cast<std::size_t>(std::floor(fraction * static_cast<double>(shard_count)));
  return std::max(std::size_t{1}, std::min(absolute_limit, relative));
}

namespace {

// The `count` lowest shards of `shards` (all of them if it holds fewer), in order. The
// view's lists are sorted, so this is a prefix; an unsorted list is sorted first.
void take_lowest(const std::vector<shard_id>& shards, std::size_t count, std::vector<shard_id>& out) {
  count = std::min(count, shards.size());
  if (std::is_sorted(shards.begin(), shards.end())) {
    out.insert(out.end(), shards.begin(), shards.begin() + static_cast<std::ptrdiff_t>(count));
    return;
  }
  std::vector<shard_id> lowest(count);
  std::partial_sort_copy(shards.begin(), shards.end(), lowest.begin(), lowest.end());
  std::move(lowest.begin(), lowest.end(), std::back_inserter(out));
}

// How many shards a strategy that lets rounds overlap may start now: the round's limit
// less the shards still moving, so no more than the limit are ever in flight.
std::size_t budget(const rebalance_limits& limits, const allocation_view& view,
                   const std::set<shard_id>& in_progress) {
  const std::size_t limit = limits.limit(view.shard_count());
  return in_progress.size() >= limit ? 0 : limit - in_progress.size();
}

// The answer of a rebalance: sorted, at most `count`.
std::vector<shard_id> sorted_prefix(std::vector<shard_id> shards, std::size_t count) {
  std::sort(shards.begin(), shards.end());
  if (shards.size() > count) shards.resize(count);
  return shards;
}

// ---------------------------------------------------------------------------------------
// least-shard

class least_shard_strategy final : public allocation_strategy {
 public:
  explicit least_shard_strategy(rebalance_limits limits) : limits_(limits) {}

  std::optional<region_id> allocate(const shard_id&, const region_id&, const allocation_view& view) override {
    // The map is ordered by region id and only a strictly smaller count replaces the
    // pick, so ties go to the lowest id.
    const std::pair<const region_id, std::vector<shard_id>>* fewest = nullptr;
    for (const auto& entry : view.regions)
      if (fewest == nullptr || entry.second.size() < fewest->second.size()) fewest = &entry;
    if (fewest == nullptr) return std::nullopt;
    return fewest->first;
  }

  std::vector<shard_id> rebalance(const allocation_view& view, const std::set<shard_id>& in_progress) override {
    // 1. One round at a time, and only between two regions or more.
    if (!in_progress.empty() || view.regions.size() < 2) return {};
    const std::size_t shards = view.shard_count();
    if (shards == 0) return {};
    const std::size_t regions = view.regions.size();
    const std::size_t optimal = (shards + regions - 1) / regions;
    const std::size_t limit = limits_.limit(shards);
    // 2. Regions with the most shards first, ties by region id (the map's order, kept by
    //    the stable sort).
    std::vector<const std::vector<shard_id>*> order;
    order.reserve(regions);
    for (const auto& [r, held] : view.regions) order.push_back(&held);
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return a->size() > b->size(); });
    // 3. Phase 1: every region above the rounded-up fair share gives its lowest shards
    //    down to that share, up to the limit in all.
    std::vector<shard_id> picked;
    for (const auto* held : order) {
      if (held->size() <= optimal || picked.size() >= limit) break;
      take_lowest(*held, std::min(held->size() - optimal, limit - picked.size()), picked);
    }
    if (!picked.empty()) return sorted_prefix(std::move(picked), limit);
    // 4. Phase 2: no region holds more than `optimal`, but, the share being rounded up,
    //    some may lie two or more below it. Regions at the share each give their lowest
    //    shard, as many as those lack to reach one below the share, up to the limit.
    std::size_t missing = 0;
    for (const auto* held : order)
      if (held->size() + 1 < optimal) missing += optimal - 1 - held->size();
    const std::size_t wanted = std::min(missing, limit);
    for (const auto* held : order) {
      if (picked.size() >= wanted || held->size() < optimal) break;
      take_lowest(*held, 1, picked);
    }
    return sorted_prefix(std::move(picked), wanted);
  }

  std::string_view name() const noexcept override { return "least-shard"; }

 private:
  rebalance_limits limits_;
};

// ---------------------------------------------------------------------------------------
// consistent-hash-ring

class consistent_hash_ring_strategy final : public allocation_strategy {
 public:
  consistent_hash_ring_strategy(std::size_t virtual_nodes, rebalance_limits limits)
      : virtual_nodes_(std::max<std::size_t>(virtual_nodes, 1)), limits_(limits) {
    assert(virtual_nodes >= 1 && "a consistent-hash ring needs at least one virtual node per region");
  }

  std::optional<region_id> allocate(const shard_id& shard, const region_id&, const allocation_view& view) override {
    refresh(view);
    if (regions_.empty()) return std::nullopt;
    return regions_[owner_of(shard)];
  }

  std::vector<shard_id> rebalance(const allocation_view& view, const std::set<shard_id>& in_progress) override {
    // 1. Rounds may overlap, but never more than the limit in flight.
    const std::size_t count = budget(limits_, view, in_progress);
    if (count == 0) return {};
    refresh(view);
    // 2. Every shard not on its owner (`regions_` is in the view's order), but none that
    //    is moving already.
    std::vector<shard_id> misplaced;
    std::size_t index = 0;
    for (const auto& [r, held] : view.regions) {
      for (const auto& s : held)
        if (owner_of(s) != index && !in_progress.contains(s)) misplaced.push_back(s);
      ++index;
    }
    return sorted_prefix(std::move(misplaced), count);
  }

  std::string_view name() const noexcept override { return "consistent-hash-ring"; }

 private:
  // One of a region's points on the ring: its hash and the region's index in `regions_`.
  struct point {
    std::uint64_t hash;
    std::uint32_t region;
    friend auto operator<=>(const point&, const point&) = default;
  };

  // Rebuilds the ring when the view's set of regions differs from the cached one; the
  // coordinator asks once per shard, so the common case is a comparison and no rebuild.
  void refresh(const allocation_view& view) {
    if (view.regions.size() == regions_.size() &&
        std::equal(view.regions.begin(), view.regions.end(), regions_.begin(),
                   [](const auto& entry, const region_id& r) { return entry.first == r; }))
      return;
    // 1. The regions in id order, so that equal points sort to the lowest region id.
    regions_.clear();
    regions_.reserve(view.regions.size());
    for (const auto& [r, held] : view.regions) regions_.push_back(r);
    // 2. `virtual_nodes_` points per region, at the hash of "<host>:<port>/<system>#<i>".
    points_.clear();
    points_.reserve(regions_.size() * virtual_nodes_);
    for (std::size_t i = 0; i < regions_.size(); ++i) {
      const auto& a = regions_[i].address;
      const std::string prefix = a.host + ":" + std::to_string(a.port) + "/" + a.system + "#";
      for (std::size_t v = 0; v < virtual_nodes_; ++v)
        points_.push_back({stable_hash(prefix + std::to_string(v)), static_cast<std::uint32_t>(i)});
    }
    std::sort(points_.begin(), points_.end());
  }

  // The index of the region owning `shard`: the first point clockwise of its hash (at it
  // or after it), wrapping past the top of the ring to the first point. Requires a
  // non-empty ring.
  std::size_t owner_of(std::string_view shard) const {
    const std::uint64_t h = stable_hash(shard);
    const auto at = std::lower_bound(points_.begin(), points_.end(), h,
                                     [](const point& p, std::uint64_t key) { return p.hash < key; });
    return at == points_.end() ? points_.front().region : at->region;
  }

  std::size_t virtual_nodes_;
  rebalance_limits limits_;
  std::vector<region_id> regions_;  ///< the regions of the cached ring, in id order
  std::vector<point> points_;       ///< sorted by hash, then region index
};

// ---------------------------------------------------------------------------------------
// external

class external_strategy final : public allocation_strategy {
 public:
  explicit external_strategy(rebalance_limits limits) : limits_(limits) {}

  std::optional<region_id> allocate(const shard_id& shard, const region_id&, const allocation_view& view) override {
    const auto it = assigned_.find(shard);
    if (it == assigned_.end() || !view.regions.contains(it->second)) return std::nullopt;
    return it->second;
  }

  std::vector<shard_id> rebalance(const allocation_view& view, const std::set<shard_id>& in_progress) override {
    // 1. Rounds may overlap, but never more than the limit in flight.
    const std::size_t count = budget(limits_, view, in_progress);
    if (count == 0) return {};
    // 2. Every shard held away from an assignment that could take it now.
    std::vector<shard_id> misplaced;
    for (const auto& [r, held] : view.regions) {
      for (const auto& s : held) {
        const auto it = assigned_.find(s);
        if (it != assigned_.end() && it->second != r && view.regions.contains(it->second) &&
            !in_progress.contains(s))
          misplaced.push_back(s);
      }
    }
    return sorted_prefix(std::move(misplaced), count);
  }

  std::string_view name() const noexcept override { return "external"; }

  void assign(const shard_id& shard, const std::optional<region_id>& region) override {
    if (region)
      assigned_.insert_or_assign(shard, *region);
    else
      assigned_.erase(shard);
  }

 private:
  rebalance_limits limits_;
  std::map<shard_id, region_id> assigned_;
};

}  // namespace

std::unique_ptr<allocation_strategy> least_shard(rebalance_limits limits) {
  return std::make_unique<least_shard_strategy>(limits);
}

std::unique_ptr<allocation_strategy> consistent_hash_ring(std::size_t virtual_nodes, rebalance_limits limits) {
  return std::make_unique<consistent_hash_ring_strategy>(virtual_nodes, limits);
}

std::unique_ptr<allocation_strategy> external(rebalance_limits limits) {
  return std::make_unique<external_strategy>(limits);
}

std::unique_ptr<allocation_strategy> make_strategy(std::string_view name, std::size_t virtual_nodes,
                                                   rebalance_limits limits) {
  if (name == "least-shard") return least_shard(limits);
  if (name == "consistent-hash-ring") return consistent_hash_ring(virtual_nodes, limits);
  if (name == "external") return external(limits);
  return nullptr;
}

}  // namespace troupe::sharding::model
