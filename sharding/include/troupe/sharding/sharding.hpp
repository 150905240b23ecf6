// sharding: entities addressed by id, each running once somewhere in the cluster, moved
// when nodes join or leave and brought back when a node dies (Akka's cluster sharding,
// Orleans' virtual actors).
//
// Each node starts a shard region per entity type (or a proxy, on client nodes). Messages
// name their entity; a message extractor maps them to an entity id and a shard; the
// coordinator (a cluster singleton on the oldest member) places shards on regions; the
// region that hosts a shard starts its entities on their first message. Messages to a
// local shard never leave the process.
//
//   struct greet { std::string name; };
//   class greeter : public troupe::actor {                 // one per name, somewhere
//    public:
//     explicit greeter(std::string name) : name_(std::move(name)) {}
//     troupe::behavior make_behavior() override {
//       return {[this](const greet&) { ++greeted_; return "hello " + name_; }};
//     }
//    ...
//   };
//
//   auto& sharding = troupe::sharding::cluster_sharding::get(system);   // cluster started
//   auto region = sharding.start("greeter",
//       [](const std::string& id) { return troupe::props::of<greeter>(id); },
//       settings, troupe::sharding::message_extractor::hashing(100).route<greet>(&greet::name));
//   region->tell(greet{"alice"});                                       // through the region
//   auto alice = sharding.entity_ref("greeter", "alice");              // or by handle
//   alice->tell(greet{"alice"});
//   std::string hi = alice->ask<std::string>(greet{"alice"}, 2s).get();
//
// Delivery is at most once, as remoting's, and in order per sender; a rebalance, a
// graceful leave or a move of the coordinator loses, duplicates and reorders nothing.
// Messages that cannot be mapped (no entity id, an empty one) go to dead letters with the
// reason, and so does what overflows a region's buffer. `coordinated_shutdown` hands off
// the node's shards (phase cluster-sharding-shutdown-region) before it leaves.
//
// Every member function may be called from any thread except inside an actor of a manual
// (deterministic) system; `start` waits for the region to exist.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/ask.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/actor/props.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/sharding/model/region_core.hpp"
#include "troupe/sharding/remember_entities.hpp"
#include "troupe/sharding/settings.hpp"

namespace troupe::sharding {

/// A message for the entity `entity_id`, for the default extractor (Akka's ShardingEnvelope);
/// the entity gets `message` itself. It crosses the network when `message` does.
struct sharding_envelope {
  std::string entity_id;
  troupe::message message;
};

/// `sharding_envelope{entity_id, make_message(value)}`.
template <class T>
sharding_envelope envelope_for(std::string entity_id, T&& value) {
  return {std::move(entity_id), make_message(std::forward<T>(value))};
}

/// What an entity sends its parent (the region) to be stopped (Akka's Passivate): the
/// region sends it `stop_message` (a `poison_pill` when empty), holds the messages that
/// arrive meanwhile, and starts it again for them once it has stopped.
struct passivate {
  troupe::message stop_message;
};

/// How messages map to entities (Akka's ShardingMessageExtractor): the entity id of a
/// message (nullopt: not an entity's message), the shard of an id, and what the entity gets.
struct message_extractor {
  std::function<std::optional<std::string>(const message&)> entity_id;
  std::function<std::string(const std::string& entity_id)> shard_id;
  /// The message the entity gets; `sharding_envelope` is unwrapped (its sender kept),
  /// anything else is given as it is.
  std::function<message(message&&)> unwrap;

  /// `sharding_envelope` messages, ids hashed into `number_of_shards` shards with the
  /// stable hash (`model::default_shard_of`): the same shard on every node and build.
  static message_extractor hashing(std::uint32_t number_of_shards);

  /// Also maps messages of type `T`, whose entity id `id_of(const T&)` gives (a member
  /// pointer like `&greet::name` will do). Types added later are checked first.
  template <class T, class F>
  message_extractor& route(F id_of) {
    entity_id = [prev = std::move(entity_id), f = std::move(id_of)](const message& m) -> std::optional<std::string> {
      if (const T* t = m.get_if<T>()) return std::string(std::invoke(f, *t));
      return prev ? prev(m) : std::nullopt;
    };
    return *this;
  }
};

namespace detail {
/// What an `entity_ref` sends to its region: the entity and the message it gets.
struct entity_message {
  std::string entity_id;
  troupe::message payload;
};
}  // namespace detail

/// A handle on one entity, from any node (the Orleans grain reference): messages go
/// through this node's region or proxy, which starts the entity wherever its shard lives.
class entity_ref {
 public:
  /// Sends `msg`; inside an actor the sender is that actor.
  template <class T>
  void tell(T&& msg) const {
    tell(std::forward<T>(msg), actor_ref::share(troupe::detail::current_actor()));
  }
  /// Sends `msg` with an explicit sender (which may be empty).
  template <class T>
  void tell(T&& msg, const actor_ref& sender) const {
    region_.tell(detail::entity_message{id_, make_message(std::forward<T>(msg))}, sender);
  }
  /// Asks the entity, expecting one reply of type `R` within `timeout` (blocks on `get()`).
  template <class R, class T>
  ask_result<R> ask(T&& msg, std::chrono::nanoseconds timeout) const {
    return troupe::ask<R>(*system_, region_, detail::entity_message{id_, make_message(std::forward<T>(msg))},
                          timeout);
  }
  /// The entity type.
  const std::string& type_name() const noexcept { return type_; }
  /// The entity's id.
  const std::string& entity_id() const noexcept { return id_; }
  /// The local region or proxy the messages go through.
  const actor_ref& region() const noexcept { return region_; }

