#include "troupe/cluster/model/gossip_target_selector.hpp"

#include <cassert>
#include <cmath>
#include <utility>

namespace troupe::cluster::model {

std::optional<std::string> validate(const gossip_target_settings& s) {
  if (!(s.gossip_different_view_probability >= 0.0 && s.gossip_different_view_probability <= 1.0))
    return "cluster.gossip-different-view-probability must be in [0, 1], got " +
           std::to_string(s.gossip_different_view_probability);
  if (s.reduce_gossip_different_view_probability == 0)
    return "cluster.reduce-gossip-different-view-probability must be > 0, got 0";
  return std::nullopt;
}

double adjusted_gossip_different_view_probability(const gossip_target_settings& s,
                                                  std::size_t member_count) noexcept {
  const double configured = s.gossip_different_view_probability;
  const std::size_t low = s.reduce_gossip_different_view_probability;
  const std::size_t high = low * 3;
  if (member_count <= low) return configured;
  const double floor = configured / 10.0;
  if (member_count >= high) return floor;
  // Linear from `configured` at `low` members to `floor` at `high` members.
  const double slope = (floor - configured) / static_cast<double>(high - low);
  return configured + static_cast<double>(member_count - low) * slope;
}

bool gossip_speedup_needed(std::size_t seen_count, std::size_t member_count,
                           bool has_down_member) noexcept {
  return has_down_member || seen_count < member_count / 2;
}

std::vector<unique_address> valid_gossip_peers(const gossip_target_input& input) {
  std::vector<unique_address> peers;
  peers.reserve(input.members.size());
  for (const auto& m : input.members)
    if (m != input.self && input.excluded.count(m) == 0) peers.push_back(m);
  return peers;
}

std::optional<gossip_target> select_gossip_target(const gossip_target_settings& settings,
                                                  const gossip_target_input& input,
                                                  std::mt19937_64& rng) {
  const std::vector<unique_address> valid = valid_gossip_peers(input);
  if (valid.empty()) return std::nullopt;

  // 1. Sometimes prefer the valid peers that have not seen the current version. The draw
  //    is made every round, so the engine advances the same way whatever the views are.
  const double p = adjusted_gossip_different_view_probability(settings, input.members.size());
  const bool prefer_unseen = uniform_unit(rng) < p;
  std::vector<unique_address> unseen;
  if (prefer_unseen)
    for (const auto& m : valid)
      if (input.seen_by.count(m) == 0) unseen.push_back(m);

  // 2. Otherwise, or when all have seen it, any valid peer.
  const std::vector<unique_address>& pool = unseen.empty() ? valid : unseen;
  const unique_address& peer = pool[uniform_below(rng, pool.size())];
  return gossip_target{peer, input.seen_by.count(peer) != 0};
}

std::vector<unique_address> random_gossip_peers(const gossip_target_input& input, std::size_t n,
                                                std::mt19937_64& rng) {
  std::vector<unique_address> peers = valid_gossip_peers(input);
  // Partial Fisher-Yates shuffle (Knuth, TAOCP vol. 2, algorithm P): the first `take`
  // positions end up a uniform random sample in random order.
  const std::size_t take = n < peers.size() ? n : peers.size();
  for (std::size_t i = 0; i < take; ++i) {
    const std::size_t j = i + static_cast<std::size_t>(uniform_below(rng, peers.size() - i));
    std::swap(peers[i], peers[j]);
  }
  peers.resize(take);
  return peers;
}

std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound) {
  assert(bound > 0);
  // 2^64 mod bound, computed in 64 bits: (2^64 - bound) mod bound.
  const std::uint64_t reject_below = (0 - bound) % bound;
  for (;;) {
    const std::uint64_t x = rng();
    if (x >= reject_below) return x % bound;
  }
}

double uniform_unit(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace troupe::cluster::model
