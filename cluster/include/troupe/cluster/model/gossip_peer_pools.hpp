// gossip_peer_pools: the candidates of `select_gossip_target` for one view, computed once.
//
// `select_gossip_target` takes a `gossip_target_input` whose seen set and member list cost
// O(members log members) to build. A node that gossips several times per view (every
// tick, and three times per interval while the speedup is on) builds the pools once per
// view instead, in O(members / 64 + excluded) space and time, and each choice then costs
// O(members / 64): the same draws from the random engine and the same peer as the model's
// function on the same input (test/cluster/model/gossip_peer_pools_test.cpp). This is
// what lets ten thousand simulated nodes, or one daemon in a large cluster, gossip cheaply.
//
//   const auto pools = model::make_gossip_peer_pools(view, self);   // once per view
//   if (auto t = model::select_gossip_target(settings, pools, rng)) send_to(t->peer);
//
// Pure value type: links only the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/gossip_target_selector.hpp"

namespace troupe::cluster::model {

/// The candidates of `select_gossip_target` for one view. Positions are those of `members`.
struct gossip_peer_pools {
  member_list members;                      ///< the candidates, in the selector's input order
  std::size_t member_count = 0;             ///< members (self included)
  std::vector<std::uint32_t> excluded;      ///< positions never chosen (self, excluded), sorted
  std::vector<std::uint64_t> seen;          ///< bit per position: has seen the version
  std::vector<std::uint64_t> unseen_valid;  ///< bit per position: valid and has not seen it
  std::size_t valid_count = 0;              ///< `valid_gossip_peers(input).size()`
  std::size_t unseen_count = 0;             ///< bits set in `unseen_valid`
};

/// The pools of `input` (members in the input's order).
gossip_peer_pools make_gossip_peer_pools(const gossip_target_input& input);
/// The pools of `self`'s view `g`: `make_gossip_peer_pools` of the input a node makes (all
/// members, excluding those self finds unreachable), without copying the seen set.
gossip_peer_pools make_gossip_peer_pools(const gossip& g, const unique_address& self);

/// Exactly `select_gossip_target(settings, input, rng)` for the `input` the pools were
/// made from: the same draws from `rng`, the same peer.
std::optional<gossip_target> select_gossip_target(const gossip_target_settings& settings,
                                                  const gossip_peer_pools& pools, std::mt19937_64& rng);

}  // namespace troupe::cluster::model
