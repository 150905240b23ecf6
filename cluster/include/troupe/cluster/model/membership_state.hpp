// membership_state: the latest gossip as seen from one node, and the decisions it implies.
//
// There is no leader election: every node computes the same leader from the same gossip
// (the first reachable up-like member in `leader_status_ordering`). When the gossip has
// converged (every member that must have seen it has, and every unreachable member is
// down or exiting), the leader moves members along: joining -> up, leaving -> exiting,
// down/exiting -> removed. Without convergence it can only let joining members in as
// weakly up (Akka's `MembershipState` and the leader actions of `ClusterCoreDaemon`).
//
//   membership_state s{latest_gossip, self};
//   if (s.is_leader(self)) {
//     leader_actions_result r = s.leader_actions(settings, now);
//     for (const member_change& c : r.changes) publish(c);      // e.g. b: joining -> up
//     latest_gossip = r.gossip;                                // versioned, seen by self
//   }
//   join_result j = s.join(member{new_node, {"backend"}});   // also downs old incarnations
//   receive_result in = s.receive_gossip(peer, remote_gossip);
//   if (in.talk_back) send(peer, in.gossip);
//
// `join`, `leader_actions`, `down`, `leave` and `down_old_incarnation` return the changed
// gossip stamped by `self` (version bumped, seen by `self` only), ready to gossip;
// `receive_gossip` only adds `self`'s seen mark. Single data centre: Akka's
// per-data-centre filters are left out.
//
// Pure value type: links only the standard library.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/reachability.hpp"
#include "troupe/cluster/model/split_brain_resolver.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// Leader rules; the defaults are Akka cluster's.
struct membership_settings {
  /// Joining members stay joining until the cluster has this many members (`min-nr-of-members`).
  std::size_t min_nr_of_members = 1;
  /// The same, per role (`role.<name>.min-nr-of-members`).
  std::map<std::string, std::size_t> min_nr_of_members_per_role;
  /// Let the leader move joining members to weakly up while convergence is blocked
  /// (`allow-weakly-up-members`). Akka waits `weakly-up-after` (7 s) of non-convergence
  /// first: the caller owns that timer and sets this flag when it has expired.
  bool allow_weakly_up = true;
  /// Tombstones older than this are dropped by the leader (`prune-gossip-tombstones-after`).
  std::chrono::nanoseconds prune_tombstones_after = std::chrono::hours{24};
};

/// One status change made by the leader; `to == removed` for a removal.
struct member_change {
  unique_address node;      ///< whose status changed
  member_status from;       ///< before
  member_status to;         ///< after
  /// Every field equal.
  friend bool operator==(const member_change&, const member_change&) = default;
};

/// What `leader_actions` did.
struct leader_actions_result {
  model::gossip gossip;               ///< the new gossip (unchanged if `changes` is empty and no tombstone was pruned)
  std::vector<member_change> changes;  ///< in member order: moves first, then removals
  bool converged = false;              ///< whether the gossip had converged
};

/// What `join` did with a join request.
enum class join_outcome : std::uint8_t {
  added,                    ///< the node is now a joining member
  already_member,           ///< the same incarnation asked again (lost welcome): no change
  old_incarnation_downed,   ///< an older incarnation at that address was marked down; the
                            ///< new one must retry after the leader has removed it
  old_incarnation_pending,  ///< an older incarnation is already down; retry later
  ignored,                  ///< self is down or exiting and takes no new members
};

/// "added", "already_member", ...
std::string_view to_string(join_outcome o) noexcept;

/// Result of `join`.
struct join_result {
  join_outcome outcome;  ///< what happened
  model::gossip gossip;  ///< the new gossip (unchanged unless added or old incarnation downed)
};

/// What `receive_gossip` did with a gossip from a peer (Akka's `ReceiveGossipType`).
enum class gossip_receipt : std::uint8_t {
  ignored,  ///< from a non-member, from a node self finds unreachable, or without self
  older,    ///< the remote gossip was older: kept the local one
  newer,    ///< the remote gossip was newer: took it
  same,     ///< same version: united the seen sets
  merged,   ///< concurrent: merged them
};

/// "ignored", "older", ...
std::string_view to_string(gossip_receipt r) noexcept;

/// Result of `receive_gossip`.
struct receive_result {
  gossip_receipt receipt;  ///< what happened
  model::gossip gossip;    ///< the new local gossip (unchanged when ignored)
  bool talk_back = false;  ///< reply with the new local gossip: the sender's view differs
};

/// The split brain resolver's input for `self`'s view `g`: every member with its status,
/// roles, age and reachability (observations of downed members left out), the
/// unreachability records, the seen set, and the two clocks the caller keeps.
sbr_snapshot sbr_snapshot_of(const model::gossip& g, const unique_address& self, std::chrono::nanoseconds stable_for,
                             std::chrono::nanoseconds unstable_for);

/// True when `self` is on the losing side of a partition in its view `g`: some member is
/// unreachable and the split brain resolver `s` (valid settings), deciding now as if the
/// view had been stable for `stable_after` (and not unstable), would down `self`, whether
/// by its strategy, by down-all, or as or alongside indirectly connected members. A node
/// for which this holds stops its singletons (and shard entities) at once, long before the
/// winning side downs and removes it, so that the winners may start them right after the
/// removal (troupe's replacement for Akka's down-removal-margin).
bool on_losing_side(const model::gossip& g, const unique_address& self, const sbr_settings& s);

