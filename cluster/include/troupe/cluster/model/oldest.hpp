// oldest: where a cluster singleton lives (Akka's ClusterSingletonManager rule).
//
// The singleton of a role runs on the oldest member having that role: the lowest up
// number (`age_ordering`, ties by unique address). A member keeps that place while it is
// up, leaving, preparing for or ready for shutdown, and also while it is down: after a
// crash the next oldest may start the singleton only once the crashed member has been
// removed, never before. An exiting member has handed its singleton over (or is doing
// so), so it is no candidate; nor are joining, weakly up and removed members, nor a down
// member that was never up (it never held the singleton).
//
//   gossip g{{up_a /*up number 1*/, up_b /*2*/}};
//   assert(oldest_member(g, "")->unique_address() == a);
//   g = g.mark_as_down(a);                      // crashed: still the place holder
//   assert(oldest_member(g, "")->unique_address() == a);
//   g = g.remove(a, now);                       // removed: b's turn
//   assert(oldest_member(g, "")->unique_address() == b);
//
// This differs from `membership_state::oldest`, which leaves down members out (it answers
// "who is the oldest live member", not "who may hold the singleton").
//
// Pure: links only the standard library.
#pragma once

#include <optional>
#include <string>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/member_status.hpp"

namespace troupe::cluster::model {

/// True for the statuses that hold a singleton's place: up, leaving, preparing for
/// shutdown, ready for shutdown and down.
bool holds_singleton_place(member_status s) noexcept;

/// The oldest member of `g` with `role` (every member when `role` is empty) whose status
/// holds the singleton's place (`holds_singleton_place`; a down member only if it had been
/// up); nullopt when there is none.
std::optional<member> oldest_member(const gossip& g, const std::string& role);

}  // namespace troupe::cluster::model
