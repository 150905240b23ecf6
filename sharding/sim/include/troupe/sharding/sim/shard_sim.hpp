// shard_sim: the shipped sharding cores (one coordinator_core, a region_core per node) over
// a simulated network, with simulated entities, a fake clock and one seeded random engine.
//
// It plays the part of the actors exactly as the real region and coordinator actors do:
// it extracts nothing (clients name the entity), asks `route`, keeps buffered messages
// under tokens, carries out every effect, delivers protocol messages with a latency over
// FIFO channels (one per ordered pair of nodes, as the transport's lane is), stops
// entities after a delay, and keeps a remember-entities store. The cluster's membership is
// given, not gossiped: a node is up when started; a crashed node is removed from every
// view `failure_detection` later; a leaving node hands off its shards, then is removed
// `leave_duration` later. The coordinator runs on the oldest node that is still a member
// (a new `coordinator_core`, recovering, after the old one's node is removed), as the
// singleton would place it.
//
//   shard_sim sim{{.seed = 7}};
//   auto a = sim.start_node(), b = sim.start_node();
//   sim.tell(a, "alice", /*sender*/ 1, /*seq*/ 1);
//   sim.run_for(1s);
//   auto r = sim.check_deliveries();       // lost, duplicated, reordered: all 0
//   assert(!sim.violation());              // no shard hosted twice, ever
//
// Checked at every step (unless `check_invariants` is off): no shard is local at two
// regions at once; the coordinator's table keeps its invariant (after every coordinator
// step, or with `table_check::on_change` after every step that changed it: see there); no
// message is delivered to an entity after its stop message. The first violation is kept
// with the time.
//
// Messages travel to an address, as the transport's do: a message for an incarnation that
// has been restarted at the same address (`restart_node`) reaches the new one, whose core
// refuses what was meant for the old. Costs per message are O(log) in the number of nodes
// and pending events (nodes indexed by address and by uid, a binary heap of events), so
// 1,000 nodes with 10,000 shards run in seconds (docs/simulation.md, "Sharding").
//
// Pure: links only the sharding model.
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

#include "troupe/sharding/model/coordinator_core.hpp"
#include "troupe/sharding/model/region_core.hpp"

namespace troupe::sharding::sim {

using std::chrono::nanoseconds;
using model::region_id;

/// When the coordinator's table invariant (`allocation_table::invariant_violation`, O(shards))
/// is checked.
enum class table_check : std::uint8_t {
  every_step,  ///< after every coordinator step
  /// After every coordinator step that changed the table's shard, region or proxy count or
  /// the coordinator's allocation, hand-off or conflict counters (every table change the
  /// current core makes moves one of them), and on `check_table`. For large runs: a
  /// hand-off at 1,000 regions is ~1,000 acknowledgements that change nothing.
  on_change,
};

/// What to simulate.
struct shard_sim_settings {
  std::uint64_t seed = 1;                       ///< the one random engine's seed
  std::uint32_t number_of_shards = 100;         ///< the default extractor's
  std::string strategy = "least-shard";         ///< least-shard, consistent-hash-ring, external
  std::size_t virtual_nodes = 100;              ///< consistent-hash-ring
  model::rebalance_limits limits;               ///< per rebalance round
  model::coordinator_settings coordinator;      ///< timing as the real coordinator's
  model::region_settings region;                ///< as every real region's
  nanoseconds latency = std::chrono::milliseconds{1};   ///< one way, every message
  nanoseconds jitter{0};                        ///< extra latency in [0, jitter]; FIFO per channel kept
  nanoseconds entity_stop_delay = std::chrono::milliseconds{1};  ///< stop message to termination
  nanoseconds store_latency = std::chrono::milliseconds{2};      ///< remember-entities reads and writes
  nanoseconds failure_detection = std::chrono::seconds{15};      ///< crash to removal everywhere
  nanoseconds leave_duration = std::chrono::seconds{2};          ///< shards handed off to removal
  bool check_invariants = true;                 ///< check after every event (see the file comment)
  table_check table = table_check::every_step;  ///< when the coordinator's table is checked
  /// When set, one line per protocol message delivered and per entity start and stop.
  std::function<void(const std::string&)> trace;
};

/// One message given to an entity.
struct delivery {
  region_id at;
  std::uint32_t sender = 0;
  std::uint64_t seq = 0;
  nanoseconds when{0};
};

/// What happened to the clients' messages.
struct delivery_report {
  std::size_t sent = 0;
  std::size_t delivered = 0;    ///< distinct messages delivered
  std::size_t lost = 0;         ///< sent, never delivered
  std::size_t duplicated = 0;   ///< delivered more than once
  std::size_t reordered = 0;    ///< delivered after a later message of the same sender to the same entity
  std::size_t dead_letters = 0; ///< dropped by a region (buffer full) or sent to a dead node
};

/// A rebalance tick of the coordinator that started hand-offs.
struct rebalance_round {
  nanoseconds at{0};       ///< when
  std::size_t shards = 0;  ///< hand-offs it started
};

class shard_sim {
 public:
  explicit shard_sim(shard_sim_settings settings);
  ~shard_sim();
  shard_sim(const shard_sim&) = delete;
  shard_sim& operator=(const shard_sim&) = delete;

