// node_core: one cluster member's decisions, as a pure state machine.
//
// The cluster daemon is an actor that only delivers inputs to a `node_core` and carries
// out what it asks for; everything it decides is here, with no I/O, no threads, no clock
// reads and no randomness of its own (the time is passed in, the random engine is
// seeded by the caller). The simulator (cluster/sim, `troupe-sim`) drives this same class,
// one per simulated node, so its findings hold for the daemon:
// - joining through seed nodes (InitJoin / InitJoinAck / Join / Welcome) and the members
//   remembered from the last run; the first seed joins itself when every other seed
//   answers nack, and after `seed_node_timeout` with no answer only if
//   `first_seed_forms_cluster_when_alone` (else it keeps asking and reports why:
//   `model::seed_process`, `take_seed_wait_notices`);
// - push-pull gossip to one peer per tick (`model::select_gossip_target`, on peer pools
//   built once per view): a status to a peer that has seen the version, else the whole
//   gossip; three rounds per interval while `speedup_needed`;
// - heartbeats to the node's receivers on the `model::heartbeat_ring`, their answers fed
//   to phi accrual detectors; the reaper turns verdicts into reachability records;
// - the leader's actions, and the split brain resolver as downing provider;
// - leaving (exiting members confirm to the next two leaders and stop) and stopping when
//   the node sees itself down or removed, after telling a few peers.
// What it derives from a view (leader, peer pools, heartbeat ring) is computed at most once
// per view; heartbeat rings can be shared by several cores (`model::heartbeat_ring_cache`),
// as the simulator's thousands of nodes do. Library troupe::cluster_core: the model and the
// standard library only.
//
//   node_core core{settings, self, seed};
//   core.join_seed_nodes(seeds, now);
//   core.on_tick(tick::join, now);                    // the daemon's timers
//   core.receive(protocol::gossip_envelope{...}, now); // the daemon's messages
//   for (auto& out : core.take_outbox()) send(out.to, out.uid, out.message);
//   for (auto& e : core.take_events()) publish(e);
//   for (auto& n : core.take_seed_wait_notices()) log_warning(model::to_string(n));
//   if (core.stop_requested()) shut_down(core.stop_reason());   // why: core.stopped_because()
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "troupe/cluster/events.hpp"
#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/gossip_peer_pools.hpp"
#include "troupe/cluster/model/gossip_target_selector.hpp"
#include "troupe/cluster/model/heartbeat_ring.hpp"
#include "troupe/cluster/model/heartbeat_ring_cache.hpp"
#include "troupe/cluster/model/membership_state.hpp"
#include "troupe/cluster/model/phi_accrual_failure_detector.hpp"
#include "troupe/cluster/model/seed_process.hpp"
#include "troupe/cluster/model/split_brain_resolver.hpp"
#include "troupe/cluster/protocol_messages.hpp"

