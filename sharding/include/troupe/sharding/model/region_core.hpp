// region_core: one node's shard region of one entity type, as a pure state machine (Akka's
// `ShardRegion` and `Shard` in one, since troupe's shards are data, not actors).
//
// The region actor extracts each message's entity and shard, asks `route`, and does what
// it says; everything else (registering with the coordinator, caching shard homes,
// hosting shards, starting and passivating entities, hand-offs, remember-entities) is
// decided here and comes out of `take_effects` as effects the actor carries out. Messages
// themselves never enter the core: when one must wait, the actor keeps it under a token
// and the core keeps the token.
//
//   region_core core{settings, self};
//   core.set_coordinator(oldest_node, now);                // the coordinator's node
//   route_decision d = core.route("alice", "17", false);   // hot path: no allocation
//   switch (d.kind) {
//     case route_kind::deliver: entity_at(d.slot).tell(msg); break;
//     case route_kind::start:   start(d.slot, ...); entity_at(d.slot).tell(msg); break;
//     case route_kind::forward: region_at(d.region).tell(region_forward{...}); break;
//     case route_kind::buffer:  if (!core.buffer("alice", "17", keep(msg), false)) drop(msg); break;
//   }
//   for (auto& e : core.take_effects()) carry_out(e);
//
// Rules:
// 1. Homes. A message for a shard whose home is unknown waits (at most `buffer_size`
//    messages per region, then dead letters) while the core asks the coordinator, again
//    every `retry_interval`. Once the home is known, waiting messages go there in order.
// 2. Hosting. `host_shard` (or a `shard_home` naming this region) makes a shard local;
//    with remember-entities its entities are loaded and started first. An entity starts on
//    its first message (with remember-entities, after the store has recorded it).
// 3. Passivation. An entity idle for `idle_timeout` (checked every half of it, so after
//    between 1 and 1.5 times the timeout) is stopped; so is the least recently used one
//    when starting another would exceed `active_entity_limit`; so is one that asks.
//    Messages arriving while it stops wait and start it again.
// 4. Hand-off (see messages.hpp). On `begin_handoff` every region stops sending the shard
//    to its owner, sends the owner its marker and buffers. The owner delivers what other
//    regions forwarded until it has their markers (messages of local senders wait), then
//    stops the shard's entities with the stop message, restarting any that stopped with
//    messages waiting so they are delivered first, and reports `shard_stopped`. Markers or
//    entities missing after `handoff_timeout` are given up (entities stopped by force).
// 5. Coordinator changes. A region registers with the coordinator on the node the caller
//    names (the oldest member), takes orders only from the one that acknowledged it, and
//    re-registers when it moves; a hand-off that had not started stopping entities is
//    abandoned then (the shard stays), since the new coordinator will not finish it.
// 6. Fencing. While `set_fenced(true)` (this node is on the side the split brain resolver
//    would down), local entities are stopped and their messages wait; nothing runs here
//    that the surviving side may start elsewhere.
// 7. Graceful shutdown. `begin_shutdown` asks the coordinator to hand off every local
//    shard; `shutdown_complete` comes out once the coordinator has said none is left here
//    (so a host_shard already on its way is hosted and handed off, not lost), no shard is
//    local and no message waits.
//
// Pure: no clock reads (time is an argument), no I/O, no threads, no randomness.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "troupe/sharding/model/messages.hpp"

