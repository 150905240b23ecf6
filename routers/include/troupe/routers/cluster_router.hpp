// Cluster-aware routers: routers whose routees follow the cluster's membership.
//
// A group router routes to actors that already exist at given paths on every member (with a
// role, if set); a pool router starts its routees itself, up to a number per node, on the
// members that registered the routee's kind. Members that come up join the routee set,
// unreachable ones leave it until they are reachable again, removed ones for good. The
// routing logics are the local routers' (troupe/actor/routing.hpp): round robin, random,
// consistent hashing by key, broadcast; and `least_loaded()` (troupe/routers/least_loaded.hpp),
// which sends each message to the routee with the fewest messages waiting, by mailbox sizes
// that the routees' nodes report.
//
//   // On every node: the worker, then the group router on the nodes that send work.
//   system.spawn(troupe::props::of<worker>(), "worker");
//   troupe::routers::cluster_router_settings settings;
//   settings.routees_paths = {"/user/worker"};
//   auto router = system.spawn(troupe::routers::cluster_group(settings, troupe::routing::round_robin()),
//                              "workers");
//   router.tell(job{1});
//
//   // A pool: each node that may host routees registers their kind first.
//   troupe::routers::cluster_routers::get(system).register_routee("worker", troupe::props::of<worker>());
//   troupe::routers::cluster_router_settings pool_settings;
//   pool_settings.max_instances_per_node = 2;
//   auto pool = system.spawn(troupe::routers::cluster_pool(pool_settings, "worker", troupe::routing::round_robin()),
//                            "pool");
//
// The cluster must be started on the router's node; every node hosting pool routees
// registers their kind (which starts its routee host and lets the routers' messages decode
// there). Messages to remote routees need their types in the transport's serialization
// registry, as any remote message does.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/props.hpp"
#include "troupe/actor/routing.hpp"
#include "troupe/routers/least_loaded.hpp"
#include "troupe/routers/routee_plan.hpp"

namespace troupe::routers {

/// A router over the actors at `settings.routees_paths` on every eligible member.
props cluster_group(cluster_router_settings settings, routing::logic logic);

/// A router that starts its routees, from the props registered as `routee_kind`, on the
/// eligible members (at most `max_instances_per_node` each, `total_instances` in all).
/// Routees on a node that is removed are gone; the pool then starts others where there is
/// room. A routee that stops is not replaced at once (as in Akka); the next membership
/// change refills the pool.
props cluster_pool(cluster_router_settings settings, std::string routee_kind, routing::logic logic);

/// The extension each node needs to take part in pool routers.
class cluster_routers {
 public:
  explicit cluster_routers(actor_system& system);
  ~cluster_routers();
  cluster_routers(const cluster_routers&) = delete;
  cluster_routers& operator=(const cluster_routers&) = delete;

  static cluster_routers& get(actor_system& system) { return system.extension<cluster_routers>(); }

  /// Pool routers of any node may start routees of `kind` here from `p` (as children of
  /// this node's routee host, /system/cluster-routee-host). Registering a kind again
  /// replaces its props for routees started from then on.
  void register_routee(const std::string& kind, props p);
  /// The props registered as `kind`, if any.
  std::optional<props> routee_props(const std::string& kind) const;
  /// This node's routee host, started on first use (by a kind's registration or a cluster
  /// router here); from then on the routers' messages decode on this node. It answers
  /// `routing::get_routees` with the routees it runs, and least-loaded routers' queries for
  /// the mailbox sizes of this node's routees (so a node hosting a group's routees calls
  /// this once).
  actor_ref host();

 private:
  actor_system& system_;
  mutable std::mutex mutex_;
  std::map<std::string, props> kinds_;
  actor_ref host_;
};

}  // namespace troupe::routers
