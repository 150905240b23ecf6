// coordinator_core: the shard coordinator's decisions, as a pure state machine (Akka's
// `ShardCoordinator` and its `RebalanceWorker`).
//
// The coordinator of one entity type is a cluster singleton. Its actor only delivers
// inputs here and sends what the core puts in its outbox; the simulator (troupe-sim
// --scenario shard-*) drives this same core.
//
//   coordinator_core core{settings, self_id, least_shard(), now};
//   core.on_view(view_of(gossip, role), now);          // on every membership change
//   core.receive(get_shard_home{region, "17"}, now);    // the regions' messages
//   core.on_tick(coordinator_tick::rebalance, now);     // every rebalance-interval
//   core.on_tick(coordinator_tick::timers, now);        // every second: timeouts, retries
//   for (auto& out : core.take_outbox()) send(out.to, out.message);
//
// What it decides:
// 1. Registration. Regions and proxies register; every change of the set is sent to all
//    of them (`region_set`, versioned). A request from an unregistered region is answered
//    with `please_register`.
// 2. Allocation. A shard without a home gets one from the strategy, among the regions that
//    are registered, up, reachable, not shutting down and not being removed; the host is
//    told (`host_shard`, resent every `shard_start_timeout` until `shard_started`), the
//    requesters get `shard_home`. With no such region the request waits.
// 3. Hand-off (a rebalance, or a region's graceful shutdown): `begin_handoff` to every
//    region and proxy; once every reachable one has acknowledged (or `handoff_timeout`
//    passed), `handoff` to the owner naming the regions whose markers it must wait for;
//    on `shard_stopped` the shard has no home, and it is allocated anew at once if someone
//    is waiting for it (or remember-entities is on). A rebalance round starts only when
//    nothing else moves, the table is recovered and no registered region is unreachable
//    (a rebalance is an optimisation; it waits rather than risk a region it cannot hear).
// 4. Removal. A region whose node is removed from the cluster is forgotten after
//    `removal_margin`; its shards have no home, and are allocated again on their next
//    request (at once with remember-entities). A region that asked to shut down is told
//    `graceful_shutdown_ack` once it holds no shard, and may then stop.
// 5. Recovery. A new coordinator (after the old one's node left or crashed) knows nothing
//    at first. It rebuilds the table from the registrations: shards a region hosts are its
//    (a second claim of the same shard is told to stop it); homes that registered regions
//    cached for regions that have not registered yet are reserved for those; the region
//    set of the highest version seen names the regions to wait for. Until every such
//    region still a member has registered, and either every up member has registered or
//    `recovery_timeout` passed, requests wait. So no shard gets a second home because its
//    host was slow to register. While it waits, it asks the regions it waits for (and every
//    up member's) to register, each `timers` tick: a coordinator that starts again on the
//    same node (its singleton stopped while the node was fenced) is not otherwise noticed
//    by regions that know every home they need.
//
// Invariant, checked by tests and the simulator: a shard has at most one home in the
// table, and the core never sends `host_shard` for a shard whose previous home has not
// reported it stopped or been removed.
//
// Pure: no clock reads (time is an argument), no I/O, no threads, no randomness.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/sharding/model/allocation.hpp"
#include "troupe/sharding/model/allocation_table.hpp"
#include "troupe/sharding/model/messages.hpp"

namespace troupe::sharding::model {

using std::chrono::nanoseconds;

/// The coordinator's timing and options; the defaults are Akka's.
struct coordinator_settings {
  nanoseconds rebalance_interval = std::chrono::seconds{10};   ///< between rebalance rounds
  nanoseconds handoff_timeout = std::chrono::seconds{60};      ///< acks, then the owner's stop
  nanoseconds shard_start_timeout = std::chrono::seconds{10};  ///< host_shard resent after this
  nanoseconds recovery_timeout = std::chrono::seconds{2};      ///< registrations after a start
  nanoseconds removal_margin{0};  ///< after a region's node is removed, before its shards move
  bool remember_entities = false; ///< re-home shards at once when they lose their home
};

/// The cluster as the coordinator needs it.
struct member_view {
  std::set<region_id> members;      ///< not removed (any status)
  std::set<region_id> up;           ///< up, with the type's role: may host shards
  std::set<region_id> unreachable;  ///< some observer finds them unreachable
  friend bool operator==(const member_view&, const member_view&) = default;
};

/// The view of `g` for a type hosted on members with `role` ("" for every member).
member_view view_of(const cluster::model::gossip& g, const std::string& role);

/// A message for one region.
struct coordinator_output {
  region_id to;
  coordinator_output_message message;
};

/// The coordinator's periodic inputs.
enum class coordinator_tick : std::uint8_t {
  rebalance,  ///< every rebalance_interval
  timers,     ///< every second: resends, timeouts, removals, recovery, waiting requests
};

/// Counters since start.
struct coordinator_stats {
  std::uint64_t allocations = 0;          ///< homes given to shards
  std::uint64_t rebalances_started = 0;   ///< shards a rebalance round chose to move
  std::uint64_t handoffs_completed = 0;   ///< shards reported stopped by their owner
  std::uint64_t ack_timeouts = 0;         ///< hand-offs that went on without every ack
  std::uint64_t conflicts = 0;            ///< shards claimed by a second region in recovery
  std::uint64_t rejected = 0;             ///< messages from unregistered regions, stale answers
};

class coordinator_core {
 public:
  /// A fresh coordinator (recovering: see the file comment) using `strategy`.
  coordinator_core(coordinator_settings settings, coordinator_id self, std::unique_ptr<allocation_strategy> strategy,
                   nanoseconds now);

