// pubsub: Distributed Publish Subscribe on a running cluster (Akka's `DistributedPubSub`
// extension and its `DistributedPubSubMediator`). One mediator actor per node, at
// /system/pubsub-mediator, drives a `mediator_core` (mediator_core.hpp): it feeds it
// commands, peers' gossip, member events, deaths of local actors and ticks, and delivers
// what the core routes.
//
//   auto& ps = troupe::pubsub::distributed_pubsub::get(system);     // the cluster is started
//   troupe::actor_ref mediator = ps.mediator();
//   mediator.tell(troupe::pubsub::subscribe{"news", my_actor});      // subscribe_ack to the sender
//   mediator.tell(troupe::pubsub::subscribe{"jobs", my_worker, "workers"});   // one per group
//   mediator.tell(troupe::pubsub::publish::of("news", headline{"..."}));      // every subscriber
//   mediator.tell(troupe::pubsub::put{my_service});                  // under its path, /user/svc
//   mediator.tell(troupe::pubsub::send::of("/user/svc", request{}, true));    // one, local first
//
// Commands (send them to `mediator()`; the ones that answer reply to the sender):
// - `subscribe` / `unsubscribe` -> `subscribe_ack` / `unsubscribe_ack` (to the sender, or to
//   the subscriber when sent from outside an actor). A subscriber that terminates is
//   unsubscribed everywhere. Subscribers must be actors of this node.
// - `publish`: to every subscriber of the topic in the cluster without a group, and to one
//   subscriber of each group (settings' routing logic). Nobody subscribed: dead letters.
// - `put` (a local actor, under its path without the address) / `remove` (a path);
//   `send` to one actor put under a path, `send_to_all` to every one. Nobody: dead letters.
// - `get_topics` -> `current_topics`; `count_subscribers` -> `subscriber_count`;
//   `count_registered` -> `registered_count`; `get_stats` -> `pubsub_stats` (dead-letter
//   counter, registry size and versions).
//
// Delivery: at most once, and in order per publisher and subscriber: the publishing node
// sends the message straight to each chosen subscriber (through the transport for remote
// ones), keeping the publisher as sender; nothing is relayed through other mediators.
// The registry reaches other nodes by gossip, so a subscription is seen elsewhere one or
// more gossip intervals later; messages published before that miss the new subscriber.
// Messages sent to remote subscribers must be registered with the serialization registry.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json_fwd.hpp>

#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/ask.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/pubsub/mediator_core.hpp"

namespace troupe::pubsub {

/// Where every node's mediator lives.
inline constexpr std::string_view mediator_path = "/system/pubsub-mediator";

/// The mediator's settings, parsed from JSON and validated once (defaults: Akka's).
///
///   {
///     "gossip-interval-ms": 1000,          a status to a random peer
///     "removed-time-to-live-ms": 120000,   tombstones kept this long
///     "max-delta-elements": 3000,          entries per delta message
///     "routing-logic": "random",           or "round-robin": groups and sends
///     "role": ""                           share the registry among members with this role
///   }
struct distributed_pubsub_settings {
  mediator_settings mediator;  ///< the core's
  /// The seed of the core's random choices; 0: the node's uid.
  std::uint64_t seed = 0;