  /// Starts a node with a region (or a proxy), up at once; returns its region id.
  region_id start_node(bool proxy = false);
  /// Starts a new incarnation (a new uid) of the node of `old` at the same address, up at
  /// once, as a restarted process; returns its region id. `old` must not run any more
  /// (left or crashed; asserted); if it is still a member it is removed now, as a join of
  /// the new incarnation removes the old one.
  region_id restart_node(const region_id& old);
  /// Graceful leave: its region hands off every shard and stops (messages through it are
  /// dead letters from then on), then the node is removed `leave_duration` later.
  void leave(const region_id& r);
  /// kill -9: the node stops now; the others remove it `failure_detection` later.
  void crash(const region_id& r);
  /// A client on node `via` sends message `seq` of `sender` to `entity` (through the
  /// region there, as a local sender).
  void tell(const region_id& via, const std::string& entity, std::uint32_t sender, std::uint64_t seq);

  /// Runs every event due up to `until`.
  void run_until(nanoseconds until);
  /// Runs for `d` more.
  void run_for(nanoseconds d) { run_until(now_ + d); }
  /// Runs until `done()` holds (checked after each event) or `deadline`; true if it held.
  bool run_until(const std::function<bool()>& done, nanoseconds deadline);
  /// Simulated time.
  nanoseconds now() const noexcept { return now_; }

  /// The running coordinator, if any.
  const model::coordinator_core* coordinator() const noexcept { return coordinator_.get(); }
  /// The region of a node whose region runs, or nullptr.
  const model::region_core* region(const region_id& r) const;
  /// Nodes whose region runs now (not crashed, not stopped after a leave), oldest first.
  std::vector<region_id> running_nodes() const;
  /// Nodes that are members (running, or crashed and not yet removed), oldest first.
  std::vector<region_id> member_nodes() const;
  /// True while `r` is a member (running, or crashed or left and not yet removed).
  bool is_member(const region_id& r) const;
  /// Shards local at each running region, now.
  std::map<region_id, std::set<model::shard_id>> hosted() const;
  /// Times a shard became local at a region after having been local elsewhere before.
  std::uint64_t shards_moved() const noexcept { return moved_; }
  /// The region where `shard` is local now, if any.
  std::optional<region_id> local_at(const model::shard_id& shard) const;
  /// Changes of the set of local shards at some region so far (each step that changed one).
  std::uint64_t placement_changes() const noexcept { return placement_changes_; }
  /// When the last such change happened.
  nanoseconds last_placement_change() const noexcept { return last_placement_change_; }
  /// Every rebalance tick that started hand-offs, in order (over all coordinators).
  const std::vector<rebalance_round>& rebalance_rounds() const noexcept { return rounds_; }
  /// Coordinators started so far (1 + the times it moved).
  std::uint64_t coordinators_started() const noexcept { return coordinator_epoch_; }
  /// An entity id of each shard, by shard number ("e<k>" for the lowest such k): telling
  /// each one message allocates every shard.
  std::vector<model::entity_id> entity_per_shard() const;
  /// Every delivery, by entity.
  const std::map<std::string, std::vector<delivery>>& deliveries() const noexcept { return deliveries_; }
  /// Loss, duplication and reordering of the clients' messages so far.
  delivery_report check_deliveries() const;
  /// The first invariant violation, with the time; nullopt when none.
  const std::optional<std::string>& violation() const noexcept { return violation_; }
  /// Protocol messages sent so far (not counting the clients' messages).
  std::uint64_t protocol_messages() const noexcept { return protocol_messages_; }
  /// The same by kind ("region_set", "begin_handoff_ack", "handoff_marker", ...), kinds
  /// never sent left out.
  std::map<std::string, std::uint64_t> protocol_messages_by_kind() const;
  /// Events run so far.
  std::uint64_t events_run() const noexcept { return events_run_; }
  /// Full checks of the coordinator's table so far.
  std::uint64_t table_checks() const noexcept { return table_checks_; }
  /// Checks the coordinator's table now, whatever `table_check` says.
  void check_table();
  /// The shard of `entity`.
  model::shard_id shard_of(const std::string& entity) const;
  /// The settings in force.
  const shard_sim_settings& settings() const noexcept { return settings_; }

