// replicator_core: one node's Distributed Data replicator, as a pure state machine (Akka's
// `Replicator` with its read and write aggregators).
//
// The replicator actor only delivers inputs to a `replicator_core` and carries out what it
// asks for: no I/O, no threads, no clock reads (time is an argument), and its only random
// choice (the gossip peer) comes from an engine seeded by the caller.
//
//   replicator_core core{settings, self, hooks, seed};
//   core.member_up(peer);                                        // from cluster events
//   core.receive(update_request{7, me, "hits", replicated_data{gcounter{}},
//                               modify_as<gcounter>([&](gcounter& c) { c.increment(self); }),
//                               consistency::majority(3s)}, now);
//   core.receive(envelope_from_peer, now);
//   core.on_tick(replicator_tick::gossip, now);                  // and the other ticks
//   for (auto& m : core.take_outbox()) send(m.to, m);            // peer_envelope
//   for (auto& r : core.take_replies()) tell(r.to, r.message);   // requesters, subscribers
//   for (auto& n : core.take_notices()) log_warning(n.text);
//
// What it decides:
// 1. Local commands. `update` runs `modify` on the current value (or `initial`), keeps the
//    join of the result and the old value, and answers once enough replicas acknowledged the
//    write (`consistency`); a modify that throws or changes the type is a `modify_failure`
//    and changes nothing. `get` merges the entries of enough replicas; a read that found
//    something newer than the local entry writes it locally (read repair). `remove` marks
//    the key deleted for good: later updates and gets answer `data_deleted`.
//    Not enough answers before the timeout: `update_timeout` / `get_failure` /
//    `delete_timeout`, naming how many answered of how many needed. The local entry is
//    changed even when an update times out (as in Akka).
// 2. Propagation. Every `delta_propagation` tick the changes since the last one go to every
//    reachable peer as deltas numbered per key; every `gossip` tick a digest of one chunk of
//    the keys goes to a random reachable peer, and the two exchange the entries whose
//    digests differ, at most `max_delta_elements` keys per message and
//    `gossip_max_bytes_per_round` bytes (by `hooks.size_of`) per gossip interval.
// 3. Values of another type than the local one are never merged: a `write_nack` and a notice.
// 4. Durable keys (`durable_keys`): every change of their entries is listed for the driver
//    to store (`take_durable_writes`), and their stored entries come back with
//    `load_durable` when a node starts again.
// 5. Subscribers get `changed` (or `deleted`) on `notify` ticks only, for keys that changed
//    since the last tick; a new subscriber gets the current value on the next tick.
// 6. Pruning (Akka's "CRDT garbage"): on `prune` ticks, and only when no member is
//    unreachable, the smallest replica among the up members and self (the pruning leader)
//    starts pruning replicas removed more than `max_pruning_dissemination` ago (and unknown
//    replicas found in values); once every member has seen that (so a member that is up but
//    silent holds pruning back), it folds their entries into its own and marks them performed. Every replica then cleans values that arrive with
//    those entries, until the marker expires (`pruning_marker_time_to_live`). Messages from
//    removed replicas are dropped, so a removed node cannot bring its entries back.
//
// Time: `now` must be a time all nodes share (wall-clock since the epoch), because pruning
// markers carry an expiry time; timeouts and intervals only compare `now` with itself.
// Requesters and subscribers are opaque ids the driver maps to actors; a reply echoes the
// request's id (0 for notifications). Peers are `replica_id`s (unique addresses); the core
// drops messages whose `to` is another incarnation of this node.
//
// Pure: links only the CRDT model.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/replica_id.hpp"
#include "troupe/ddata/replicated_data.hpp"
#include "troupe/ddata/replicator_protocol.hpp"

namespace troupe::ddata {

using std::chrono::nanoseconds;

/// The replicator's timing and limits; the defaults are Akka's.
struct replicator_settings {
  nanoseconds gossip_interval = std::chrono::seconds{2};                    ///< between gossip ticks
  nanoseconds notify_subscribers_interval = std::chrono::milliseconds{500}; ///< between notify ticks
  nanoseconds delta_propagation_interval = std::chrono::milliseconds{200};  ///< between delta ticks
  std::size_t max_delta_elements = 500;  ///< keys per delta or gossip message, and per status chunk
  nanoseconds pruning_interval = std::chrono::seconds{120};                 ///< between prune ticks
  nanoseconds max_pruning_dissemination = std::chrono::seconds{300};        ///< removal to pruning
  nanoseconds pruning_marker_time_to_live = std::chrono::hours{6};          ///< performed markers kept
  std::size_t gossip_max_bytes_per_round = 512 * 1024;  ///< entries sent in gossip per interval
  std::string role;  ///< replicate only among members with this role ("" for all)
  /// Keys kept in the durable store: exact names, or prefixes ending in '*' ("cart-*").
  std::vector<std::string> durable_keys;
};

/// How many replicas must take part in a read or a write, and how long to wait for them.
struct consistency {
  enum class level : std::uint8_t { local, from, majority, all };
  level kind = level::local;
  std::size_t n = 1;        ///< for `from`: replicas including self
  std::size_t min_cap = 0;  ///< for `majority`: at least this many
  nanoseconds timeout{0};