  /// Every key optional, unknown keys are errors; an error names the key and the range.
  static expected<distributed_pubsub_settings, config_error> parse(const nlohmann::json& j);
  /// `parse` of a JSON text.
  static expected<distributed_pubsub_settings, config_error> parse(const std::string& json_text);
  /// `parse` of a JSON text (a string literal).
  static expected<distributed_pubsub_settings, config_error> parse(const char* json_text) {
    return parse(std::string(json_text));
  }
};

/// Subscribe `ref` (a local actor) to `topic`, in `group` ("" for none).
struct subscribe {
  std::string topic;
  actor_ref ref;
  std::string group;  ///< "" for none
  subscribe() = default;
  subscribe(std::string t, actor_ref r, std::string g = {}) : topic(std::move(t)), ref(std::move(r)), group(std::move(g)) {}
};
/// `subscribe` took effect here.
struct subscribe_ack {
  pubsub::subscribe subscribe;
};
/// Unsubscribe `ref` from `topic` in `group`.
struct unsubscribe {
  std::string topic;
  actor_ref ref;
  std::string group;  ///< "" for none
  unsubscribe() = default;
  unsubscribe(std::string t, actor_ref r, std::string g = {})
      : topic(std::move(t)), ref(std::move(r)), group(std::move(g)) {}
};
/// `unsubscribe` took effect here.
struct unsubscribe_ack {
  pubsub::unsubscribe unsubscribe;
};

/// Publish `msg` to `topic`'s subscribers.
struct publish {
  std::string topic;
  message msg;
  /// A publish of `value`.
  template <class T>
  static publish of(std::string topic, T&& value) {
    return publish{std::move(topic), make_message(std::forward<T>(value))};
  }
};

/// Register `ref` (a local actor) under its path without the address ("/user/service").
struct put {
  actor_ref ref;
};
/// Remove the actor put under `path` on this node.
struct remove {
  std::string path;
};
/// Send `msg` to one actor put under `path` (this node's first, with `local_affinity`).
struct send {
  std::string path;
  message msg;
  bool local_affinity = false;
  /// A send of `value`.
  template <class T>
  static send of(std::string path, T&& value, bool local_affinity = false) {
    return send{std::move(path), make_message(std::forward<T>(value)), local_affinity};
  }
};
/// Send `msg` to every actor put under `path` (but this node's, with `all_but_self`).
struct send_to_all {
  std::string path;
  message msg;
  bool all_but_self = false;
  /// A send_to_all of `value`.
  template <class T>
  static send_to_all of(std::string path, T&& value, bool all_but_self = false) {
    return send_to_all{std::move(path), make_message(std::forward<T>(value)), all_but_self};
  }
};

/// Ask for the topics with subscribers anywhere (as this node knows them).
struct get_topics {};
/// The answer to `get_topics`.
struct current_topics {
  std::set<std::string> topics;
};
/// Ask how many subscribers `topic` has anywhere (as this node knows them).
struct count_subscribers {
  std::string topic;
};
/// The answer to `count_subscribers`.
struct subscriber_count {
  std::string topic;
  std::size_t count = 0;
};
/// Ask how many actors are put under `path` anywhere (as this node knows them).
struct count_registered {
  std::string path;
};
/// The answer to `count_registered`.
struct registered_count {
  std::string path;
  std::size_t count = 0;
};
/// Ask for the mediator's counters and registry size.
struct get_stats {};
/// The answer to `get_stats`.
struct pubsub_stats {
  mediator_stats counters;                      ///< dead letters, gossip
  std::size_t live_entries = 0;                 ///< subscriptions and puts, all nodes
  std::map<node_id, std::uint64_t> versions;    ///< the buckets held
};

class distributed_pubsub {
 public:
  /// Constructed by `actor_system::extension<distributed_pubsub>()`; nothing runs until
  /// `start` (or `mediator`).
  explicit distributed_pubsub(actor_system& system);
  ~distributed_pubsub();
  distributed_pubsub(const distributed_pubsub&) = delete;
  distributed_pubsub& operator=(const distributed_pubsub&) = delete;

  /// The extension of `system`.
  static distributed_pubsub& get(actor_system& system) { return system.extension<distributed_pubsub>(); }

  /// Starts this node's mediator; needs the cluster started. Starting again returns the
  /// running mediator (the settings of the first start stay in force).
  expected<actor_ref, std::string> start(distributed_pubsub_settings settings = {});
  /// The mediator, started with default settings if need be; empty when the cluster is
  /// not started.
  actor_ref mediator();
  /// True once the mediator runs.
  bool is_started() const;

  /// Asks the mediator for its counters.
  ask_result<pubsub_stats> ask_stats(std::chrono::nanoseconds timeout);
  /// Asks the mediator how many subscribers `topic` has.
  ask_result<subscriber_count> ask_count(std::string topic, std::chrono::nanoseconds timeout);
  /// Asks the mediator how many actors are put under `path`.
  ask_result<registered_count> ask_registered(std::string path, std::chrono::nanoseconds timeout);

 private:
  actor_system& system_;
  mutable std::mutex mutex_;
  actor_ref mediator_;
};

}  // namespace troupe::pubsub
