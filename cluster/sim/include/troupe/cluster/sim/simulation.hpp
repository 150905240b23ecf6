// simulation: N cluster nodes over a simulated network, driven by a fake clock and one
// seeded random engine, so a run replays exactly from its seed (FoundationDB-style
// simulation).
//
// Every simulated node is one shipped `node_core` (troupe::cluster_core), the code the
// cluster daemon runs, and the simulation is its daemon and transport:
// - the daemon's timers on simulated time (join while joining; gossip, heartbeat, reaper,
//   leader actions and the resolver's one-second tick, each with its own random phase; two
//   speedup rounds after a gossip tick while `speedup_needed`; a downing tick at
//   `downing_due()`), as cluster/src/daemon/cluster.cpp arms them;
// - the core's outbox carried by the simulated network (`network.hpp`): latency, loss and
//   partitions; an InitJoin answered by `answer_init_join`;
// - the transport's quarantine: the core's `take_quarantines` (and a gossip from a removed
//   incarnation) make a node refuse that incarnation for good and tell it so; a member
//   told so by a member of its view downs itself (as the daemon's `on_quarantined`).
// Faults: crash, freeze (SIGSTOP-like: timers and messages wait until thaw), restart with a
// new uid at the same address, graceful leave, and any partition of the network.
//
// Invariants are checked after every event that changes a node's view (see
// invariants.cpp); the first violation stops the run and is kept with its step and time.
//
//   sim_settings s; s.nodes = 5; s.seed = 42;
//   simulation sim{s};
//   sim.start_all();
//   sim.run_until_settled(60s);                  // all up, one converged version
//   sim.crash(3);
//   sim.run_for(30s);
//   if (auto v = sim.violation()) report(*v);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/gossip_target_selector.hpp"
#include "troupe/cluster/model/heartbeat_ring_cache.hpp"
#include "troupe/cluster/model/membership_state.hpp"
#include "troupe/cluster/model/phi_accrual_failure_detector.hpp"
#include "troupe/cluster/model/split_brain_resolver.hpp"
#include "troupe/cluster/node_core.hpp"
#include "troupe/cluster/sim/network.hpp"

namespace troupe::cluster::sim {

using std::chrono::nanoseconds;

/// Everything a run depends on; the defaults are the daemon's (Akka's) with stable-after 7 s.
/// The node settings go to each node's `node_core` (`core_settings_of`).
struct sim_settings {
  std::size_t nodes = 5;   ///< nodes started by `start_all`
  std::size_t seeds = 3;   ///< the first `seeds` nodes are the seed nodes
  std::uint64_t seed = 1;  ///< the random engine's seed: the whole run follows from it

  nanoseconds gossip_interval = std::chrono::seconds{1};          ///< `gossip-interval`
  nanoseconds leader_actions_interval = std::chrono::seconds{1};  ///< `leader-actions-interval`
  nanoseconds heartbeat_interval = std::chrono::seconds{1};       ///< `failure-detector.heartbeat-interval`
  nanoseconds reaper_interval = std::chrono::seconds{1};          ///< `unreachable-nodes-reaper-interval`
  nanoseconds downing_interval = std::chrono::seconds{1};         ///< split brain resolver tick
  nanoseconds expected_response_after = std::chrono::seconds{1};  ///< first heartbeat deadline
  nanoseconds seed_node_timeout = std::chrono::seconds{5};        ///< `seed-node-timeout`
  nanoseconds join_retry_interval = std::chrono::seconds{1};      ///< InitJoin resend
  nanoseconds retry_unsuccessful_join_after = std::chrono::seconds{10};  ///< Join without Welcome
  nanoseconds weakly_up_after = std::chrono::seconds{7};          ///< `weakly-up-after`
  /// The first seed forms a cluster alone after `seed_node_timeout` (the daemon's default: no).
  bool first_seed_forms_cluster_when_alone = false;
  std::size_t gossips_before_shutdown = 3;  ///< full gossips a downed node sends before stopping
  /// Peers the leader gossips its downing and removal decisions to at once (`gossips-on-
  /// downing`): nullopt, the daemon's default, every reachable member in clusters of up to
  /// `small_cluster_members` and none in larger ones (Akka's rule); 0: never.
  std::optional<std::size_t> gossips_on_downing;
  /// Roles of the node in slot i (`roles[i]`; slots past the list have none).
  std::vector<std::set<std::string>> roles;
  std::size_t monitored_by_nr_of_members = model::default_monitored_by_nr_of_members;