namespace troupe::cluster {

using std::chrono::nanoseconds;

/// Up to this many members the leader gossips its downing and removal decisions to every
/// reachable member at once (unless `core_settings::gossips_on_downing` says otherwise).
inline constexpr std::size_t small_cluster_members = 16;

/// What a node core depends on; the defaults are Akka's (see `cluster_settings`).
struct core_settings {
  std::set<std::string> roles;             ///< this node's roles
  model::app_version app_version;          ///< the application version it runs
  nanoseconds gossip_interval = std::chrono::seconds{1};
  nanoseconds seed_node_timeout = std::chrono::seconds{5};
  /// The first seed forms a cluster when no other seed answered in `seed_node_timeout`
  /// (Akka's behaviour); false: it keeps asking (see `model::seed_process`).
  bool first_seed_forms_cluster_when_alone = false;
  nanoseconds seed_wait_report_interval = std::chrono::minutes{1};  ///< between two wait notices
  nanoseconds join_retry_interval = std::chrono::seconds{1};           ///< InitJoin resend
  nanoseconds retry_unsuccessful_join_after = std::chrono::seconds{10};  ///< Join without Welcome
  nanoseconds weakly_up_after = std::chrono::seconds{7};
  nanoseconds expected_response_after = std::chrono::seconds{1};      ///< first heartbeat answer
  std::size_t gossips_before_shutdown = 3;  ///< gossips a downed node sends before it stops
  std::size_t gossips_when_exiting = 5;     ///< Akka's NumberOfGossipsBeforeShutdownWhenLeaderExits
  /// Peers the leader gossips to at once when it downs or removes members (0: Akka's rule,
  /// the decision spreads by the gossip rounds alone); nullopt: every reachable member in
  /// clusters of up to `small_cluster_members`, none in larger ones.
  std::optional<std::size_t> gossips_on_downing;
  std::size_t monitored_by_nr_of_members = model::default_monitored_by_nr_of_members;
  model::phi_accrual_settings failure_detector;
  model::membership_settings membership;
  model::gossip_target_settings gossip_target;
  std::optional<model::sbr_settings> downing = model::sbr_settings{};  ///< nullopt: no automatic downing
};

/// Any message of the cluster protocol.
using protocol_message =
    std::variant<protocol::init_join, protocol::init_join_ack, protocol::init_join_nack, protocol::join,
                 protocol::welcome, protocol::leave, protocol::down, protocol::exiting_confirmed,
                 protocol::gossip_envelope, protocol::gossip_status, protocol::heartbeat, protocol::heartbeat_rsp>;

/// A message for another node's daemon: its address, incarnation (0: any) and content.
struct outgoing {
  model::address to;
  std::uint64_t uid = 0;
  protocol_message message;
};

/// The daemon's periodic inputs.
enum class tick : std::uint8_t {
  join,       ///< every `join_retry_interval` while joining
  gossip,     ///< every gossip interval
  speedup,    ///< the extra rounds: after a gossip tick while `speedup_needed()`
  heartbeat,  ///< every heartbeat interval
  reaper,     ///< every unreachable-nodes-reaper interval
  leader,     ///< every leader-actions interval
  downing,    ///< every second (the split brain resolver's tick)
};

/// Where the node is in joining.
enum class core_phase : std::uint8_t {
  idle,              ///< not asked to join yet
  seed_process,      ///< sending InitJoin to the seeds
  awaiting_welcome,  ///< sent Join to a node that acknowledged
  member,            ///< welcomed, or joined itself: has a view
  stopped,           ///< downed, removed or exited: takes no more part
};

/// Why a node stopped taking part.
enum class stop_cause : std::uint8_t {
  downed,   ///< it saw itself down (the resolver, a user, or a member that quarantined it)
  removed,  ///< a gossip showed it removed
  left,     ///< it became exiting after a graceful leave
};

/// "downed", "removed from the cluster", "left the cluster".
std::string_view to_string(stop_cause c) noexcept;

/// Counters since construction.
struct core_stats {
  std::uint64_t gossip_sent = 0, gossip_status_sent = 0, gossip_received = 0, heartbeats_sent = 0,
                rejected = 0, view_changes = 0;
};

class node_core {
 public:
  /// The core of incarnation `self`, drawing its random choices from `seed`; its heartbeat
  /// rings come from `rings` (shared with other cores; null: a cache of its own).
  node_core(core_settings settings, model::unique_address self, std::uint64_t seed,
            std::shared_ptr<model::heartbeat_ring_cache> rings = nullptr);

  /// Starts joining through `seeds`, also asking `known_members` (the members of its last
  /// run; see the file comment); ignored unless idle.
  void join_seed_nodes(std::vector<model::address> seeds, nanoseconds now,
                       std::vector<model::address> known_members = {});
  /// Joins the cluster of `node` (self: forms a new cluster); ignored once a member.
  void join(const model::address& node, nanoseconds now);
  /// Marks the member at `where` leaving in this view (gossip spreads it).
  void leave(const model::address& where, nanoseconds now);
  /// Marks the member at `where` down in this view.
  void down(const model::address& where, nanoseconds now);

  /// Takes in a message (an answer to InitJoin is produced by `answer_init_join`).
  void receive(const protocol_message& m, nanoseconds now);
  /// The answer to an InitJoin: an ack if this node is a member that takes joins.
  std::variant<protocol::init_join_ack, protocol::init_join_nack> answer_init_join() const;
  /// Runs one periodic duty.
  void on_tick(tick t, nanoseconds now);
  /// True while extra gossip rounds are due (fewer than half have seen the version, or a
  /// member is down).
  bool speedup_needed() const;
  /// When this node, as leader with unreachable members, reaches the split brain
  /// resolver's stable-after period: the daemon ticks `downing` then, not up to a second
  /// later. nullopt while nothing waits for it.
  std::optional<nanoseconds> downing_due() const;