  /// This replica only; answered at once.
  static consistency local() { return {}; }
  /// `n` replicas including self.
  static consistency from(std::size_t n, nanoseconds timeout) { return {level::from, n, 0, timeout}; }
  /// N/2+1 of the N replicas (self included), at least `min_cap`, at most N.
  static consistency majority(nanoseconds timeout, std::size_t min_cap = 0) {
    return {level::majority, 0, min_cap, timeout};
  }
  /// Every replica.
  static consistency all(nanoseconds timeout) { return {level::all, 0, 0, timeout}; }
};

/// The replicas (self included) that `c` needs among `cluster_size` N (self included, >= 1):
/// 1 for local; n for from (more than N can only time out, with a reason saying so);
/// min(N, max(N/2+1, min_cap)) for majority; N for all.
std::size_t required_replicas(const consistency& c, std::size_t cluster_size) noexcept;

/// Who asked (an opaque id the driver maps to an actor) and the request's id.
using requester_id = std::uint64_t;
using request_id = std::uint64_t;

/// Computes a key's new value from its current one (or from `initial`). Throwing, or
/// returning a value of another type, fails the update.
using modify_function = std::function<replicated_data(const replicated_data&)>;

/// A `modify_function` for values of type `T`: `f(T&)` mutates a copy of the current value.
/// Throws `std::invalid_argument` (a `modify_failure`) when the current value is no `T`.
template <crdt T, class F>
modify_function modify_as(F f) {
  return [f = std::move(f)](const replicated_data& current) -> replicated_data {
    const T* v = current.get_if<T>();
    if (v == nullptr) {
      throw std::invalid_argument("the value is " + std::string(current.type_tag()) + ", not " + type_tag<T>());
    }
    T copy = *v;
    f(copy);
    return replicated_data(std::move(copy));
  };
}

/// Update `key` (Akka's `Update`).
struct update_request {
  request_id id = 0;
  requester_id requester = 0;
  data_key key;
  replicated_data initial;  ///< the value modified when the key has none
  modify_function modify;
  consistency write = consistency::local();
};
/// Read `key` (Akka's `Get`).
struct get_request {
  request_id id = 0;
  requester_id requester = 0;
  data_key key;
  consistency read = consistency::local();
};
/// Delete `key` for good (Akka's `Delete`).
struct delete_request {
  request_id id = 0;
  requester_id requester = 0;
  data_key key;
  consistency write = consistency::local();
};
/// Send `subscriber` the changes of `key`.
struct subscribe_request {
  requester_id subscriber = 0;
  data_key key;
};
/// Stop sending `subscriber` the changes of `key`.
struct unsubscribe_request {
  requester_id subscriber = 0;
  data_key key;
};

/// Any local command.
using command = std::variant<update_request, get_request, delete_request, subscribe_request, unsubscribe_request>;

/// The update reached enough replicas.
struct update_success {
  data_key key;
};
/// Not enough replicas acknowledged before the timeout (the local value is updated).
struct update_timeout {
  data_key key;
  std::size_t acknowledged = 0;  ///< replicas (self included)
  std::size_t needed = 0;
  std::string reason;
};
/// A durable key's change is applied in memory (and replicated as asked) but could not be
/// written to the durable store (Akka's StoreFailure); `reason` names the file and the
/// database's error. The replicator writes the key again with its next durable write.
struct store_failure {
  data_key key;
  std::string reason;
};
/// `modify` threw or returned another type: nothing changed.
struct modify_failure {
  data_key key;
  std::string reason;
};
/// The value, merged from enough replicas.
struct get_success {
  data_key key;
  replicated_data value;
};
/// No replica asked has the key.
struct not_found {
  data_key key;
};
/// Not enough replicas answered before the timeout.
struct get_failure {
  data_key key;
  std::size_t answered = 0;  ///< replicas (self included)
  std::size_t needed = 0;
  std::string reason;
};
/// The key is deleted.
struct delete_success {
  data_key key;
};
/// The delete is done locally but not enough replicas acknowledged before the timeout.
struct delete_timeout {
  data_key key;
  std::size_t acknowledged = 0;
  std::size_t needed = 0;
};
/// The key was deleted before: updates, gets and deletes of it answer this.
struct data_deleted {
  data_key key;
};
/// For subscribers: the key's current value.
struct changed {
  data_key key;
  replicated_data value;
};
/// For subscribers: the key was deleted.
struct deleted {
  data_key key;
};

/// Any answer to a local command, or a subscriber's notification.
using reply_message = std::variant<update_success, update_timeout, modify_failure, get_success, not_found, get_failure,
                                   delete_success, delete_timeout, data_deleted, changed, deleted, store_failure>;

/// An answer for a requester (`id` of its request; 0 for notifications).
struct local_reply {
  requester_id to = 0;
  request_id id = 0;
  reply_message message;
};

/// Something the driver should log (a peer's value of another type, a delta gap, ...).
struct replicator_notice {
  replica_id peer;  ///< who sent it (self for local events)
  data_key key;
  std::string text;
};

/// The replicator's periodic inputs.
enum class replicator_tick : std::uint8_t {
  gossip,             ///< every gossip_interval: a status to a random peer; resets the byte budget
  delta_propagation,  ///< every delta_propagation_interval
  notify,             ///< every notify_subscribers_interval
  timers,             ///< often (e.g. every 100 ms): timeouts of reads and writes
  prune,              ///< every pruning_interval
};

/// What the core needs to know about values without linking the codec.
struct value_hooks {
  /// A hash of the value, equal for equal values on every node: e.g. a stable hash (never
  /// std::hash) of the type tag and the wire form. Required.
  std::function<std::uint64_t(const replicated_data&)> digest_of;
  /// The value's size in bytes on the wire, for the gossip budget (null: a rough estimate).
  std::function<std::size_t(const replicated_data&)> size_of;
};

/// Counters since construction.
struct replicator_stats {
  std::uint64_t deltas_applied = 0, deltas_ignored = 0, gossip_entries_sent = 0, gossip_entries_merged = 0,
                type_mismatches = 0, pruned = 0, dropped_from_removed = 0;
  std::uint64_t updates = 0, gets = 0, deletes = 0;  ///< local commands received
  /// Updates answered `update_timeout`, `modify_failure`, `data_deleted`.
  std::uint64_t update_timeouts = 0, modify_failures = 0, updates_of_deleted = 0;
  std::uint64_t get_failures = 0, delete_timeouts = 0;  ///< reads and deletes that timed out
  std::uint64_t deltas_sent = 0;                        ///< delta_propagation messages, one per peer and tick
  std::uint64_t gossip_status_sent = 0;                 ///< gossip_status messages (digests, or asking for keys)
  std::uint64_t gossip_sent = 0;                        ///< gossip messages (entries)
  std::uint64_t gossip_bytes_sent = 0;                  ///< their entries' sizes, as the gossip budget counts them
};

class replicator_core {
 public:
  /// The replicator of incarnation `self`, drawing gossip peers from `seed`.
  replicator_core(replicator_settings settings, replica_id self, value_hooks hooks, std::uint64_t seed);

