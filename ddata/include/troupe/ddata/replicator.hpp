// replicator: Distributed Data on a running cluster (Akka's `DistributedData` extension and
// its `Replicator`). One replicator actor per node, at /system/ddata-replicator, drives a
// `replicator_core` (replicator_core.hpp): it feeds it commands, peers' messages, member
// events and ticks, and carries out what it returns.
//
//   auto& dd = troupe::ddata::distributed_data::get(system);      // the cluster is started
//   troupe::actor_ref repl = dd.replicator();
//   repl.tell(                                                     // inside an actor, which gets the reply
//       troupe::ddata::update_of<troupe::ddata::gcounter>(
//       "hits", troupe::ddata::gcounter{}, [self = dd.self()](troupe::ddata::gcounter& c) { c.increment(self); },
//       troupe::ddata::consistency::majority(3s)));                // replies update_success, ...
//   auto r = dd.ask_get({"hits", troupe::ddata::consistency::majority(3s)}, 5s).get();  // get_response
//   if (auto* ok = std::get_if<troupe::ddata::get_success>(&r))
//     std::cout << ok->value.get_if<troupe::ddata::gcounter>()->value();
//   repl.tell(troupe::ddata::subscribe{"hits", my_actor});        // changed{key, value}, deleted{key}
//
// Requests and replies (the sender of a request gets its reply; `ask` works):
// - `update`  -> update_success | update_timeout | modify_failure | data_deleted | store_failure
// - `get`     -> get_success | not_found | get_failure | data_deleted
// - `remove`  -> delete_success | delete_timeout | data_deleted | store_failure
// (`store_failure`: a durable key's change that the durable store failed to write; it is
// applied in memory and replicated, as a success would have been.)
// - `subscribe` / `unsubscribe`: `changed` and `deleted` notifications, at most one per key
//   and notify interval; a subscriber that stops is unsubscribed.
// Each reply is its own type, for actors; a request with `as_response` set (the `ask_*`
// helpers set it) is answered with one `update_response` / `get_response` /
// `delete_response` variant instead, so one `ask<R>` covers every outcome.
//
// Values travel in the peer protocol (replicator_codec.hpp) through `data_codecs`: the
// built-in types, and those added with `add_type<T>()` before the replicator starts. An
// update of a type without a codec is a `modify_failure`. A value from a peer that cannot
// be decoded is logged with its key (a warning the first time per key and peer, then at
// debug level, as gossip offers it again) and dropped (a write of it is refused with a
// `write_nack`); a peer message that cannot be read at all is dropped by the transport,
// which logs the reason and sends it to dead letters. Requesters and subscribers must be
// local actors: replies and notifications are not registered for the network.
//
// Time: the core's `now` is the wall clock at start plus the time the system's scheduler
// has advanced since, so a manual scheduler drives it and pruning markers stay comparable
// between nodes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/ask.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/ddata/replicator_core.hpp"
#include "troupe/ddata/serializers.hpp"

namespace troupe::ddata {

/// Where every node's replicator lives.
inline constexpr std::string_view replicator_path = "/system/ddata-replicator";

/// The replicator's settings, parsed from JSON and validated once (defaults: Akka's).
///
///   {
///     "gossip-interval-ms": 2000,               a digest to a random peer
///     "notify-subscribers-interval-ms": 500,
///     "delta-propagation-interval-ms": 200,
///     "max-delta-elements": 500,               keys per delta or gossip message
///     "pruning-interval-ms": 120000,
///     "max-pruning-dissemination-ms": 300000,  removal to pruning
///     "pruning-marker-time-to-live-ms": 21600000,
///     "gossip-max-bytes-per-round": 524288,
///     "role": "",                              replicate among members with this role
///     "operation-timeout-check-interval-ms": 100
///   }
struct distributed_data_settings {
  replicator_settings replicator;  ///< the core's
  /// How often read and write timeouts are checked (the `timers` tick).
  std::chrono::nanoseconds timeout_check_interval = std::chrono::milliseconds{100};
  /// The SQLite file of the durable keys (`replicator.durable_keys`); empty: the default,
  /// "ddata-<system>-<port>.db" in the working directory.
  std::string durable_path;
  /// fsync every write of a durable key (survives power loss), not only a killed process.
  bool durable_full_sync = false;

