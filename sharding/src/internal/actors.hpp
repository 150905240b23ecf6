// The sharding actors' private parts: the messages only regions, coordinators and the
// extension exchange, and the props of the actors that drive the cores.
//
//   /system/sharding                        the guardian (spawns the two below on request)
//   /system/sharding/<type>                 a region or proxy: drives a region_core
//   /system/sharding/<type>Coordinator      the coordinator's singleton manager (hosting nodes)
//     .../singleton                         the coordinator, on the oldest: drives a coordinator_core
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cluster/model/actor_uri.hpp"
#include "troupe/actor.hpp"
#include "troupe/sharding/model/messages.hpp"
#include "troupe/sharding/sharding.hpp"

namespace troupe::sharding::detail {

/// Region -> region: a message for an entity, forwarded by the region its sender used.
/// The receiver refuses it when `to_uid` names an earlier incarnation of its node.
struct region_forward {
  /// The uid of the receiving region's node incarnation: the transport delivers by address,
  /// so the uid is what tells a restarted node at that address apart.
  std::uint64_t to_uid = 0;
  std::string entity_id;  ///< the receiving region maps it to its shard itself, if needed
  troupe::message payload;
  /// Set by the receiving region's front door (never sent): the door counts this message
  /// as on its way through the region (see front_door.hpp).
  bool through_door = false;
};

/// Asks a region for its `region_state` (local only).
struct get_region_state {};
/// Asks a region for its entities per shard (`shard_region_stats`); crosses the network.
struct get_region_stats {};
/// The extension -> a region: hand off every shard and stop (coordinated shutdown).
struct begin_region_shutdown {};
/// The extension -> a coordinator (through the singleton path): an external assignment.
using model::assign_shard;

/// The guardian -> the extension: the child it spawned, or why not.
struct spawn_child {
  std::string name;
  troupe::props props;
};
struct spawned_child {
  std::optional<actor_ref> child;
  std::string error;
};

/// Set once when a region has finished its graceful shutdown (or stopped).
class shutdown_signal {
 public:
  /// Runs the callbacks, once.
  void done() {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(mutex_);
      if (done_) return;
      done_ = true;
      run.swap(callbacks_);
    }
    for (auto& fn : run) fn();
  }
  /// `fn` runs when done (at once if it is).
  void on_done(std::function<void()> fn) {
    {
      std::lock_guard lock(mutex_);
      if (!done_) {
        callbacks_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

 private:
  std::mutex mutex_;
  bool done_ = false;
  std::vector<std::function<void()>> callbacks_;
};

/// What a type's region and coordinator publish for `/metrics`: stored by their actors
/// after each change (relaxed, on lines nobody else writes), read by the management
/// server's thread. The coordinator's counters are those of its incarnation on this node.
struct sharding_gauges {
  std::atomic<std::uint64_t> shards{0}, entities{0}, buffered{0};
  std::atomic<std::uint64_t> started{0}, passivated{0}, handoffs{0}, dropped{0};
  std::atomic<std::uint64_t> allocations{0}, rebalances{0};
};

/// What a region actor is made of.
struct region_params {
  std::string type_name;
  cluster_sharding::entity_factory entity_props;  ///< empty for a proxy
  sharding_settings settings;
  message_extractor extractor;
  bool proxy = false;
  std::shared_ptr<shutdown_signal> shutdown;
  std::shared_ptr<sharding_gauges> gauges = std::make_shared<sharding_gauges>();
};

/// What a coordinator actor is made of.
struct coordinator_params {
  std::string type_name;
  sharding_settings settings;
  std::shared_ptr<sharding_gauges> gauges = std::make_shared<sharding_gauges>();
};

/// The guardian at /system/sharding.
props guardian_props();
/// A region (or proxy) driving a region_core.
props region_props(region_params p);
/// A coordinator driving a coordinator_core (the singleton's child).
props coordinator_props(coordinator_params p);

/// "/system/sharding/<type>".
std::string region_path(const std::string& type_name);
/// "<type>Coordinator": the singleton manager's name under /system/sharding.
std::string coordinator_manager_name(const std::string& type_name);
/// "/system/sharding/<type>Coordinator/singleton".
std::string coordinator_path(const std::string& type_name);
/// `troupe://sys@host:port` of a node (IPv6 in brackets).
using cluster::model::node_uri;
/// The actor name of an entity: its id, with '%', '/', '#', '@', spaces, control characters
/// and a leading '$' percent-encoded ("a/b" -> "a%2Fb").
std::string entity_actor_name(const std::string& entity_id);
/// The inverse of entity_actor_name.
std::string entity_id_of_actor_name(std::string_view name);

}  // namespace troupe::sharding::detail
