// bootstrap: when a node that discovers its seeds joins, and through which seeds (Akka
// Cluster Bootstrap's rule, with troupe's seed process doing the contact-point probing).
//
// The discovery component looks the contact points up every `interval` (DNS, a table) and
// feeds each result to the model with the time. Once the discovered set has at least
// `required_contact_points` addresses and has not changed for `stable_margin`, the model
// says join, with the set sorted by address as the seed list: every node that sees the
// same set computes the same list, so they agree on the first seed (the lowest address).
// The seed process (seed_process.hpp) then does the rest: the first seed forms a cluster
// only when every other seed answers that it is not a member; any other node, and the
// first seed too when someone acks, joins the cluster that exists.
//
// - This node's own address counts when the lookup returns it (it usually does: a
//   headless service lists every ready pod).
// - A changed set (an address added or gone) restarts the stability timer.
// - A failed lookup neither changes the set nor restarts the timer, and never triggers a
//   join on its own: a transient DNS error says nothing about the contact points, so
//   resetting would let a flapping server postpone the join forever, while joining on a
//   failure would act on a set nobody has confirmed since. The next successful lookup at
//   or after the margin decides.
// - After a join the model answers `joined` and the caller stops looking.
//
//   model::bootstrap b{{.required_contact_points = 3, .stable_margin = 5s}};
//   auto d = b.on_lookup(found, now);          // or b.on_lookup_failed(now)
//   if (d.step == model::bootstrap_step::join) cluster.join_seed_nodes(d.seeds);
//
// Pure: links only the standard library; the time is an argument.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// The rule's parameters; the defaults are Akka Cluster Bootstrap's.
struct bootstrap_settings {
  std::size_t required_contact_points = 2;                         ///< at least this many addresses
  std::chrono::nanoseconds stable_margin = std::chrono::seconds{5};  ///< unchanged for this long
};

/// What the caller does after a lookup.
enum class bootstrap_step : std::uint8_t {
  keep_looking,  ///< look again after the interval
  join,          ///< `join_seed_nodes(seeds)`, once; then stop looking
  joined,        ///< a join was decided earlier: stop looking
};

/// Why.
enum class bootstrap_reason : std::uint8_t {
  lookup_failed,   ///< the lookup failed; the set and its timer are kept
  too_few,         ///< fewer contact points than required
  settling,        ///< enough, but not yet unchanged for the stable margin
  stable,          ///< enough and stable: join
  already_joined,  ///< a join was decided earlier
};

/// "lookup failed", "too few contact points", ...
std::string_view to_string(bootstrap_reason r) noexcept;

/// A step, its reason, and for `join` the seeds sorted by address (the first is the first seed).
struct bootstrap_decision {
  bootstrap_step step = bootstrap_step::keep_looking;
  bootstrap_reason reason = bootstrap_reason::too_few;
  std::vector<address> seeds;
  bool changed = false;  ///< this lookup changed the set (the caller may log it)
};

/// One node's bootstrap, from its first lookup to its join.
class bootstrap {
 public:
  bootstrap() = default;
  explicit bootstrap(bootstrap_settings s) : settings_(s) {}

  /// A successful lookup at `now` that found `contact_points` (any order, duplicates ignored).
  bootstrap_decision on_lookup(const std::vector<address>& contact_points, std::chrono::nanoseconds now);
  /// A failed lookup at `now`: keeps the set and its timer (see the file comment).
  bootstrap_decision on_lookup_failed(std::chrono::nanoseconds now);

  /// The contact points of the last successful lookup, sorted.
  const std::set<address>& contact_points() const noexcept { return contact_points_; }
  /// When the set last changed; nullopt before the first successful lookup.
  std::optional<std::chrono::nanoseconds> stable_since() const noexcept { return stable_since_; }
  /// True once a join was decided.
  bool joined() const noexcept { return joined_; }
  const bootstrap_settings& settings() const noexcept { return settings_; }

 private:
  bootstrap_decision decide(std::chrono::nanoseconds now, bool changed);

  bootstrap_settings settings_;
  std::set<address> contact_points_;
  std::optional<std::chrono::nanoseconds> stable_since_;
  bool joined_ = false;
};

}  // namespace troupe::cluster::model