  /// Every key optional, unknown keys are errors; an error names the key and the range.
  static expected<distributed_data_settings, config_error> parse(const nlohmann::json& j);
  /// `parse` of a JSON text.
  static expected<distributed_data_settings, config_error> parse(const std::string& json_text);
  /// `parse` of a JSON text (a string literal).
  static expected<distributed_data_settings, config_error> parse(const char* json_text) {
    return parse(std::string(json_text));
  }
};

/// Update `key`: `modify` the current value (or `initial`) at `write` consistency.
struct update {
  data_key key;
  replicated_data initial;
  modify_function modify;
  consistency write = consistency::local();
  bool as_response = false;  ///< reply with one `update_response`
};
/// Read `key` at `read` consistency.
struct get {
  data_key key;
  consistency read = consistency::local();
  bool as_response = false;  ///< reply with one `get_response`
};
/// Delete `key` for good at `write` consistency (Akka's `Delete`).
struct remove {
  data_key key;
  consistency write = consistency::local();
  bool as_response = false;  ///< reply with one `delete_response`
};
/// Send `subscriber` `changed` / `deleted` for `key`.
struct subscribe {
  data_key key;
  actor_ref subscriber;
};
/// Stop notifying `subscriber` of `key`.
struct unsubscribe {
  data_key key;
  actor_ref subscriber;
};

/// Every outcome of an `update`.
using update_response = std::variant<update_success, update_timeout, modify_failure, data_deleted, store_failure>;
/// Every outcome of a `get`.
using get_response = std::variant<get_success, not_found, get_failure, data_deleted>;
/// Every outcome of a `remove`.
using delete_response = std::variant<delete_success, delete_timeout, data_deleted, store_failure>;

/// An `update` of a `T`: `f(T&)` changes a copy of the current value (`initial` when none).
template <crdt T, class F>
update update_of(data_key key, T initial, F f, consistency c = consistency::local()) {
  return update{std::move(key), replicated_data(std::move(initial)), modify_as<T>(std::move(f)), c};
}

/// The `T` in a `get_success` (or `changed`), or nullptr for another type.
template <crdt T, class R>
const T* value_as(const R& reply) {
  return reply.value.template get_if<T>();
}

class distributed_data {
 public:
  /// Constructed by `actor_system::extension<distributed_data>()`; nothing runs until
  /// `start` (or `replicator`).
  explicit distributed_data(actor_system& system);
  ~distributed_data();
  distributed_data(const distributed_data&) = delete;
  distributed_data& operator=(const distributed_data&) = delete;

  /// The extension of `system`.
  static distributed_data& get(actor_system& system) { return system.extension<distributed_data>(); }

  /// Adds `T` (with a `wire_codec<T>`) to the types the replicator can replicate, and to the
  /// transport's registry. False once the replicator runs (add types before).
  template <crdt T>
  bool add_type() {
    std::lock_guard lock(mutex_);
    if (replicator_) return false;
    codecs_->add<T>();
    register_data_type<T>(serialization());
    return true;
  }

  /// Starts this node's replicator; needs the cluster started. Starting again returns the
  /// running replicator (the settings of the first start stay in force).
  expected<actor_ref, std::string> start(distributed_data_settings settings = {});
  /// The replicator, started with default settings if need be; empty when the cluster is
  /// not started.
  actor_ref replicator();
  /// True once the replicator runs.
  bool is_started() const;
  /// This node's replica id (its cluster unique address), for modify functions.
  replica_id self() const;

  /// Asks the replicator for an update; the ask's `timeout` should exceed the write's.
  ask_result<update_response> ask_update(update u, std::chrono::nanoseconds timeout);
  /// Asks the replicator for a value.
  ask_result<get_response> ask_get(ddata::get g, std::chrono::nanoseconds timeout);
  /// Asks the replicator to delete a key.
  ask_result<delete_response> ask_remove(ddata::remove r, std::chrono::nanoseconds timeout);

 private:
  remote::serialization& serialization();
  actor_system& system_;
  mutable std::mutex mutex_;
  std::shared_ptr<data_codecs> codecs_;
  actor_ref replicator_;
};

}  // namespace troupe::ddata