  model::phi_accrual_settings failure_detector;      ///< threshold 8, pause 3 s
  model::membership_settings membership;             ///< min-nr-of-members 1
  model::gossip_target_settings gossip_target;       ///< different-view probability 0.8
  model::sbr_settings sbr = default_sbr();           ///< keep-majority, stable-after 7 s
  network_settings network;                          ///< ~0.5 ms latency, no loss

  /// Check the invariants after every view change (off only for speed experiments).
  bool check_invariants = true;
  /// Also check `gossip::invariant_violation` of every new view (slow: small clusters).
  bool check_gossip_invariants = false;

  /// Keep-majority with stable-after 7 s (Akka's recommendation for small clusters).
  static model::sbr_settings default_sbr() {
    model::sbr_settings s;
    s.stable_after = std::chrono::seconds{7};
    return s;
  }
};

/// Up, or on the way out after up (leaving, preparing or ready for shutdown): the member
/// counts toward the up members the figures and invariants speak of.
bool is_up_like(model::member_status s);

/// The `core_settings` of the node in slot `slot`.
core_settings core_settings_of(const sim_settings& s, std::size_t slot);

/// A node's view as the simulation observes it (after each input that changed its core's
/// view): the gossip wrapped in a membership state, with the values the invariants and
/// figures derive from it computed at most once.
class node_view {
 public:
  /// `self`'s view of `g`.
  node_view(model::gossip g, model::unique_address self);

  /// The membership state (gossip and self).
  const model::membership_state& state() const noexcept { return state_; }
  /// The gossip.
  const model::gossip& gossip() const noexcept { return state_.latest_gossip(); }
  /// Bytes of a gossip envelope carrying this gossip (cached).
  std::size_t envelope_bytes() const;
  /// `state().convergence()` without exiting confirmations (cached).
  bool converged() const;
  /// `state().leader()` (cached).
  const std::optional<model::unique_address>& leader() const;
  /// Hash of the version's counters (cached).
  std::uint64_t version_hash() const;
  /// True if every member is up (cached).
  bool all_up() const;
  /// Takes over the cached values of `earlier` that cannot differ (same version).
  void inherit(const node_view& earlier) const;

 private:
  model::membership_state state_;
  mutable std::size_t envelope_bytes_ = 0;
  mutable std::optional<bool> converged_;
  mutable std::optional<std::optional<model::unique_address>> leader_;
  mutable std::optional<std::uint64_t> version_hash_;
  mutable std::optional<bool> all_up_;
};

/// Shared immutable view.
using view_ptr = std::shared_ptr<const node_view>;

/// What a node slot is doing.
enum class node_life : std::uint8_t {
  idle,     ///< never started
  running,  ///< processing timers and messages
  frozen,   ///< paused: timers and messages wait until it is thawed
  crashed,  ///< killed; may be restarted with a new uid
  stopped,  ///< shut itself down: downed, removed, or left
};

/// One entry of the event queue: a timer of a node, or a message arriving at a node.
/// Ordered by time, then by scheduling order, so equal times replay in one order.
struct sim_event {
  nanoseconds at{0};           ///< when it happens
  std::uint64_t seq = 0;       ///< scheduling order, the tie breaker
  std::uint32_t node = 0;      ///< the slot it happens at
  std::uint32_t incarnation = 0;  ///< timers: the incarnation that set it
  bool is_timer = false;       ///< timer or message
  std::uint8_t kind = 0;       ///< timer or message kind (simulation.cpp)
  std::uint32_t from = 0;      ///< messages: sending slot
  std::uint64_t from_uid = 0;  ///< messages: sending incarnation; one-off timers: their arming
  std::uint64_t to_uid = 0;    ///< quarantine notices: the incarnation told
  std::shared_ptr<const protocol_message> message;  ///< a protocol message (null: a quarantine notice)
};

/// One node slot: an address, and its current incarnation (a `node_core`).
struct sim_node {
  std::size_t index = 0;            ///< slot number, also the network node number
  model::address address;           ///< fixed for the slot
  model::unique_address self;       ///< the current incarnation
  std::uint32_t incarnation = 0;    ///< bumped on every start, crash and stop: stale timers die
  node_life life = node_life::idle;
  bool is_seed = false;
  nanoseconds started{0};           ///< when this incarnation started

