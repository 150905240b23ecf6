// member_status: where a node is in its cluster life, and which moves between states exist.
//
// A node joins as `joining`, is moved to `up` by the leader (or to `weakly_up` while the
// cluster cannot converge), later `leaving` -> `exiting` -> `removed`; any live state may go
// to `down`, and `down` only to `removed`. A full-cluster shutdown moves `up` members
// through `preparing_for_shutdown` -> `ready_for_shutdown`. The moves are one table,
// checked here and nowhere else (`member::copy_with_status` consults it):
//
//   assert(is_allowed_transition(member_status::joining, member_status::up));
//   assert(!is_allowed_transition(member_status::removed, member_status::joining));
//   assert(to_string(member_status::weakly_up) == "weakly_up");
//
// Pure value type: links only the standard library.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace troupe::cluster::model {

/// Membership state of one node incarnation (Akka's `MemberStatus`).
enum class member_status : std::uint8_t {
  joining,                 ///< asked to join; waits for the leader to move it up
  weakly_up,               ///< joined while the cluster could not converge; usable, not counted
  up,                      ///< full member
  leaving,                 ///< asked to leave; the leader will move it to exiting
  exiting,                 ///< hands over its work; the leader removes it after convergence
  down,                    ///< declared dead (by a person or a downing strategy)
  removed,                 ///< gone; its address may join again only with a new uid
  preparing_for_shutdown,  ///< the whole cluster is shutting down; stop taking new work
  ready_for_shutdown,      ///< every member has seen the shutdown; safe to stop
};

/// Number of `member_status` values.
inline constexpr std::size_t member_status_count = 9;

/// Every status, in declaration order (handy for exhaustive tests and loops).
inline constexpr std::array<member_status, member_status_count> all_member_statuses{
    member_status::joining,  member_status::weakly_up, member_status::up,
    member_status::leaving,  member_status::exiting,   member_status::down,
    member_status::removed,  member_status::preparing_for_shutdown,
    member_status::ready_for_shutdown};

/// True when `from -> to` is a move of the membership state machine. A status to itself is
/// not a move (false); `member::copy_with_status` treats it as a no-op instead.
bool is_allowed_transition(member_status from, member_status to) noexcept;

/// Lower-case name, e.g. "weakly_up".
std::string_view to_string(member_status s) noexcept;

/// Inverse of `to_string`; nullopt for an unknown name.
std::optional<member_status> parse_member_status(std::string_view name) noexcept;

}  // namespace troupe::cluster::model