  /// A local command.
  void receive(command c, nanoseconds now);
  /// A peer's message (dropped when meant for another incarnation or from a removed replica).
  void receive(const peer_envelope& env, nanoseconds now);
  /// A periodic duty.
  void on_tick(replicator_tick t, nanoseconds now);

  /// A member is up (ignored for self, for removed replicas and without the settings' role).
  void member_up(const replica_id& node, const std::set<std::string>& roles = {});
  /// A member was removed: never talked to again, its entries pruned later.
  void member_removed(const replica_id& node, nanoseconds now);
  /// A member became unreachable (no gossip or deltas to it; pruning waits).
  void member_unreachable(const replica_id& node);
  /// A member became reachable again.
  void member_reachable(const replica_id& node);

  /// Messages for peers, in order; empties the outbox.
  std::vector<peer_envelope> take_outbox();
  /// Answers and notifications, in order; empties the list.
  std::vector<local_reply> take_replies();
  /// Things to log; empties the list.
  std::vector<replicator_notice> take_notices();
  /// Durable keys whose entries changed since the last call, with their entries now (a
  /// deleted key as a deleted entry), in key order; empties the list. The driver stores
  /// them before it sends the replies taken with them.
  std::vector<std::pair<data_key, data_envelope>> take_durable_writes();
  /// An entry of a durable key read back from the store at start, before any other input:
  /// set as it was stored, not written back, not sent as a delta (gossip spreads it).
  void load_durable(const data_key& key, data_envelope e);
  /// Whether `key` is one of the settings' durable keys.
  bool is_durable(const data_key& key) const;