  std::unique_ptr<node_core> core;         ///< the incarnation's core; null before the first start
  view_ptr view;                           ///< the core's view when it last changed; null until it joined
  std::uint64_t view_changes = 0;          ///< the core's `stats().view_changes` at `view`
  std::set<std::uint64_t> quarantined;     ///< incarnations (uids) this one's transport refuses
  std::optional<nanoseconds> downing_due;  ///< the armed one-off downing tick (the daemon's)
  std::uint64_t downing_arming = 0;        ///< its arming; older ones are void

  std::vector<sim_event> stash;  ///< events held while frozen

  /// True while the incarnation is a member (welcomed, or joined itself) and not stopped.
  bool member() const noexcept { return core && core->phase() == core_phase::member; }
};

/// The first broken invariant of a run.
struct invariant_violation {
  std::string invariant;  ///< e.g. "status_monotonic"
  std::string detail;     ///< what was seen
  std::uint64_t step = 0; ///< number of events processed
  nanoseconds at{0};      ///< simulated time
};

/// Message counts and bytes, by kind.
struct traffic {
  std::uint64_t gossip_full = 0, gossip_status = 0, heartbeat = 0, join = 0, lost = 0;
  std::uint64_t gossip_bytes = 0, heartbeat_bytes = 0;
};

/// How many times each invariant was checked.
struct invariant_counts {
  std::uint64_t status_monotonic = 0, removed_stays_removed = 0, single_leader = 0,
                no_split_brain = 0, clock_monotonic = 0, gossip_valid = 0;
};

/// Times of the interesting moments about one node (a crash or freeze victim).
struct victim_watch {
  model::unique_address node;   ///< the victim incarnation
  nanoseconds fault_at{0};      ///< when the fault was injected
  std::optional<nanoseconds> unreachable_at;       ///< first reachability record against it
  std::optional<nanoseconds> leader_unreachable_at;///< the leader's view marks it unreachable
  std::optional<nanoseconds> downed_at;            ///< first view with it down
  std::optional<nanoseconds> removed_at;           ///< first view with its tombstone
  std::optional<nanoseconds> removed_everywhere_at;///< no running node has it as a member
  std::size_t views_holding = 0;                   ///< running views that have it as a member
};

/// The simulated cluster.
class simulation {
 public:
  /// A world of `settings.nodes` idle node slots (`seeds` of them seed nodes).
  explicit simulation(sim_settings settings);
  ~simulation();
  simulation(const simulation&) = delete;
  simulation& operator=(const simulation&) = delete;

  /// Simulated time now.
  nanoseconds now() const noexcept { return now_; }
  /// Events processed so far.
  std::uint64_t steps() const noexcept { return steps_; }
  /// The settings in force.
  const sim_settings& settings() const noexcept { return settings_; }
  /// The one random engine of the run (scenarios draw their choices from it too).
  std::mt19937_64& rng() noexcept { return rng_; }
  /// The network (split, block, heal).
  simulated_network& network() noexcept { return network_; }
  /// Node slots.
  const std::vector<sim_node>& nodes() const noexcept { return nodes_; }

  /// Starts every idle slot, each within `spread` of now (random start order).
  void start_all(nanoseconds spread = std::chrono::milliseconds{100});
  /// Starts slot `i` now with a fresh uid (a restart if it ran before); it joins via seeds.
  void start(std::size_t i);
  /// A new idle slot with its own address; returns its number.
  std::size_t add_slot();
  /// Kills slot `i`'s incarnation: no more timers or messages.
  void crash(std::size_t i);
  /// Pauses slot `i`: its timers and incoming messages wait until `thaw`.
  void freeze(std::size_t i);
  /// Resumes a frozen slot: held messages first, then overdue timers, all at now.
  void thaw(std::size_t i);
  /// Slot `i` asks to leave the cluster (graceful).
  void leave(std::size_t i);

  /// Checked every 1,024 events: returning true stops `run_until` at once (a budget).
  void set_interrupt(std::function<bool()> interrupt) { interrupt_ = std::move(interrupt); }
  /// True once the interrupt fired; the run stops there.
  bool interrupted() const noexcept { return interrupted_; }

  /// Runs events up to and including `t` (or until an invariant breaks or the interrupt fires).
  void run_until(nanoseconds t);
  /// `run_until(now() + d)`.
  void run_for(nanoseconds d) { run_until(now_ + d); }
  /// Runs until `done()` holds (checked every `poll`) or `deadline`; true if it held.
  bool run_until(const std::function<bool()>& done, nanoseconds deadline,
                 nanoseconds poll = std::chrono::milliseconds{100});
  /// Runs until `settled()` or `deadline`; true if settled.
  bool run_until_settled(nanoseconds deadline);

