// member: one node incarnation as the cluster sees it (identity, status, roles, age).
//
// A `member` is a value. Its status changes only through `copy_with_status` / `copy_up`,
// which consult the transition table of member_status.hpp and return nullopt for a move
// the table forbids: a gossip from the network or a user command may ask for an
// impossible move, so that is a recoverable outcome, not an assertion.
//
//   member m{unique_address{{"shop", "10.0.0.1", 2551}, 17}, {"backend"}};  // joining
//   member up = *m.copy_up(1);                 // the leader's "joining -> up", age 1
//   assert(!up.copy_with_status(member_status::joining));   // no way back
//   assert(up.is_older_than(*member{other_node}.copy_up(2)));
//
// Orderings (Akka's `Member.ordering`, `leaderStatusOrdering`, `ageOrdering`):
// `member_ordering` sorts by unique address (host, port, then uid within one actor
// system); `leader_status_ordering` puts up-like members first and joining, exiting, down
// last; `age_ordering` puts the oldest (lowest up number) first.
//
// Pure value type: links only the standard library.
#pragma once

#include <compare>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>

#include "troupe/cluster/model/member_status.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// Application version a node runs, e.g. "1.4.2" or "2.0.0-RC1"; compared like semver.
///
/// Dot-separated numeric segments compare as numbers (missing ones count as 0), a
/// pre-release suffix after '-' sorts before the plain release, and the text itself breaks
/// any remaining tie, so `<=>` agrees with `==` (equal text). Empty means "unknown" and is
/// the lowest version.
class app_version {
 public:
  /// The unknown version (empty text).
  app_version() = default;
  /// A version from its text; any text is accepted, non-numeric segments sort by text.
  explicit app_version(std::string text) : text_(std::move(text)) {}

  /// The text given at construction.
  const std::string& text() const noexcept { return text_; }

  /// Semver-like order, described on the class.
  friend std::strong_ordering operator<=>(const app_version& a, const app_version& b);
  /// Equal text.
  friend bool operator==(const app_version& a, const app_version& b) = default;

 private:
  std::string text_;
};

/// One incarnation of a cluster node with its membership status, roles and age.
class member {
 public:
  /// Up number of a member that was never moved up (joining, weakly up): the youngest.
  static constexpr std::int32_t no_up_number = std::numeric_limits<std::int32_t>::max();

  /// A new `joining` member, as created when `node` asks to join.
  explicit member(model::unique_address node, std::set<std::string> roles = {},
                  model::app_version version = {});

  /// A member exactly as given, for decoders and tests; no transition is checked.
  static member restore(model::unique_address node, member_status status,
                        std::set<std::string> roles, model::app_version version,
                        std::int32_t up_number);

  /// Stand-in for a node no longer in the member set: status `removed`, no roles.
  static member removed_placeholder(model::unique_address node);

  /// Identity of the member: address plus incarnation uid.
  const model::unique_address& unique_address() const noexcept { return node_; }
  /// Where the member listens.
  const model::address& address() const noexcept { return node_.address; }
  /// Current membership status.
  member_status status() const noexcept { return status_; }
  /// Roles, sorted.
  const std::set<std::string>& roles() const noexcept { return roles_; }
  /// True if the member has `role`.
  bool has_role(const std::string& role) const { return roles_.contains(role); }
  /// Application version the node runs.
  const model::app_version& app_version() const noexcept { return version_; }
  /// Age rank given by the leader when moving the member up; lower is older.
  std::int32_t up_number() const noexcept { return up_number_; }

  /// True if this member has been up longer than `other`: lower up number, ties broken by
  /// unique address order. Meaningful only between members of the current cluster.
  bool is_older_than(const member& other) const noexcept;

  /// This member with status `to`, or nullopt if the transition table forbids
  /// `status() -> to`. The same status returns an unchanged copy.
  std::optional<member> copy_with_status(member_status to) const;

  /// This member moved `up` with age `up_number`, or nullopt if it may not become up.
  /// A member already up gets the new up number.
  std::optional<member> copy_up(std::int32_t up_number) const;

  /// Lexicographic over (unique address, status, roles, version, up number); the first
  /// key makes it agree with `member_ordering` whenever unique addresses differ.
  friend std::strong_ordering operator<=>(const member& a, const member& b) = default;
  /// Every field equal (identity alone is `unique_address()`).
  friend bool operator==(const member& a, const member& b) = default;

 private:
  member(model::unique_address node, member_status status, std::set<std::string> roles,
         model::app_version version, std::int32_t up_number);

  model::unique_address node_;
  member_status status_ = member_status::joining;
  std::set<std::string> roles_;
  model::app_version version_;
  std::int32_t up_number_ = no_up_number;
};

/// Canonical member order: by unique address (host, port, uid within one actor system).
struct member_ordering {
  /// `a` sorts before `b`.
  bool operator()(const member& a, const member& b) const noexcept {
    return a.unique_address() < b.unique_address();
  }
};

/// Leader candidate order (Akka's `leaderStatusOrdering`): up, leaving and the shutdown
/// states first, then weakly up, joining, exiting, down (and removed); equal groups by
/// unique address.
struct leader_status_ordering {
  /// `a` is a better leader candidate than `b`.
  bool operator()(const member& a, const member& b) const noexcept;
};

/// Age order: oldest first (`is_older_than`).
struct age_ordering {
  /// `a` is older than `b`.
  bool operator()(const member& a, const member& b) const noexcept { return a.is_older_than(b); }
};

/// Precedence of a status when two gossips disagree about one member: the status further
/// along the life cycle wins. joining < weakly_up < up < preparing_for_shutdown < leaving
/// < exiting < down < ready_for_shutdown < removed (as Akka's `highestPriorityOf`).
int merge_precedence(member_status s) noexcept;

/// The version of one member to keep when two gossips disagree: the higher
/// `merge_precedence`; on a tie the older (lower up number); on a full tie the lesser by
/// `<=>`, so the choice does not depend on argument order. `a` and `b` should share a
/// unique address.
const member& highest_priority_of(const member& a, const member& b);

/// "member(troupe://sys@host:port#uid, up, up_number=3, roles=[a,b], version=1.0)".
std::string to_string(const member& m);

}  // namespace troupe::cluster::model