 private:
  struct node;
  /// One scheduled event; the heap runs them by (at, seq).
  struct event {
    nanoseconds at{0};
    std::uint64_t seq = 0;
    std::function<void()> fn;
  };
  /// The figures of the coordinator that `table_check::on_change` compares.
  struct table_figures {
    std::uint64_t coordinator = 0, allocations = 0, handoffs = 0, conflicts = 0;
    std::size_t shards = 0, regions = 0, proxies = 0;
    friend bool operator==(const table_figures&, const table_figures&) = default;
  };
  void schedule(nanoseconds at, std::function<void()> fn);
  bool run_next(nanoseconds until);
  template <class Deliver>
  void send(const node& from, const region_id& to, Deliver&& deliver, bool protocol);
  void process(node& n, const std::string& entity, std::uint32_t sender, std::uint64_t seq, bool from_region);
  void carry_out(node& n);
  void to_coordinator(const node& from, const model::region_id& coordinator_node, model::coordinator_input m);
  void flush_coordinator();
  void update_views();
  void place_coordinator();
  node& add_node(const cluster::model::address& at, bool proxy);
  void check(node& n);
  void fail(const std::string& what);
  node* find(const region_id& r);
  const node* find(const region_id& r) const;
  node* at_address(const region_id& r);
  void start_ticks(node& n);
  void region_timer(std::uint32_t i, model::region_tick t, nanoseconds every, nanoseconds in);
  void coordinator_timer(std::uint64_t epoch, model::coordinator_tick t, nanoseconds every);

  shard_sim_settings settings_;
  std::mt19937_64 rng_;
  nanoseconds now_{0};
  std::uint64_t next_event_ = 0;
  std::vector<event> events_;                          ///< a binary heap, earliest on top
  std::uint64_t events_run_ = 0;
  std::vector<std::unique_ptr<node>> nodes_;           ///< in start order: oldest first
  std::unordered_map<region_id, std::uint32_t> by_id_;                    ///< every incarnation
  std::unordered_map<cluster::model::address, std::uint32_t> by_address_; ///< the latest one
  std::unordered_map<std::uint64_t, nanoseconds> channel_tail_;           ///< by (from, to) index pair
  std::unique_ptr<model::coordinator_core> coordinator_;
  region_id coordinator_node_;
  std::uint64_t coordinator_epoch_ = 0;
  std::optional<table_figures> checked_table_;  ///< at the last full check (on_change)
  std::uint64_t table_checks_ = 0;
  std::map<model::shard_id, std::set<model::entity_id>> store_;   ///< remember-entities
  std::unordered_map<model::shard_id, region_id> local_at_;       ///< for the invariant
  std::set<model::shard_id> ever_hosted_;
  std::uint64_t moved_ = 0;
  std::uint64_t placement_changes_ = 0;
  nanoseconds last_placement_change_{0};
  std::vector<rebalance_round> rounds_;
  std::map<std::string, std::vector<delivery>> deliveries_;
  std::map<std::pair<std::string, std::uint32_t>, std::set<std::uint64_t>> sent_;
  std::size_t dead_letters_ = 0;
  std::uint64_t protocol_messages_ = 0;
  std::vector<std::uint64_t> to_coordinator_by_kind_;    ///< by coordinator_input index
  std::vector<std::uint64_t> from_coordinator_by_kind_;  ///< by coordinator_output_message index
  std::uint64_t markers_sent_ = 0;
  std::optional<std::string> violation_;
};

}  // namespace troupe::sharding::sim