namespace troupe::sharding::model {

using std::chrono::nanoseconds;

/// A region's options; the defaults are Akka's.
struct region_settings {
  bool proxy = false;                    ///< routes only, never hosts
  std::size_t buffer_size = 100'000;     ///< messages waiting for a home, per region
  std::optional<nanoseconds> idle_timeout = std::chrono::seconds{120};  ///< nullopt: no idle passivation
  std::size_t active_entity_limit = 0;   ///< 0: no limit; else least recently used is passivated
  nanoseconds handoff_timeout = std::chrono::seconds{60};   ///< markers and entity stops
  nanoseconds retry_interval = std::chrono::seconds{2};     ///< register, get_shard_home, shutdown
  bool remember_entities = false;        ///< entities restart after a move, a crash or a stop
  nanoseconds entity_restart_backoff = std::chrono::seconds{10};  ///< remembered entity that stopped itself
};

/// What to do with one message (see `route`).
enum class route_kind : std::uint8_t {
  deliver,  ///< to the running entity in `slot`
  start,    ///< start the entity in `slot` (its record exists now), then deliver
  forward,  ///< to region `region` (an index: `region_at`)
  buffer,   ///< keep it under a token and call `buffer`
};

/// The answer of `route`.
struct route_decision {
  route_kind kind = route_kind::buffer;
  std::uint32_t slot = 0;    ///< deliver, start
  std::uint32_t region = 0;  ///< forward
};

/// Why an entity is being stopped.
enum class stop_cause : std::uint8_t {
  idle,       ///< passivated: idle for the idle timeout
  limit,      ///< passivated: the active-entity limit needed room
  requested,  ///< passivated: the entity asked (`passivate`)
  handoff,    ///< its shard moves
  fence,      ///< this node is on the losing side of a partition
};

/// "idle", "limit", "requested", "handoff", "fence".
std::string_view to_string(stop_cause c) noexcept;

/// Why a waiting message is given up.
enum class drop_reason : std::uint8_t {
  buffer_full,   ///< more than `buffer_size` messages waiting
  proxy_host,    ///< a proxy was told to host (a bug elsewhere): nothing can run it here
};

/// "the region's buffer is full", ...
std::string_view to_string(drop_reason r) noexcept;

// ---- effects ----

/// Start the entity `entity` of `shard` in `slot` (spawn it; later effects use the slot).
struct start_entity {
  std::uint32_t slot;
  entity_id entity;
  shard_id shard;
};
/// Send the entity in `slot` the stop message (`force`: stop it outright; it did not stop).
struct stop_entity {
  std::uint32_t slot;
  stop_cause cause;
  bool force = false;
};
/// Give the waiting message `token` to the entity in `slot`.
struct deliver_buffered {
  std::uint64_t token;
  std::uint32_t slot;
};
/// Send the waiting message `token` to region `region` (an index).
struct forward_buffered {
  std::uint64_t token;
  std::uint32_t region;
};
/// The waiting message `token` goes to dead letters.
struct drop_buffered {
  std::uint64_t token;
  drop_reason reason;
};
/// A message for the coordinator, on the node `node`.
struct send_to_coordinator {
  region_id node;
  coordinator_input message;
};
/// The hand-off marker for region `region` (an index), sent the way messages are forwarded.
struct send_marker {
  std::uint32_t region;
  handoff_marker marker;
};
/// Remember-entities: record that `started` run and `stopped` no longer do; answer with
/// `remembered_written(request)`.
struct write_remembered {
  std::uint64_t request;
  shard_id shard;
  std::vector<entity_id> started;
  std::vector<entity_id> stopped;
};
/// Remember-entities: read the entities of `shard`; answer with `remembered_loaded`.
struct load_remembered {
  shard_id shard;
};
/// The graceful shutdown is done: the region may stop.
struct shutdown_complete {};

using region_effect = std::variant<start_entity, stop_entity, deliver_buffered, forward_buffered, drop_buffered,
                                   send_to_coordinator, send_marker, write_remembered, load_remembered,
                                   shutdown_complete>;

/// The region's periodic inputs.
enum class region_tick : std::uint8_t {
  retry,        ///< every retry_interval: register, get_shard_home, shutdown; timeouts
  passivation,  ///< every half idle_timeout
};

/// Counters since start.
struct region_stats {
  std::uint64_t started = 0;          ///< entities started
  std::uint64_t passivated = 0;       ///< entities stopped by passivation
  std::uint64_t buffered = 0;         ///< messages that waited
  std::uint64_t dropped = 0;          ///< waiting messages given up (buffer full)
  std::uint64_t forwarded = 0;        ///< route decisions and buffered messages sent to other regions
  std::uint64_t handoffs = 0;         ///< local shards handed off
  std::uint64_t marker_timeouts = 0;  ///< hand-offs that went on without every marker
  std::uint64_t forced_stops = 0;     ///< entities stopped by force after the hand-off timeout
  std::uint64_t rejected = 0;         ///< orders from a coordinator it is not registered with
};

/// One local shard and its entities (sorted), for queries.
struct shard_entities {
  shard_id shard;
  std::vector<entity_id> entities;
  friend bool operator==(const shard_entities&, const shard_entities&) = default;
};

class region_core {
 public:
  region_core(region_settings settings, region_id self);
  ~region_core();
  region_core(const region_core&) = delete;
  region_core& operator=(const region_core&) = delete;