  /// Messages to send, in order; empties the outbox.
  std::vector<outgoing> take_outbox();
  /// Events of the view changes since the last call, in order.
  std::vector<cluster_event> take_events();
  /// Removed incarnations the transport should quarantine (previously down).
  std::vector<model::unique_address> take_quarantines();
  /// Why the first seed waits instead of forming a cluster: one at `seed_node_timeout`,
  /// then one every `seed_wait_report_interval` while it waits; empties the list.
  std::vector<model::seed_wait_notice> take_seed_wait_notices();

  /// This incarnation.
  const model::unique_address& self() const noexcept { return self_; }
  /// Joining phase.
  core_phase phase() const noexcept { return phase_; }
  /// The current view (the empty gossip before joining).
  const model::gossip& latest_gossip() const noexcept { return state_.latest_gossip(); }
  /// The current view with its derived decisions.
  const model::membership_state& state() const noexcept { return state_; }
  /// `state().leader()`, computed once per view.
  const std::optional<model::unique_address>& leader() const;
  /// True once the node must stop taking part (downed, removed or exited).
  bool stop_requested() const noexcept { return phase_ == core_phase::stopped; }
  /// Why it stopped; meaningful once `stop_requested()`.
  stop_cause stopped_because() const noexcept { return stop_cause_; }
  /// `to_string(stopped_because())` once stopped, else empty.
  std::string_view stop_reason() const noexcept { return stop_requested() ? to_string(stop_cause_) : ""; }
  /// Counters.
  const core_stats& stats() const noexcept { return stats_; }
  /// The settings in force.
  const core_settings& settings() const noexcept { return settings_; }

 private:
  void join_tick(nanoseconds now);
  bool seed_step(nanoseconds now);
  void join_self(nanoseconds now);
  void become_member(model::gossip g, nanoseconds now);
  void on_join(const protocol::join& j, nanoseconds now);
  void gossip_tick(bool speedup);
  void on_gossip(const protocol::gossip_envelope& env, nanoseconds now);
  void on_status(const protocol::gossip_status& st);
  void gossip_to(const model::unique_address& peer);
  void status_to(const model::unique_address& peer);
  void gossip_random(std::size_t n);
  void gossip_decision();
  bool any_down() const;
  void update_ring(nanoseconds now);
  void heartbeat_tick(nanoseconds now);
  void reaper_tick(nanoseconds now);
  void leader_tick(nanoseconds now);
  void downing_tick(nanoseconds now);
  void sbr_observe(const model::gossip& before, const model::gossip& after, nanoseconds now);
  void set_view(model::gossip g, nanoseconds now);
  void stop(stop_cause cause);
  model::gossip_target_input target_input() const;
  const model::gossip_peer_pools& peer_pools() const;
  const model::gossip_digest& digest() const;

  core_settings settings_;
  model::unique_address self_;
  std::mt19937_64 rng_;
  core_phase phase_ = core_phase::idle;
  model::membership_state state_;
  // Derived from the current view at most once (reset by `set_view`).
  struct view_cache {
    std::optional<std::optional<model::unique_address>> leader;
    std::optional<bool> any_down;
    std::optional<model::gossip_digest> digest;
    std::optional<model::gossip_peer_pools> pools;
    bool ring_checked = false;
  };
  mutable view_cache cache_;

  // Joining.
  std::vector<model::address> seeds_;
  std::vector<model::address> known_members_;
  model::seed_process seed_process_;
  model::address join_target_;
  nanoseconds join_deadline_{0};

  // Membership.
  std::set<model::unique_address> exiting_confirmed_;
  model::member_list checked_members_;  ///< the members of the last gossip accepted (checked)
  std::optional<nanoseconds> not_converged_since_;

  // Failure detection.
  model::failure_detector_registry detectors_;
  std::map<model::unique_address, nanoseconds> receivers_;  ///< heartbeat receivers, added at
  std::shared_ptr<model::heartbeat_ring_cache> rings_;
  std::uint64_t ring_key_ = 0;
  bool has_ring_ = false;
  std::uint64_t heartbeat_seq_ = 0;

  // Split brain resolver.
  nanoseconds stable_since_{0};
  std::optional<nanoseconds> first_unstable_;
  nanoseconds last_unstable_{0};

  std::vector<outgoing> outbox_;
  std::vector<cluster_event> events_;
  std::vector<model::unique_address> quarantines_;
  std::vector<model::seed_wait_notice> seed_wait_notices_;
  stop_cause stop_cause_ = stop_cause::downed;
  core_stats stats_;
};

}  // namespace troupe::cluster