  /// The membership changed.
  void on_view(const member_view& view, nanoseconds now);
  /// A region's message.
  void receive(const coordinator_input& m, nanoseconds now);
  /// A periodic duty.
  void on_tick(coordinator_tick t, nanoseconds now);
  /// Remember-entities: shards that must always have a home (read from the store at start).
  void remember_shards(const std::vector<shard_id>& shards, nanoseconds now);

  /// Messages to send, in order; empties the outbox.
  std::vector<coordinator_output> take_outbox();

  /// This coordinator.
  const coordinator_id& self() const noexcept { return self_; }
  /// True until the table is rebuilt (see the file comment).
  bool recovering() const noexcept { return recovering_; }
  /// Who hosts what.
  const allocation_table& table() const noexcept { return table_; }
  /// Shards being handed off.
  std::set<shard_id> handoffs_in_progress() const;
  /// Regions that asked to shut down and still hold shards or hand-offs.
  const std::set<region_id>& shutting_down() const noexcept { return shutting_down_; }
  /// The strategy in use.
  allocation_strategy& strategy() noexcept { return *strategy_; }
  /// Counters.
  const coordinator_stats& stats() const noexcept { return stats_; }
  /// The settings in force.
  const coordinator_settings& settings() const noexcept { return settings_; }

 private:
  struct handoff_worker {
    region_id owner;
    std::uint64_t id = 0;             ///< announced in begin_handoff
    bool acking = true;               ///< waiting for acks; then waiting for shard_stopped
    std::set<region_id> waiting;      ///< acks still missing
    std::vector<region_id> acked;     ///< in ack order
    nanoseconds deadline{0};
  };
  struct host_request {
    region_id region;
    nanoseconds sent{0};
  };

  void on_register(const register_region& m, nanoseconds now);
  void on_get_shard_home(const get_shard_home& m, nanoseconds now);
  void on_begin_handoff_ack(const begin_handoff_ack& m, nanoseconds now);
  void on_shard_stopped(const shard_stopped& m, nanoseconds now);
  void on_graceful_shutdown(const graceful_shutdown_request& m, nanoseconds now);
  void ack_shutdown_if_done(const region_id& r);
  void terminate_region(const region_id& r, nanoseconds now);
  void check_recovered(nanoseconds now);
  void invite_registrations();
  void rebalance(nanoseconds now);
  void start_handoff(const shard_id& s, nanoseconds now);
  void send_handoff(const shard_id& s, handoff_worker& w, nanoseconds now);
  bool try_allocate(const shard_id& s, const region_id& requester, nanoseconds now);
  void answer_waiting(const shard_id& s, nanoseconds now);
  void retry_waiting(nanoseconds now);
  bool may_host(const region_id& r) const;
  const allocation_view& active_view();
  void finish();
  bool is_registered(const region_id& r) const { return table_.is_region(r) || table_.is_proxy(r); }
  void changed_regions() { regions_dirty_ = true; }
  void send(const region_id& to, coordinator_output_message m);
  void flush_region_set();

  coordinator_settings settings_;
  coordinator_id self_;
  std::unique_ptr<allocation_strategy> strategy_;
  allocation_table table_;
  member_view view_;
  bool has_view_ = false;

  // Recovery.
  bool recovering_ = true;
  nanoseconds started_{0};
  std::uint64_t best_regions_version_ = 0;
  std::set<region_id> expected_regions_;           ///< from the region set of the highest version
  std::map<shard_id, region_id> reserved_;         ///< homes cached for unregistered regions

  // Work in progress.
  std::map<shard_id, std::set<region_id>> waiting_;  ///< requesters of shards without a home
  std::map<shard_id, host_request> hosting_;          ///< host_shard sent, no shard_started yet
  std::map<shard_id, handoff_worker> handoffs_;
  std::set<region_id> shutting_down_;
  std::map<region_id, nanoseconds> removing_;         ///< removed from the cluster: forget at
  std::set<shard_id> remembered_;

  std::uint64_t regions_version_ = 0;
  bool regions_dirty_ = false;
  std::uint64_t next_handoff_id_ = 1;
  allocation_view active_;    ///< the regions that may host now, kept in step with the table
  bool active_dirty_ = true;  ///< the set of such regions changed: rebuild `active_`
  std::vector<coordinator_output> outbox_;
  coordinator_stats stats_;
};

}  // namespace troupe::sharding::model
