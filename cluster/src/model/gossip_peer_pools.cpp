#include "troupe/cluster/model/gossip_peer_pools.hpp"

#include <algorithm>
#include <bit>
#include <utility>

namespace troupe::cluster::model {
namespace {

// Fills the counts and the unseen-valid bits once `members`, `excluded` and `seen` are set.
void finish_pools(gossip_peer_pools& p) {
  const std::size_t n = p.members.size();
  p.member_count = n;
  p.unseen_valid.assign((n + 63) / 64, 0);
  for (std::size_t w = 0; w < p.unseen_valid.size(); ++w) {
    std::uint64_t word = w < p.seen.size() ? ~p.seen[w] : ~std::uint64_t{0};
    if (w == p.unseen_valid.size() - 1 && n % 64 != 0) word &= (std::uint64_t{1} << (n % 64)) - 1;
    p.unseen_valid[w] = word;
  }
  for (const std::uint32_t e : p.excluded) p.unseen_valid[e / 64] &= ~(std::uint64_t{1} << (e % 64));
  p.unseen_count = 0;
  for (const auto w : p.unseen_valid) p.unseen_count += static_cast<std::size_t>(std::popcount(w));
  p.valid_count = n - p.excluded.size();
}

bool test_bit(const std::vector<std::uint64_t>& words, std::size_t i) {
  return i / 64 < words.size() && ((words[i / 64] >> (i % 64)) & 1U) != 0;
}

// Position of the k-th (from 0) set bit.
std::size_t select_bit(const std::vector<std::uint64_t>& words, std::size_t k) {
  for (std::size_t w = 0;; ++w) {
    const auto c = static_cast<std::size_t>(std::popcount(words[w]));
    if (k < c) {
      std::uint64_t word = words[w];
      for (; k > 0; --k) word &= word - 1;
      return w * 64 + static_cast<std::size_t>(std::countr_zero(word));
    }
    k -= c;
  }
}

}  // namespace

gossip_peer_pools make_gossip_peer_pools(const gossip_target_input& input) {
  gossip_peer_pools p;
  std::vector<member_list::member_ptr> items;
  p.seen.assign((input.members.size() + 63) / 64, 0);
  for (std::size_t i = 0; i < input.members.size(); ++i) {
    const auto& m = input.members[i];
    items.push_back(member_list::make(member{m}));
    if (m == input.self || input.excluded.contains(m)) p.excluded.push_back(static_cast<std::uint32_t>(i));
    if (input.seen_by.contains(m)) p.seen[i / 64] |= std::uint64_t{1} << (i % 64);
  }
  p.members = member_list{std::move(items)};
  finish_pools(p);
  return p;
}

gossip_peer_pools make_gossip_peer_pools(const gossip& g, const unique_address& self) {
  gossip_peer_pools p;
  p.members = g.members();
  if (const auto i = g.members().index_of(self)) p.excluded.push_back(static_cast<std::uint32_t>(*i));
  for (const auto& r : g.reachability().records_from(self))
    if (r.status != reachability_status::reachable)
      if (const auto i = g.members().index_of(r.subject)) p.excluded.push_back(static_cast<std::uint32_t>(*i));
  std::sort(p.excluded.begin(), p.excluded.end());
  p.excluded.erase(std::unique(p.excluded.begin(), p.excluded.end()), p.excluded.end());
  p.seen = g.seen_bits();
  finish_pools(p);
  return p;
}

std::optional<gossip_target> select_gossip_target(const gossip_target_settings& settings,
                                                  const gossip_peer_pools& pools, std::mt19937_64& rng) {
  // The steps and draws of select_gossip_target, on precomputed pools.
  if (pools.valid_count == 0) return std::nullopt;
  const double p = adjusted_gossip_different_view_probability(settings, pools.member_count);
  const bool prefer_unseen = uniform_unit(rng) < p;
  const bool use_unseen = prefer_unseen && pools.unseen_count > 0;
  const auto k = static_cast<std::size_t>(uniform_below(rng, use_unseen ? pools.unseen_count : pools.valid_count));
  std::size_t at;
  if (use_unseen) {
    at = select_bit(pools.unseen_valid, k);
  } else {
    at = k;  // the k-th position that is not excluded
    for (const std::uint32_t e : pools.excluded)
      if (e <= at) ++at;
  }
  return gossip_target{pools.members[at].unique_address(), !use_unseen && test_bit(pools.seen, at)};
}

}  // namespace troupe::cluster::model
