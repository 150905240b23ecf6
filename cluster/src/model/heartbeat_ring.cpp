#include "troupe/cluster/model/heartbeat_ring.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

namespace troupe::cluster::model {

namespace {

// 64-bit FNV-1a (Fowler, Noll, Vo): offset basis and prime from the reference description.
constexpr std::uint64_t fnv_offset_basis = 14695981039346656037ULL;
constexpr std::uint64_t fnv_prime = 1099511628211ULL;

constexpr std::uint64_t fnv_byte(std::uint64_t h, std::uint8_t byte) noexcept {
  return (h ^ byte) * fnv_prime;
}

std::uint64_t fnv_string(std::uint64_t h, std::string_view s) noexcept {
  for (const char c : s) h = fnv_byte(h, static_cast<std::uint8_t>(c));
  return fnv_byte(h, 0);  // terminator, so ("ab","c") and ("a","bc") differ
}

std::uint64_t fnv_little_endian(std::uint64_t h, std::uint64_t value, int bytes) noexcept {
  for (int i = 0; i < bytes; ++i) h = fnv_byte(h, static_cast<std::uint8_t>(value >> (8 * i)));
  return h;
}

}  // namespace

std::uint64_t ring_hash(const unique_address& node) noexcept {
  std::uint64_t h = fnv_offset_basis;
  h = fnv_string(h, node.address.system);
  h = fnv_string(h, node.address.host);
  h = fnv_little_endian(h, node.address.port, 2);
  return fnv_little_endian(h, node.uid, 8);
}

heartbeat_ring::heartbeat_ring(unique_address self, std::set<unique_address> nodes,
                               std::set<unique_address> unreachable,
                               std::size_t monitored_by_nr_of_members)
    : self_(std::move(self)),
      nodes_(std::move(nodes)),
      monitored_by_nr_of_members_(monitored_by_nr_of_members) {
  nodes_.insert(self_);
  for (const auto& u : unreachable)
    if (nodes_.count(u) != 0) unreachable_.insert(u);
  std::vector<std::pair<std::uint64_t, unique_address>> keyed;
  keyed.reserve(nodes_.size());
  for (const auto& node : nodes_) keyed.emplace_back(ring_hash(node), node);
  std::sort(keyed.begin(), keyed.end());  // by hash, ties by unique_address
  ring_.reserve(keyed.size());
  for (auto& entry : keyed) ring_.push_back(std::move(entry.second));
  my_receivers_ = receivers(self_);
}

std::set<unique_address> heartbeat_ring::receivers(const unique_address& sender) const {
  if (nodes_.count(sender) == 0) return {};
  return receivers_from_place(sender);
}

std::set<unique_address> heartbeat_ring::receivers_from_place(const unique_address& sender) const {
  std::set<unique_address> picked;
  // 1. The place of `sender` in ring order (ascending hash, ties by unique_address).
  const std::pair<std::uint64_t, const unique_address&> key{ring_hash(sender), sender};
  const auto at = std::lower_bound(ring_.begin(), ring_.end(), key,
                                   [](const unique_address& node, const auto& k) {
                                     const std::uint64_t h = ring_hash(node);
                                     return h != k.first ? h < k.first : node < k.second;
                                   });
  const std::size_t n = ring_.size();
  std::size_t start = static_cast<std::size_t>(at - ring_.begin());
  if (at != ring_.end() && *at == sender) ++start;
  // 2. Walk clockwise over every other node until enough reachable nodes are picked or
  //    the ring is exhausted. An unreachable node is taken along (uncounted) only while
  //    the pick is still smaller than `monitored_by_nr_of_members`.
  std::size_t reachable_wanted = monitored_by_nr_of_members_;
  for (std::size_t step = 0; step < n && reachable_wanted > 0; ++step) {
    const unique_address& next = ring_[(start + step) % n];
    if (next == sender) continue;
    if (unreachable_.count(next) == 0) {
      picked.insert(next);
      --reachable_wanted;
    } else if (picked.size() < monitored_by_nr_of_members_) {
      picked.insert(next);
    }
  }
  return picked;
}

std::set<unique_address> heartbeat_ring::monitors_of(const unique_address& node) const {
  std::set<unique_address> monitors;
  for (const auto& sender : ring_)
    if (sender != node && receivers(sender).count(node) != 0) monitors.insert(sender);
  return monitors;
}

heartbeat_ring heartbeat_ring::with_node(const unique_address& node) const {
  auto nodes = nodes_;
  nodes.insert(node);
  return heartbeat_ring{self_, std::move(nodes), unreachable_, monitored_by_nr_of_members_};
}

heartbeat_ring heartbeat_ring::without_node(const unique_address& node) const {
  auto nodes = nodes_;
  nodes.erase(node);
  auto unreachable = unreachable_;
  unreachable.erase(node);
  return heartbeat_ring{self_, std::move(nodes), std::move(unreachable),
                        monitored_by_nr_of_members_};
}

heartbeat_ring heartbeat_ring::with_unreachable(std::set<unique_address> unreachable) const {
  return heartbeat_ring{self_, nodes_, std::move(unreachable), monitored_by_nr_of_members_};
}

}  // namespace troupe::cluster::model
