// gossip_target_selector: which peer gets this round's gossip (Akka's
// `GossipTargetSelector` and the gossip tick of `ClusterCoreDaemon`).
//
// 1. With probability `adjusted_gossip_different_view_probability(...)` (0.8 up to 400
//    members, falling linearly to 0.08 at 1200) the peer is drawn among the valid members
//    that have NOT seen the current gossip version, so news reaches them first.
// 2. Otherwise, or when every valid member has seen it, among all valid members.
// A valid member is neither self nor excluded (unreachable, or in another data centre).
// A peer that has seen the version only needs a status (digest), not the full gossip.
//
// While some member is down, or fewer than half of the members have seen the current
// version, the daemon gossips `gossip_speedup_factor` (3) times per interval: at 0, 1/3 and
// 2/3 of it, each extra round only if the speedup is still needed then (Akka's
// `isGossipSpeedupNeeded` and `GossipSpeedupTick`). A down member holds the leader's removal
// until every reachable member has seen the downing, so that convergence is hurried too.
//
// The random engine is an argument and every draw is made from its raw output with the
// helpers below (not std::uniform_*_distribution, whose algorithm varies between standard
// libraries), so one seed gives the same peers on every platform.
//
//   std::mt19937_64 rng{seed};
//   gossip_target_input in{self, members, seen_by, unreachable};
//   if (auto t = select_gossip_target({}, in, rng))
//     t->peer_has_seen ? send_status(t->peer) : send_gossip(t->peer);
//   if (gossip_speedup_needed(seen_by.size(), members.size(), any_down)) { /* tick 3x */ }
//
// Pure functions: no clock, no randomness of their own; link only the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// Gossip tuning; the defaults are Akka cluster's.
struct gossip_target_settings {
  /// `gossip-different-view-probability`: chance of preferring a peer with an older view; in [0, 1].
  double gossip_different_view_probability = 0.8;
  /// `reduce-gossip-different-view-probability`: member count above which that chance is
  /// reduced linearly, down to a tenth of it at three times this count; > 0.
  std::size_t reduce_gossip_different_view_probability = 400;
};

/// How many gossip rounds per gossip interval while a speedup is needed (Akka: 3).
inline constexpr int gossip_speedup_factor = 3;

/// What the selector chooses from: one node's view of the current gossip.
struct gossip_target_input {
  unique_address self;                ///< the gossiping node; never chosen
  std::vector<unique_address> members;  ///< candidate peers (all members of self's data centre)
  std::set<unique_address> seen_by;   ///< members that have seen the current version
  std::set<unique_address> excluded;  ///< never chosen: unreachable, other data centre, ...
};

/// A chosen peer.
struct gossip_target {
  unique_address peer;         ///< who to gossip with
  bool peer_has_seen = false;  ///< true: send a status (version digest) instead of the full gossip

  friend bool operator==(const gossip_target&, const gossip_target&) = default;
};

/// Why `settings` is invalid, naming the field and its allowed range; nullopt when valid.
std::optional<std::string> validate(const gossip_target_settings& settings);

/// The chance of preferring a peer that has not seen the current version, for a cluster
/// of `member_count` members: the configured one up to `reduce_...` members, then falling
/// linearly to a tenth of it at three times that many members, and flat after.
double adjusted_gossip_different_view_probability(const gossip_target_settings& settings,
                                                  std::size_t member_count) noexcept;

/// True when some member is down (`has_down_member`: it waits for convergence to be
/// removed) or fewer than half (rounded down) of `member_count` members have seen the
/// current version: the daemon should then gossip `gossip_speedup_factor` times per interval.
bool gossip_speedup_needed(std::size_t seen_count, std::size_t member_count,
                           bool has_down_member) noexcept;

/// The valid peers: members that are neither self nor excluded, in input order.
std::vector<unique_address> valid_gossip_peers(const gossip_target_input& input);

/// The peer for one gossip round, or nullopt when there is no valid peer.
std::optional<gossip_target> select_gossip_target(const gossip_target_settings& settings,
                                                  const gossip_target_input& input,
                                                  std::mt19937_64& rng);

/// Up to `n` distinct valid peers in random order, for sending the full gossip to several
/// nodes at once (e.g. when leaving or downing, Akka's `gossipRandomN`).
std::vector<unique_address> random_gossip_peers(const gossip_target_input& input, std::size_t n,
                                                std::mt19937_64& rng);

/// A uniform integer in [0, bound) from `rng`'s raw output: draws below 2^64 mod `bound`
/// are rejected so the remainder is unbiased (as OpenBSD's arc4random_uniform); `bound` > 0.
std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound);

/// A uniform double in [0, 1) from the top 53 bits of one draw of `rng`.
double uniform_unit(std::mt19937_64& rng);

}  // namespace troupe::cluster::model