  // ---- messages for entities ----

  /// Where a message for `entity` of `shard` goes now. `from_region`: it was forwarded by
  /// another region (not from a local sender). Allocation-free when the entity runs here
  /// or the home is cached.
  route_decision route(std::string_view entity, std::string_view shard, bool from_region);
  /// The hot path, before the shard is even known: the slot of `entity` when it runs here
  /// and its shard takes this sender's messages now (touched as `route` would); nullopt:
  /// ask `route`.
  std::optional<std::uint32_t> running_slot(std::string_view entity, bool from_region) noexcept;
  /// The slot `running_slot` would give now, without touching the entity: a message from
  /// `from_region` for `entity` may go straight to it until the entity stops (a
  /// `stop_entity` effect, `passivate` or `entity_terminated`), which is what the region's
  /// front door relies on.
  std::optional<std::uint32_t> deliverable_slot(std::string_view entity, bool from_region) const noexcept;
  /// After `route` said buffer: keep `token` (false: the buffer is full, drop the message).
  bool buffer(std::string_view entity, std::string_view shard, std::uint64_t token, bool from_region);

  // ---- the cluster and the coordinator ----

  /// The node the coordinator runs on (the oldest member with the role); nullopt: none.
  void set_coordinator(const std::optional<region_id>& node, nanoseconds now);
  /// A message from a coordinator.
  void receive(const coordinator_output_message& m, nanoseconds now);
  /// A marker from another region.
  void receive(const handoff_marker& m, nanoseconds now);
  /// True while this node is on the losing side of a partition (see the file comment).
  void set_fenced(bool fenced, nanoseconds now);
  /// Starts the graceful shutdown (see the file comment).
  void begin_shutdown(nanoseconds now);

  // ---- entities ----

  /// The entity in `slot` asks to be passivated; true: send it its stop message now.
  bool passivate(std::uint32_t slot, nanoseconds now);
  /// The entity in `slot` has stopped (for any reason).
  void entity_terminated(std::uint32_t slot, nanoseconds now);
  /// Remember-entities: the store answered `load_remembered`.
  void remembered_loaded(const shard_id& shard, const std::vector<entity_id>& entities, nanoseconds now);
  /// Remember-entities: the store finished `write_remembered(request)`.
  void remembered_written(std::uint64_t request, nanoseconds now);

  /// A periodic duty.
  void on_tick(region_tick t, nanoseconds now);

  /// Effects to carry out, in order; empties the list.
  std::vector<region_effect> take_effects();
  /// True when `take_effects` would return something.
  bool has_effects() const noexcept { return !effects_.empty(); }

  // ---- queries ----

  /// This region.
  const region_id& self() const noexcept { return self_; }
  /// The region with index `i` (from `route` or an effect).
  const region_id& region_at(std::uint32_t i) const { return regions_.at(i); }
  /// The coordinator it is registered with, if any.
  const std::optional<coordinator_id>& coordinator() const noexcept { return coordinator_; }
  /// The local shards with their entities, sorted.
  std::vector<shard_entities> local_shards() const;
  /// Number of local shards.
  std::size_t local_shard_count() const noexcept { return local_.size(); }
  /// The ids of the local shards (hosted here, whatever their phase).
  const std::set<shard_id>& local_shard_ids() const noexcept { return local_; }
  /// Number of entities (running, starting or stopping) here.
  std::size_t entity_count() const noexcept;
  /// Messages waiting.
  std::size_t buffered_count() const noexcept { return buffered_total_; }
  /// The home of `shard` as cached here (this region for a local one).
  std::optional<region_id> cached_home(std::string_view shard) const;
  /// The entity id in `slot`, if the slot is in use.
  const entity_id* entity_at(std::uint32_t slot) const;
  /// The slot of `entity` while it has a record here (starting, running or stopping).
  std::optional<std::uint32_t> slot_of(std::string_view entity) const noexcept;
  /// True once `begin_shutdown` ran and no local shard is left.
  bool shutdown_done() const noexcept { return shutdown_done_; }
  /// Counters.
  const region_stats& stats() const noexcept { return stats_; }
  /// The settings in force.
  const region_settings& settings() const noexcept { return settings_; }

