// events: what a cluster member tells its subscribers (Akka's `ClusterEvent`).
//
// Every change of a node's view of the membership is published as the difference
// between the view before and after, in this order: member status events in member
// order (joined, weakly up, up, left, exited, downed), removals, unreachable and
// reachable members, then the leader and role leaders that changed. A subscriber first
// gets a `current_cluster_state` snapshot, so snapshot plus events always equal the
// node's view.
//
//   class listener final : public troupe::actor {
//     troupe::behavior make_behavior() override {
//       return {[](const troupe::cluster::current_cluster_state& s) { ... },
//               [](const troupe::cluster::member_up& e) { ... },
//               [](const troupe::cluster::member_removed& e) { ... },
//               [](const troupe::cluster::unreachable_member& e) { ... }};
//     }
//   };
//   troupe::cluster::cluster::get(system).subscribe(listener_ref,
//       troupe::cluster::member_events | troupe::cluster::reachability_events);
//
// `diff_events` is a pure function of two gossips; the daemon and tests share it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster {

using model::member;
using model::member_status;
using model::unique_address;

/// A member was added, status joining (`MemberJoined`).
struct member_joined { model::member member; };
/// A joining member was let in while convergence was blocked (`MemberWeaklyUp`).
struct member_weakly_up { model::member member; };
/// A member is up (`MemberUp`).
struct member_up { model::member member; };
/// A member is leaving (`MemberLeft`).
struct member_left { model::member member; };
/// A leaving member is exiting (`MemberExited`).
struct member_exited { model::member member; };
/// A member was marked down (`MemberDowned`).
struct member_downed { model::member member; };
/// A member is gone; `member.status()` is removed (`MemberRemoved`).
struct member_removed {
  model::member member;
  model::member_status previous_status;  ///< down (failed) or exiting (left gracefully)
};
/// Some member's failure detector finds `member` unreachable (`UnreachableMember`).
struct unreachable_member { model::member member; };
/// Every observer finds `member` reachable again (`ReachableMember`).
struct reachable_member { model::member member; };
/// The leader changed; nullopt while there is none (`LeaderChanged`).
struct leader_changed { std::optional<model::address> leader; };
/// The leader among the members with `role` changed (`RoleLeaderChanged`).
struct role_leader_changed {
  std::string role;
  std::optional<model::address> leader;
};

/// One node's view, sent first to every new subscriber (`CurrentClusterState`).
struct current_cluster_state {
  std::vector<model::member> members;          ///< in address order, removed ones excluded
  std::vector<model::member> unreachable;      ///< members some observer finds unreachable
  std::set<model::address> seen_by;            ///< members that have seen this version
  std::optional<model::address> leader;        ///< the leader, if any
  std::map<std::string, std::optional<model::address>> role_leaders;  ///< per role
  /// The member at `a`, if any.
  const model::member* find(const model::address& a) const;
};

/// The reachability table changed: any observer's record of any member, this node's own
/// included (Akka's `ReachabilityChanged`). The membership events leave out what concerns
/// this node itself and records that do not change who is unreachable; a subscriber whose
/// decision depends on the whole table (the split brain resolver's view of which side this
/// node is on) needs this one too. Only subscribers get it, with `reachability_changed_events`;
/// it is not a `cluster_event`, so listeners do not.
struct reachability_changed { model::reachability reachability; };

/// Any of the events above except the snapshot and `reachability_changed`.
using cluster_event = std::variant<member_joined, member_weakly_up, member_up, member_left, member_exited,
                                   member_downed, member_removed, unreachable_member, reachable_member,
                                   leader_changed, role_leader_changed>;

/// Which events a subscriber wants (a bit set).
enum event_kinds : std::uint32_t {
  member_joined_events = 1U << 0,
  member_weakly_up_events = 1U << 1,
  member_up_events = 1U << 2,
  member_left_events = 1U << 3,
  member_exited_events = 1U << 4,
  member_downed_events = 1U << 5,
  member_removed_events = 1U << 6,
  unreachable_events = 1U << 7,
  reachable_events = 1U << 8,
  leader_events = 1U << 9,
  role_leader_events = 1U << 10,
  /// `reachability_changed`; not part of `all_events`.
  reachability_changed_events = 1U << 11,
  /// Every member status event (Akka's `MemberEvent`).
  member_events = member_joined_events | member_weakly_up_events | member_up_events | member_left_events |
                  member_exited_events | member_downed_events | member_removed_events,
  /// `unreachable_member` and `reachable_member` (Akka's `ReachabilityEvent`).
  reachability_events = unreachable_events | reachable_events,
  all_events = member_events | reachability_events | leader_events | role_leader_events,
};

/// The bit of `e` in `event_kinds`.
std::uint32_t kind_of(const cluster_event& e) noexcept;

/// `self`'s view `g` as a snapshot.
current_cluster_state snapshot_of(const model::gossip& g, const unique_address& self);

/// The events that turn `self`'s view `before` into `after` (see the file comment).
std::vector<cluster_event> diff_events(const model::gossip& before, const model::gossip& after,
                                       const unique_address& self);

/// One line for logs: "member_up troupe://sys@127.0.0.1:2551#42".
std::string to_string(const cluster_event& e);

}  // namespace troupe::cluster