/// Whether `self` stays fenced (its singletons and shard entities stopped) in its view `g`,
/// given `was_fenced` before it: fenced as soon as it is on the losing side, and lifted
/// only once nobody is unreachable in its view. While a partition heals, the records clear
/// one by one, and on some of them the resolver decides for this node's side (say a node cut
/// off alone sees one peer again while the other's record stays): lifting the fence there
/// restarts entities while members that hold their state are still cut off.
bool fenced_after(bool was_fenced, const model::gossip& g, const unique_address& self, const sbr_settings& s);

/// The latest gossip as seen by `self`.
class membership_state {
 public:
  /// `self`'s view of `latest`.
  membership_state(model::gossip latest, unique_address self);

  /// The gossip this view is of.
  const model::gossip& latest_gossip() const noexcept { return latest_; }
  /// The viewing node.
  const unique_address& self() const noexcept { return self_; }
  /// `self` as a member (a removed placeholder if it is not one).
  model::member self_member() const { return latest_.member(self_); }
  /// This view with the gossip marked as seen by `self`.
  [[nodiscard]] membership_state seen() const;

  /// True when the leader may act: every member that is up, leaving or shutting down (or,
  /// while none is, every joining and weakly up one) has seen this version or is in
  /// `exiting_confirmed`; and every member some non-down observer finds unreachable,
  /// except `self` and `exiting_confirmed`, is down or exiting.
  bool convergence(const std::set<unique_address>& exiting_confirmed = {}) const;

  /// The leader: among members not down and reachable (or `self`), the first that is up,
  /// leaving or shutting down in address order, else the first in
  /// `leader_status_ordering`; nullopt if there is none.
  std::optional<unique_address> leader() const;
  /// True if `node` is the leader.
  bool is_leader(const unique_address& node) const { return leader() == node; }
  /// The leader among the members with `role`.
  std::optional<unique_address> role_leader(const std::string& role) const;
  /// The leader among `candidates` (members of the latest gossip), by the rule of `leader`.
  std::optional<unique_address> leader_of(const std::vector<model::member>& candidates) const;

  /// The oldest member (lowest up number) that is up, leaving or shutting down, optionally
  /// with `role`: where a cluster singleton runs. Reachability does not matter.
  std::optional<model::member> oldest(const std::optional<std::string>& role = std::nullopt) const;
  /// The member with the highest up number (joining ones count as 0); nullopt if none.
  std::optional<model::member> youngest() const;

  /// Members other than `self` that some observer finds unreachable or terminated.
  std::vector<model::member> unreachable_members() const;
  /// True if `node` is a member, not down, and no observer finds it unreachable.
  bool is_available(const unique_address& node) const;
  /// True if `self` may gossip to `node`: not itself, and `self`'s detector finds it reachable.
  bool valid_node_for_gossip(const unique_address& node) const;
  /// True if `node` is a member and no non-down observer finds it unreachable.
  bool is_reachable_excluding_downed_observers(const unique_address& node) const;
  /// True if the member count, and the count per role, reach the settings' minimums.
  bool is_min_nr_of_members_fulfilled(const membership_settings& settings) const;

  /// The leader's periodic duties, run by the caller when `is_leader(self())`:
  /// with convergence, joining/weakly up -> up (numbered after the youngest) once the
  /// minimums are met, leaving -> exiting, preparing -> ready for shutdown, unreachable
  /// (or confirmed) down/exiting members other than `self` removed at `now`, tombstones
  /// older than `now - prune_tombstones_after` dropped; without
  /// convergence, joining -> weakly up for reachable members if allowed. Returns the
  /// gossip unchanged when `self` is not the leader.
  leader_actions_result leader_actions(const membership_settings& settings,
                                       std::chrono::nanoseconds now,
                                       const std::set<unique_address>& exiting_confirmed = {}) const;

  /// Takes in a gossip `from` a peer: ignores it if `from` is no member, `self`'s detector
  /// finds `from` unreachable, or `self` is not in it; otherwise keeps the newer one, or
  /// merges concurrent ones, and marks the result seen by `self` (unless
  /// `exiting_in_progress`: an exiting node delays its removal until its hand-over is done).
  receive_result receive_gossip(const unique_address& from, const model::gossip& remote,
                                bool exiting_in_progress = false) const;

  /// Handles a join request from `joining` (a `member` in status joining, with its roles
  /// and version). Adds it (and `self`, when `self` joins itself to start a cluster), or
  /// downs an older incarnation at the same address (see `down_old_incarnation`).
  join_result join(const model::member& joining) const;

  /// If a member other than `new_node` listens at `new_node`'s address and is not down yet:
  /// the gossip with it terminated (observed by `self`) and down. nullopt otherwise.
  std::optional<model::gossip> down_old_incarnation(const unique_address& new_node) const;

  /// The member at `where` marked down; nullopt if there is none or it is already down.
  std::optional<model::gossip> down(const model::address& where) const;
  /// The member at `where` marked leaving; nullopt unless it is joining, weakly up, up or
  /// shutting down.
  std::optional<model::gossip> leave(const model::address& where) const;

 private:
  model::gossip stamped(model::gossip g) const;
  std::optional<unique_address> leader_among(std::vector<const model::member*> sorted) const;

  model::gossip latest_;
  unique_address self_;
};

}  // namespace troupe::cluster::model