  /// True when every running node is a member, all hold one converged version, every
  /// member of it is up, and its members are exactly the running incarnations.
  bool settled() const;
  /// Why `settled()` is false, naming the first node that is not there yet ("" if settled).
  std::string unsettled_reason() const;
  /// The running incarnations that are members, and their count.
  std::size_t running_members() const;
  /// The leader of slot `i`'s view, if it has one.
  std::optional<model::unique_address> leader_of(std::size_t i) const;
  /// Slot of a node address, or nullopt.
  std::optional<std::size_t> slot_of(const model::address& a) const;

  /// Watches a fault on slot `i`'s current incarnation (detection and removal times).
  void watch_victim(std::size_t i);
  /// The watched victims.
  const std::vector<victim_watch>& victims() const noexcept { return victims_; }

  /// The first broken invariant, if any.
  const std::optional<invariant_violation>& violation() const noexcept { return violation_; }
  /// Records a violation found by a scenario (e.g. no convergence after healing).
  void fail(std::string invariant, std::string detail);
  /// Invariant check counts.
  const invariant_counts& checks() const noexcept { return checks_; }
  /// Messages sent so far.
  const traffic& sent() const noexcept { return traffic_; }
  /// Unreachable records made while the subject was running and connected both ways.
  std::uint64_t false_unreachable() const noexcept { return false_unreachable_; }
  /// Unreachable records made in all.
  std::uint64_t unreachable_records() const noexcept { return unreachable_records_; }
  /// Node-seconds lived by running nodes so far (for per-node rates).
  double node_seconds() const;
  /// Times a node acted on a split brain resolver decision.
  std::uint64_t sbr_decisions() const noexcept { return sbr_decisions_; }
  /// Times a node downed everyone because the cluster was unstable for too long.
  std::uint64_t sbr_down_all_unstable() const noexcept { return sbr_down_all_; }
  /// Largest envelope (full gossip) sent so far, in bytes.
  std::size_t largest_gossip_bytes() const noexcept { return largest_gossip_bytes_; }

 private:
  // Event plumbing.
  void schedule(sim_event e);
  void schedule_timer(sim_node& n, std::uint8_t kind, nanoseconds delay);
  void dispatch(sim_event& e);
  void handle_timer(sim_node& n, const sim_event& e);
  void handle_message(sim_node& n, const sim_event& e);
  void advance_to(nanoseconds t);

  // The daemon around each core, and the transport.
  void flush(sim_node& n);
  void send(const sim_node& from, const outgoing& out);
  void notify_quarantined(const sim_node& by, std::size_t slot, std::uint64_t uid);
  void observe_view_change(sim_node& n);
  void retire(sim_node& n, node_life life);

  // Invariants and observations (invariants.cpp).
  void check_view_change(const sim_node& n, const node_view* before, const node_view& after);
  void observe_views(const sim_node& n, const node_view* before, const node_view* after);
  bool serving(const sim_node& n) const;

  model::unique_address address_of(std::size_t slot, std::uint64_t uid) const;

  sim_settings settings_;
  std::mt19937_64 rng_;
  simulated_network network_;
  std::vector<sim_node> nodes_;
  std::vector<std::size_t> seed_slots_;
  std::unordered_map<std::string, std::size_t> slot_by_host_;
  nanoseconds now_{0};
  std::uint64_t steps_ = 0;
  std::uint64_t next_seq_ = 0;
  std::vector<sim_event> queue_;
  std::function<bool()> interrupt_;
  bool interrupted_ = false;

  std::optional<invariant_violation> violation_;
  invariant_counts checks_;
  traffic traffic_;
  std::uint64_t false_unreachable_ = 0;
  std::uint64_t unreachable_records_ = 0;
  std::size_t largest_gossip_bytes_ = 0;
  std::uint64_t sbr_decisions_ = 0;
  std::uint64_t sbr_down_all_ = 0;
  double node_seconds_ = 0;
  std::size_t running_count_ = 0;
  std::vector<victim_watch> victims_;
  std::unordered_map<std::uint64_t, model::unique_address> converged_leader_;  // by version hash
  // Heartbeat rings shared by every core whose view has the same ring members and
  // unreachable set (a ring of 10,000 nodes is ~2 MB).
  std::shared_ptr<model::heartbeat_ring_cache> rings_;
  std::vector<model::address> seed_addresses_;
};

}  // namespace troupe::cluster::sim