 private:
  struct entity;
  struct shard;
  struct waiting_message {
    std::uint64_t token;
    entity_id entity;
    bool from_region;
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept;
  };
  using shard_map = std::unordered_map<shard_id, shard, string_hash, std::equal_to<>>;
  class entity_table;

  bool accepts(const shard& sh, bool from_region) const noexcept;
  shard& shard_for(std::string_view s);
  entity& new_entity(shard& sh, std::string_view e);
  void run(entity& en, shard& sh);
  void deliver_or_keep(shard& sh, std::string_view e, std::uint64_t token, bool from_region);
  void hold(shard& sh, waiting_message w);
  void flush_waiting(shard& sh);
  void make_local(shard& sh);
  void loaded(shard& sh);
  void make_remote(shard& sh, std::uint32_t region);
  void make_unknown(shard& sh);
  void request_home(shard& sh);
  void on_register_ack(const register_ack& m);
  void on_host(const shard_id& s);
  void on_shard_home(const shard_home& m);
  void on_begin_handoff(const begin_handoff& m);
  void on_handoff(const handoff& m, nanoseconds now);
  void on_region_set(const region_set& m);
  void count_marker(shard& sh);
  void maybe_start_stopping(shard& sh, nanoseconds now);
  void start_stopping(shard& sh, nanoseconds now);
  void maybe_finish_handoff(shard& sh);
  void abandon_handoffs();
  void stop(entity& en, stop_cause cause);
  void passivate_for_limit(const entity* except);
  void touch(entity& en) noexcept;
  void link_front(entity& en) noexcept;
  void unlink(entity& en) noexcept;
  void park_on_shard(entity& en, shard& sh);
  void erase_entity(entity& en);
  void write_if_needed(shard& sh);
  void send_register(nanoseconds now);
  void to_coordinator(coordinator_input m);
  void check_shutdown();
  std::uint32_t region_index(const region_id& r);
  bool accept(const coordinator_id& c);

  region_settings settings_;
  region_id self_;
  std::uint32_t self_index_ = 0;

  std::optional<region_id> coordinator_node_;
  std::optional<coordinator_id> coordinator_;
  std::optional<coordinator_id> last_acked_;
  nanoseconds last_register_{0};

  std::uint64_t regions_version_ = 0;
  std::vector<region_id> known_regions_;

  std::vector<region_id> regions_;  ///< by index
  std::map<region_id, std::uint32_t> region_indices_;

  shard_map shards_;
  std::set<shard_id> local_;  ///< shards whose `where` is local
  std::unique_ptr<entity_table> entities_;  ///< the entity records by slot, indexed by id
  entity* lru_head_ = nullptr;  ///< most recently used running entity (with a limit only)
  entity* lru_tail_ = nullptr;
  std::size_t running_ = 0;     ///< entities running, not stopping
  std::uint32_t epoch_ = 0;     ///< passivation ticks so far

  struct marker_key {
    region_id from;
    coordinator_id coordinator;
    std::uint64_t id;
    friend auto operator<=>(const marker_key&, const marker_key&) = default;
  };
  std::map<shard_id, std::map<marker_key, nanoseconds>> markers_;  ///< received, with when
  nanoseconds now_{0};                                             ///< of the last timed input
  std::size_t buffered_total_ = 0;
  std::uint64_t next_request_ = 1;
  std::map<std::uint64_t, shard_id> writes_in_flight_;

  bool fenced_ = false;
  bool shutting_down_ = false;
  bool shutdown_acked_ = false;  ///< the coordinator said this region holds no shard
  bool shutdown_done_ = false;
  nanoseconds last_shutdown_request_{0};

  std::vector<region_effect> effects_;
  region_stats stats_;
};

}  // namespace troupe::sharding::model