  friend bool operator==(const entity_ref& a, const entity_ref& b) {
    return a.type_ == b.type_ && a.id_ == b.id_;
  }

 private:
  friend class cluster_sharding;
  entity_ref(actor_system* s, actor_ref region, std::string type, std::string id)
      : system_(s), region_(std::move(region)), type_(std::move(type)), id_(std::move(id)) {}
  actor_system* system_;
  actor_ref region_;
  std::string type_;
  std::string id_;
};

/// One region's view of itself (Akka's CurrentShardRegionState, with counters).
struct region_state {
  std::string type_name;
  cluster::model::unique_address region;     ///< this node
  bool proxy = false;
  std::vector<model::shard_entities> shards;  ///< local shards and their entities, sorted
  std::size_t buffered = 0;                   ///< messages waiting for a home
  model::region_stats stats;                  ///< counters since start
  std::uint64_t unmapped = 0;                 ///< messages with no (or an empty) entity id
  /// Messages other regions forwarded that the receiving I/O thread handed straight to
  /// their running entity (docs/sharding.md, "The front door").
  std::uint64_t handed_over = 0;
};

/// Entities per shard of one region.
struct shard_region_stats {
  cluster::model::unique_address region;
  std::map<std::string, std::size_t> shards;  ///< shard -> entities
};

/// Every region of a type (Akka's ClusterShardingStats).
struct cluster_sharding_stats {
  std::vector<shard_region_stats> regions;         ///< those that answered
  std::vector<cluster::model::address> failed;     ///< members that did not answer in time
};

namespace detail {
struct sharding_shared;
}

class cluster_sharding {
 public:
  /// Makes the props of the entity with an id (the id is also the entity's actor name,
  /// percent-encoded where a name may not hold a character).
  using entity_factory = std::function<props(const std::string& entity_id)>;

  /// Constructed by `actor_system::extension<cluster_sharding>()`.
  explicit cluster_sharding(actor_system& system);
  ~cluster_sharding();
  cluster_sharding(const cluster_sharding&) = delete;
  cluster_sharding& operator=(const cluster_sharding&) = delete;

  /// The extension of `system`.
  static cluster_sharding& get(actor_system& system) { return system.extension<cluster_sharding>(); }

  /// Starts this node's region of `type_name` at /system/sharding/<type_name> (and, on a
  /// node with the role, the manager of its coordinator singleton). Needs the cluster
  /// started. Returns the region; an error says why not (no cluster, a bad or taken type
  /// name, a role this node lacks).
  expected<actor_ref, std::string> start(std::string type_name, entity_factory entity_props,
                                         sharding_settings settings, message_extractor extractor);
  /// `start` with `message_extractor::hashing(settings.number_of_shards)`.
  expected<actor_ref, std::string> start(std::string type_name, entity_factory entity_props,
                                         sharding_settings settings);
  /// Starts a region of `type_name` that routes to the regions of the members with
  /// `settings.role` but hosts nothing (Akka's startProxy), for client nodes.
  expected<actor_ref, std::string> start_proxy(std::string type_name, sharding_settings settings,
                                               message_extractor extractor);
  /// `start_proxy` with `message_extractor::hashing(settings.number_of_shards)`.
  expected<actor_ref, std::string> start_proxy(std::string type_name, sharding_settings settings);

  /// The region (or proxy) of `type_name`; an error if none was started here.
  expected<actor_ref, std::string> region(const std::string& type_name) const;
  /// A handle on the entity `entity_id` of `type_name`; an error for an unknown type or an
  /// empty id.
  expected<sharding::entity_ref, std::string> entity_ref(const std::string& type_name, std::string entity_id) const;
  /// The types started here, sorted.
  std::vector<std::string> type_names() const;

  /// This node's region of `type_name`, as it answers within `timeout`.
  expected<sharding::region_state, std::string> region_state(const std::string& type_name,
                                                             std::chrono::nanoseconds timeout) const;
  /// Entities per shard of every up member's region of `type_name`, asked at once; members
  /// that do not answer within `timeout` are listed as failed.
  expected<cluster_sharding_stats, std::string> cluster_stats(const std::string& type_name,
                                                              std::chrono::nanoseconds timeout) const;
  /// External allocation: `shard` of `type_name` should live on `node` (nullopt: no
  /// preference). Sent to the coordinator; an assignment made before the coordinator
  /// moves must be made again for shards that have no home then.
  void assign(const std::string& type_name, const std::string& shard, const std::optional<cluster::model::address>& node);

 private:
  expected<actor_ref, std::string> start_region(std::string type_name, entity_factory entity_props,
                                                sharding_settings settings, message_extractor extractor, bool proxy);
  actor_system& system_;
  std::shared_ptr<detail::sharding_shared> shared_;
};

}  // namespace troupe::sharding
