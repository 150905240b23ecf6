// split_brain_resolver: which members to down when some are unreachable (Akka's
// `SplitBrainResolver` and `DowningStrategy`).
//
// Strategies, each counting only members with `settings.role` when it is set:
// - keep-majority: keep the side with more members; on a tie, the side holding the lowest
//   unique_address. Members that may be changing status on the other side (joining, which
//   may be up there; leaving, which may be exiting) are counted pessimistically too, and if
//   that flips the outcome everything is downed.
// - static-quorum: keep the side with at least `quorum_size` members; down everything when
//   the cluster has more than 2 * quorum_size - 1 members (both sides could reach quorum).
// - keep-oldest: keep the side with the oldest member (lowest up_number); with
//   `down_if_alone`, an oldest member cut off alone from two or more others downs itself.
// - down-all: down every member.
// Indirectly connected members (an unreachability cycle: a node both observes and is
// observed unreachable; or a node marked unreachable that has seen the current gossip, so
// it still talks through a third node) are downed, together with what the strategy decides
// for the rest once the records between them are set aside.
//
// Timing is input, not a clock read: a decision is made only once membership and
// reachability have been unchanged for `stable_after`; when they keep changing for more
// than `stable_after + down_all_when_unstable`, every member is downed.
//
// Caller's duties (the daemon, Akka's `SplitBrainResolver` actor):
// - Convert its membership view into an `sbr_snapshot`: members of its own data centre,
//   removed ones left out; optionally the unreachability records and the seen set.
// - Act on a `decided` outcome only on the leader (the first reachable up/leaving member);
//   other nodes wait. A `down_all_unstable` outcome is acted on by every node (as in Akka,
//   where that check runs on all nodes so an unstable cluster shuts down quickly).
// - Call again after each tick (Akka ticks every second) and after each change.
//
//   sbr_settings s;                                   // keep-majority, stable-after 20 s
//   sbr_snapshot snap{self, members, {}, {}, stable_for, unstable_for};
//   sbr_decision d = resolve_split_brain(s, snap);
//   if (d.outcome == sbr_outcome::decided && i_am_leader)
//     for (const auto& node : d.to_down) down(node);  // may include self
//
// Pure functions: no clock, no I/O; link only the standard library.
#pragma once

#include <chrono>
#include <climits>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// The member statuses the resolver distinguishes (a copy of the membership ones it needs).
enum class sbr_member_status { joining, weakly_up, up, leaving, exiting, down };

/// One member as the resolver sees it; the daemon converts its membership view into these.
struct sbr_member {
  unique_address node;                          ///< the member
  sbr_member_status status = sbr_member_status::up;  ///< its membership status
  std::set<std::string> roles;                  ///< its roles
  int up_number = INT_MAX;  ///< age: lower is older; INT_MAX while never up (Akka's convention)
  bool reachable = true;    ///< false when some observer marks it unreachable or terminated
};

/// An unreachability record of the reachability table: `observer` finds `subject`
/// unreachable (or terminated).
struct sbr_unreachable_record {
  unique_address observer;  ///< the node whose failure detector fired
  unique_address subject;   ///< the node it can no longer reach
};

/// Everything one decision is based on: one node's view, at one moment.
struct sbr_snapshot {
  unique_address self;               ///< the deciding node
  std::vector<sbr_member> members;   ///< members of self's data centre, removed ones left out
  /// Unreachable/terminated records between members; optional. When given, give them all:
  /// they detect indirectly connected members and, for those, re-derive reachability.
  std::vector<sbr_unreachable_record> unreachable_records;
  /// Members that have seen the current gossip version; optional, for indirect connection.
  std::set<unique_address> seen_by;
  /// Time since membership or reachability last changed.
  std::chrono::nanoseconds stable_for{0};
  /// Time since the first reachability change of the current unstable period; 0 when the
  /// cluster is stable. The caller resets it once every unreachable member is healed or downed.
  std::chrono::nanoseconds unstable_for{0};
};

/// The downing strategy (Akka's `active-strategy`).
enum class sbr_strategy { keep_majority, static_quorum, keep_oldest, down_all };

/// Split brain resolver settings; the defaults are Akka's.
struct sbr_settings {
  /// The active strategy.
  sbr_strategy strategy = sbr_strategy::keep_majority;
  /// How long membership and reachability must be unchanged before deciding; >= 0.
  std::chrono::nanoseconds stable_after = std::chrono::seconds{20};
  /// Down all when unstable for longer than `stable_after` plus this. nullopt is Akka's
  /// "on": max(4 s, 3/4 of stable_after); 0 is "off"; otherwise > 0.
  std::optional<std::chrono::nanoseconds> down_all_when_unstable;
  /// Count only members with this role; empty for all members. Not used by down-all.
  std::string role;
  /// static-quorum: the minimum number of members (with `role`) a side needs; >= 1.
  std::size_t quorum_size = 0;
  /// keep-oldest: down the oldest when it is alone and two or more others are not.
  bool down_if_alone = true;
};

/// Why `settings` is invalid, naming the field and its allowed range; nullopt when valid.
std::optional<std::string> validate(const sbr_settings& settings);

/// The effective `down_all_when_unstable`: 0 when off.
std::chrono::nanoseconds effective_down_all_when_unstable(const sbr_settings& settings) noexcept;

/// What a strategy decided (Akka's `DowningStrategy.Decision`).
enum class sbr_action {
  down_unreachable,           ///< keep this side, down the unreachable members
  down_reachable,             ///< down this side, self included
  down_all,                   ///< down every member
  down_indirectly_connected,  ///< down the indirectly connected, and decide for the rest
};

/// Whether a decision was made and why.
enum class sbr_outcome {
  no_unreachable,         ///< nothing to do: every member not down or exiting is reachable
  waiting_for_stability,  ///< unreachable members, but `stable_for < stable_after`
  decided,                ///< the strategy decided; only the leader acts on it
  down_all_unstable,      ///< unstable for too long: every node downs every member
};

/// The result of `resolve_split_brain`.
struct sbr_decision {
  sbr_outcome outcome = sbr_outcome::no_unreachable;  ///< whether to act
  sbr_strategy strategy = sbr_strategy::keep_majority;  ///< the strategy that was consulted
  std::optional<sbr_action> action;  ///< the strategy's decision; set unless nothing was decided
  std::set<unique_address> to_down;  ///< members to down now (may include self); empty unless acting
  std::string reason;                ///< one line for the log, e.g. "keep-majority: 3 vs 2 ..."
};

/// The decision for `snapshot` under `settings` (which must be valid).
sbr_decision resolve_split_brain(const sbr_settings& settings, const sbr_snapshot& snapshot);

/// The strategy's decision ignoring timing, with a reason; for tests and diagnostics.
std::pair<sbr_action, std::string> strategy_decision(const sbr_settings& settings,
                                                     const sbr_snapshot& snapshot);

/// The members `action` downs in `snapshot` (never ones already down or exiting).
std::set<unique_address> nodes_to_down(const sbr_settings& settings, const sbr_snapshot& snapshot,
                                       sbr_action action);

/// The indirectly connected members of `snapshot` (empty without records).
std::set<unique_address> indirectly_connected(const sbr_snapshot& snapshot);

/// "keep-majority", "static-quorum", "keep-oldest" or "down-all".
std::string_view to_string(sbr_strategy strategy) noexcept;

/// "down-unreachable", "down-reachable", "down-all" or "down-indirectly-connected".
std::string_view to_string(sbr_action action) noexcept;

}  // namespace troupe::cluster::model
