#include "troupe/cluster/model/heartbeat_ring_cache.hpp"

#include <algorithm>
#include <set>

namespace troupe::cluster::model {
namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

}  // namespace

std::uint64_t ring_key(const gossip& g, std::size_t monitored_by) {
  std::uint64_t key = mix(0, monitored_by);
  for (const auto& m : g.members())
    if (m.status() != member_status::joining) key = mix(key, m.unique_address().uid);
  key = mix(key, 0xfeed);
  if (!g.reachability().is_all_reachable())
    for (const auto& a : g.reachability().all_unreachable_or_terminated()) key = mix(key, a.uid);
  return key;
}

std::shared_ptr<const heartbeat_ring> heartbeat_ring_cache::ring_of(const gossip& g, std::size_t monitored_by,
                                                                    std::uint64_t key) {
  auto cached = std::find_if(rings_.begin(), rings_.end(), [&](const auto& e) { return e.first == key; });
  if (cached != rings_.end()) {
    std::rotate(rings_.begin(), cached, cached + 1);
    return rings_.front().second;
  }
  std::set<unique_address> nodes;
  for (const auto& m : g.members())
    if (m.status() != member_status::joining) nodes.insert(nodes.end(), m.unique_address());
  std::shared_ptr<const heartbeat_ring> ring;
  if (!nodes.empty()) {
    const auto& reach = g.reachability();
    ring = std::make_shared<const heartbeat_ring>(
        *nodes.begin(), nodes,
        reach.is_all_reachable() ? std::set<unique_address>{} : reach.all_unreachable_or_terminated(), monitored_by);
  }
  ++built_;
  if (rings_.size() == capacity_) rings_.pop_back();
  rings_.emplace_back(key, ring);
  std::rotate(rings_.rbegin(), rings_.rbegin() + 1, rings_.rend());  // the new ring first
  return ring;
}

}  // namespace troupe::cluster::model
