// seed_process: whom a joining node asks for a cluster, and when the first seed may form a
// new one (Akka's FirstSeedNodeProcess and JoinSeedNodeProcess, with the seed-node hazard
// closed).
//
// A joining node sends InitJoin to the other seeds and to the members it remembers from
// its last run (`known_members`, see `known-members-file` in settings.hpp) and joins the
// first that acknowledges. Only the first seed may form a new cluster instead:
// - at once, when seed-nodes lists only itself (such a cluster has no protection: a
//   restarted lone seed always starts a new cluster);
// - when every other seed answers "not a member" (InitJoinNack), and every remembered
//   member has answered so too or `seed_node_timeout` has passed: the seeds are alive and
//   none is in a cluster, so this is a fresh start (the demo's);
// - when nobody answered within `seed_node_timeout`, only if `form_cluster_when_alone`
//   (Akka's behaviour). Otherwise it keeps asking, and reports once at the timeout and
//   then every `report_interval`: a first seed restarted while the other seeds are gone
//   would otherwise silently start a second, permanent cluster beside the existing one.
//
//   seed_process p{self, seeds, known, now};
//   for (const auto& a : p.probe_targets()) send(a, init_join{});
//   p.nacked(from);                                     // on InitJoinNack
//   const seed_decision d = p.step(settings, now);      // on each join tick and nack
//   if (d.step == seed_step::form_cluster) join_self();
//   if (d.report) warn(to_string(p.wait_notice(now)));
//
// Pure: links only the standard library; the time is an argument.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// How the first seed decides; the defaults are the cluster settings' defaults.
struct seed_process_settings {
  std::chrono::nanoseconds seed_node_timeout = std::chrono::seconds{5};  ///< seed-node-timeout
  /// first-seed-forms-cluster-when-alone: form a cluster when nobody answered in time.
  bool form_cluster_when_alone = false;
  /// Between two reports of a first seed that waits (the first is at the timeout).
  std::chrono::nanoseconds report_interval = std::chrono::minutes{1};
};

/// What the joining node does now.
enum class seed_step : std::uint8_t {
  probe,         ///< send InitJoin to `probe_targets()` (and wait for an ack)
  form_cluster,  ///< join itself: a new cluster
};

/// Why.
enum class seed_reason : std::uint8_t {
  not_first_seed,     ///< only the first seed may form a cluster: it asks until one acks
  asking,             ///< within seed-node-timeout, still waiting for answers
  only_seed,          ///< seed-nodes lists only this node (no protection)
  seeds_nacked,       ///< every other seed answered "not a member"
  timed_out_allowed,  ///< nobody answered in time and first-seed-forms-cluster-when-alone
  waiting_alone,      ///< nobody answered in time and it may not form a cluster alone
};

/// "not the first seed", "asking", "only seed", ...
std::string_view to_string(seed_reason r) noexcept;

/// A step and its reason; `report` when a waiting first seed should say why it waits.
struct seed_decision {
  seed_step step = seed_step::probe;
  seed_reason reason = seed_reason::asking;
  bool report = false;
};

/// Why a first seed does not form a cluster: what its owner logs.
struct seed_wait_notice {
  address self;
  std::vector<address> silent_seeds;   ///< other seeds that never answered
  std::vector<address> known_members;  ///< remembered members it also asks
  std::chrono::nanoseconds waited{0};  ///< since the process started
  std::chrono::nanoseconds seed_node_timeout{0};
};

/// One line naming the silent seeds, the wait, and the settings that let it go on.
std::string to_string(const seed_wait_notice& n);

/// One run of the seed process of `self`.
class seed_process {
 public:
  seed_process() = default;
  /// Asks `seeds` (in order; the first one is the first seed) and `known_members` (any
  /// order), both without `self`, from `started`.
  seed_process(address self, std::vector<address> seeds, std::vector<address> known_members,
               std::chrono::nanoseconds started);

  /// True when `self` is the first of the seeds.
  bool is_first_seed() const noexcept { return first_seed_; }
  /// Everyone to send InitJoin to: the other seeds, then the remembered members. A node
  /// that answered "not a member" is asked again: it may have joined since.
  const std::vector<address>& probe_targets() const noexcept { return targets_; }
  /// Records an InitJoinNack from `from` (ignored unless it is a probe target).
  void nacked(const address& from);
  /// The decision at `now` (see the file comment); a decision with `report` set records
  /// the report, so the next one is due `report_interval` later.
  seed_decision step(const seed_process_settings& s, std::chrono::nanoseconds now);
  /// Why it waits at `now`, for the report.
  seed_wait_notice wait_notice(const seed_process_settings& s, std::chrono::nanoseconds now) const;

 private:
  address self_;
  std::vector<address> seeds_;  ///< the other seeds
  std::vector<address> known_;  ///< remembered members that are not seeds
  std::vector<address> targets_;
  std::set<address> nacked_;
  bool first_seed_ = false;
  bool only_seed_ = false;
  std::chrono::nanoseconds started_{0};
  std::optional<std::chrono::nanoseconds> last_report_;
};

}  // namespace troupe::cluster::model