  /// This incarnation.
  const replica_id& self() const noexcept { return self_; }
  /// The entry of `key`, or nullptr.
  const data_envelope* entry(const data_key& key) const;
  /// Every entry.
  const std::map<data_key, data_envelope>& entries() const noexcept { return entries_; }
  /// The members replicated to (self excluded).
  const std::set<replica_id>& peers() const noexcept { return peers_; }
  /// Removed replicas whose entries are (or will be) pruned, with the time they were seen removed.
  const std::map<replica_id, nanoseconds>& removed_replicas() const noexcept { return removed_; }
  /// Entries of deleted keys (the rest of `entries()` hold values).
  std::size_t deleted_count() const noexcept { return deleted_count_; }
  /// Reads and writes waiting for answers.
  std::size_t pending_operations() const noexcept { return ops_.size(); }
  /// The digest of `key`'s entry (`not_found_digest` when absent).
  digest digest_of(const data_key& key) const;
  /// Counters.
  const replicator_stats& stats() const noexcept { return stats_; }
  /// The settings in force.
  const replicator_settings& settings() const noexcept { return settings_; }

 private:
  struct pending_op {
    enum class kind : std::uint8_t { update, get, remove } what = kind::update;
    requester_id requester = 0;
    request_id id = 0;
    data_key key;
    std::size_t needed = 1;
    nanoseconds deadline{0};
    std::set<replica_id> acked;  ///< answers (self counted apart)
    std::set<replica_id> nacked;
    std::optional<data_envelope> merged;  ///< reads: the join of the answers
  };
  struct pending_delta {
    std::uint64_t from_seq = 0;
    std::uint64_t to_seq = 0;
  };

  void on_update(update_request r, nanoseconds now);
  void on_get(const get_request& r, nanoseconds now);
  void on_delete(const delete_request& r, nanoseconds now);
  void on_write(const replica_id& from, const write& w, nanoseconds now);
  void on_write_answer(const replica_id& from, std::uint64_t op, bool ok, nanoseconds now);
  void on_read(const replica_id& from, const read& r);
  void on_read_result(const replica_id& from, const read_result& r, nanoseconds now);
  void on_deltas(const replica_id& from, const delta_propagation& d, nanoseconds now);
  void on_status(const replica_id& from, const gossip_status& s);
  void on_gossip(const replica_id& from, const gossip& g, nanoseconds now);

  void gossip_tick();
  void delta_tick();
  void notify_tick();
  void timers_tick(nanoseconds now);
  void prune_tick(nanoseconds now);

  /// Merges `incoming` into `key`'s entry (creating it); false (and a notice) on a type
  /// mismatch. `as_delta`: `incoming.data` is a delta.
  bool merge_in(const replica_id& from, const data_key& key, const data_envelope& incoming, bool as_delta,
                nanoseconds now);
  void set_entry(const data_key& key, data_envelope e);
  void start_op(pending_op op, const peer_message& request);
  void finish_op(std::uint64_t op, bool timed_out, nanoseconds now);
  bool op_done(const pending_op& op) const;
  std::size_t cluster_size() const noexcept { return peers_.size() + 1; }
  bool is_pruning_leader() const;
  bool is_removed(const replica_id& r) const { return departed_.count(r) > 0; }
  std::size_t entry_size(const data_envelope& e) const;
  void reply(requester_id to, request_id id, reply_message m);
  void send(const replica_id& to, peer_message m);
  void notice(const replica_id& peer, const data_key& key, std::string text);

  replicator_settings settings_;
  replica_id self_;
  value_hooks hooks_;
  std::mt19937_64 rng_;

  std::map<data_key, data_envelope> entries_;
  mutable std::map<data_key, digest> digests_;  ///< cache; erased when the entry changes

  std::set<replica_id> peers_;
  std::set<replica_id> unreachable_;
  std::set<replica_id> departed_;               ///< removed replicas, forever
  std::map<replica_id, nanoseconds> removed_;   ///< removed replicas to prune, since

  std::map<data_key, pending_delta> pending_deltas_;  ///< own changes not sent as deltas yet

  std::uint64_t next_op_ = 1;
  std::map<std::uint64_t, pending_op> ops_;

  std::map<data_key, std::set<requester_id>> subscribers_;
  std::map<data_key, std::set<requester_id>> new_subscribers_;
  std::set<data_key> changed_;
  std::set<data_key> durable_dirty_;  ///< durable keys changed since take_durable_writes
  std::size_t deleted_count_ = 0;     ///< entries with `deleted` set

  std::uint64_t status_round_ = 0;
  std::size_t gossip_bytes_left_ = 0;
  bool gossip_budget_untouched_ = true;

  std::vector<peer_envelope> outbox_;
  std::vector<local_reply> replies_;
  std::vector<replicator_notice> notices_;
  replicator_stats stats_;
};

}  // namespace troupe::ddata
