// singleton: one instance of an actor in the whole cluster, on its oldest member (Akka's
// ClusterSingletonManager and ClusterSingletonProxy).
//
// Spawn a manager at the same path on every node (or every node with the role); the
// singleton runs as its child `<manager path>/<singleton_name>` on the oldest member only.
// Talk to it through a proxy, from any node:
//
//   troupe::sharding::singleton_settings s;
//   s.role = "backend";
//   system.spawn(troupe::sharding::singleton_manager::props(troupe::props::of<consumer>(), s),
//                "consumer");                                  // /user/consumer on every node
//   troupe::sharding::singleton_proxy_settings ps;
//   ps.role = "backend";
//   auto proxy = system.spawn(troupe::sharding::singleton_proxy::props("/user/consumer", ps),
//                             "consumerProxy");
//   proxy.tell(work{42});                                       // to /user/consumer/singleton
//   auto n = troupe::ask<int>(system, proxy, how_many{}, 2s).get();   // the sender is kept
//
// Where and when it runs (troupe/sharding/model/singleton_core.hpp has the details):
// - On the oldest member with the role (lowest up number). A downed member keeps that place
//   until it is removed, so after a crash the next oldest starts the singleton only once
//   the crashed member has been removed (plus `removal_margin`), never before.
// - When the oldest leaves gracefully, the next oldest asks it to hand over
//   (`hand_over_to_me`, every `hand_over_retry_interval`); the leaving node stops its
//   singleton with `termination_message` and answers `hand_over_done` once it has
//   terminated; only then does the new one start. The leaving node's coordinated shutdown
//   waits for that (phase cluster-exiting).
// - Fencing: a node that sees itself on the losing side of a partition (the cluster's
//   split brain resolver, `cluster_settings::downing`, would down it) stops its singleton
//   at once, long before the winning side downs and removes it; so the winners can start
//   it right after the removal without a second instance (Akka needs a
//   down-removal-margin for that). Without a downing provider nothing is fenced.
//
// The manager needs the cluster started (`troupe::cluster::cluster::get(system).start`)
// before it is spawned; without it, it logs why and stops. The managers' messages cross the
// network as CBOR (troupe/sharding/singleton_protocol.hpp), registered by the manager.
//
// Left out: lease-based singletons (Akka's use-lease), data centres, and buffering in the
// manager (messages go through the proxy, which buffers).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/actor/messages.hpp"
#include "troupe/actor/props.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/sharding/model/singleton_core.hpp"
#include "troupe/sharding/singleton_protocol.hpp"

namespace troupe::sharding {

/// How a singleton manager runs its singleton; the defaults are Akka's.
struct singleton_settings {
  /// The singleton's actor name under the manager.
  std::string singleton_name = "singleton";
  /// Run only on members with this role; empty: any member.
  std::string role;
  /// Between two hand-over requests to a previous oldest that has not answered.
  std::chrono::nanoseconds hand_over_retry_interval = std::chrono::seconds{1};
  /// Retry intervals after a previous oldest that left has been removed, before it is given
  /// up on without an answer (Akka's min-number-of-hand-over-retries).
  std::size_t max_hand_over_retries = 15;
  /// After a crashed (downed) previous oldest is removed, before the singleton starts here.
  /// 0 is safe with a downing provider: the losing side has fenced itself long before.
  std::chrono::nanoseconds removal_margin{0};
  /// What stops the singleton (Akka's terminationMessage); empty: a `poison_pill`.
  std::function<troupe::message()> termination_message = [] { return make_message(poison_pill{}); };
};

/// Spawns the singleton on the oldest member and hands it over (one per node, same path).
class singleton_manager {
 public:
  /// A manager of the singleton made from `singleton`.
  static troupe::props props(troupe::props singleton, singleton_settings settings);
};

/// Ask a manager (local) for `singleton_manager_state`.
struct get_singleton_state {};
/// What a manager knows, for tests and tools.
struct singleton_manager_state {
  model::singleton_state state = model::singleton_state::start;  ///< where it is in the protocol
  actor_ref singleton;                                           ///< the child while it lives
  std::optional<cluster::model::unique_address> oldest;          ///< the oldest with the role
  bool fenced = false;                                           ///< on the losing side of a partition
};

/// How a proxy finds the singleton; the defaults are Akka's.
struct singleton_proxy_settings {
  /// The singleton's actor name under the manager.
  std::string singleton_name = "singleton";
  /// The managers' role; empty: any member.
  std::string role;
  /// Between two identify requests while the singleton is not found.
  std::chrono::nanoseconds identify_interval = std::chrono::seconds{1};
  /// Messages held while the singleton is not found; beyond that the oldest held message
  /// goes to dead letters (and is counted).
  std::size_t buffer_size = 1000;
};

/// Forwards every message to the singleton, wherever it runs (Akka's ClusterSingletonProxy).
class singleton_proxy {
 public:
  /// A proxy for the singleton of the managers at `manager_path` ("/user/consumer").
  static troupe::props props(std::string manager_path, singleton_proxy_settings settings);
};

/// Ask a proxy (local) for `singleton_proxy_state`.
struct get_singleton_proxy_state {};
/// What a proxy knows and has done.
struct singleton_proxy_state {
  actor_ref singleton;          ///< the singleton, once identified
  std::size_t buffered = 0;     ///< messages held until it is found
  std::uint64_t forwarded = 0;  ///< messages sent on to it
  std::uint64_t dropped = 0;    ///< held messages that overflowed to dead letters
};

}  // namespace troupe::sharding
