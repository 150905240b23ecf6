// cluster: this actor system as a member of a cluster (Akka's `Cluster` extension).
//
// `start` brings up the transport (unless it already runs), registers the cluster
// protocol and starts the cluster daemon at `/system/cluster`, which drives the pure
// membership model (troupe/cluster/model): joining through seed nodes, push-pull gossip
// on the control lane, the heartbeat ring with phi accrual failure detection,
// reachability, the leader's actions and the split brain resolver as downing provider.
// With seed nodes in the settings it joins them at once.
//
//   troupe::actor_system system("shop");
//   auto settings = troupe::cluster::cluster_settings::parse_file("cluster.json").value();
//   auto& cluster = troupe::cluster::cluster::get(system);
//   cluster.register_on_member_up([] { std::cout << "up\n"; });
//   if (auto started = cluster.start(settings); !started) return fail(started.error());
//   cluster.subscribe(listener, troupe::cluster::member_events | troupe::cluster::reachability_events);
//   ...
//   cluster.leave();                       // graceful: leaving -> exiting -> removed
//   system.await_termination();            // coordinated shutdown ends the system
//
// A node that is downed or removed stops taking part at once (it never serves as a second
// cluster) and, with `run-coordinated-shutdown-when-down` (the default), runs the actor
// system's coordinated shutdown. Running coordinated shutdown on an up member (Ctrl-C in
// the samples) first leaves the cluster gracefully.
//
// Every member function may be called from any thread. `state` and `self_member` are
// copies of the daemon's latest published view.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/metrics.hpp"
#include "troupe/cluster/events.hpp"
#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/settings.hpp"

namespace troupe::cluster {

namespace detail {
struct cluster_shared;
}
class management_server;
class seed_discovery;
struct management_request;
struct management_response;

/// The daemon's path on every node.
inline constexpr const char* daemon_path = "/system/cluster";

/// Counters since start (for the idle-cost benchmark and monitoring).
struct cluster_stats {
  std::uint64_t gossip_sent = 0;          ///< full gossips
  std::uint64_t gossip_status_sent = 0;   ///< version digests
  std::uint64_t gossip_received = 0;
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t rejected_messages = 0;    ///< malformed or for another incarnation
  std::uint64_t view_changes = 0;
  std::uint64_t leader_changes = 0;       ///< `leader_changed` events seen by this node
  bool converged = false;                 ///< this node's view has convergence now
};

class cluster {
 public:
  /// Constructed by `actor_system::extension<cluster>()`; nothing runs until `start`.
  explicit cluster(actor_system& system);
  ~cluster();
  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// The extension of `system`.
  static cluster& get(actor_system& system) { return system.extension<cluster>(); }

  /// Starts the transport with `settings.remote` (the control lane also carries
  /// `/system/cluster`), then the daemon; joins `settings.seed_nodes` if there are any.
  /// With `management.enabled`, also serves the HTTP management endpoints
  /// (troupe/cluster/management.hpp). Returns this node's address; an error says why
  /// (a port in use, the system's name is not `settings.system`, started twice).
  expected<model::address, std::string> start(cluster_settings settings);
  /// The port the management endpoints listen on; nullopt when they are off.
  std::optional<std::uint16_t> management_port() const;
  /// True after a successful `start`.
  bool is_started() const noexcept;
  /// The settings `start` was given.
  const cluster_settings& settings() const;

  /// Joins through `seeds` (Akka's `joinSeedNodes`): a node that is the first seed joins
  /// itself when no other seed answers within `seed-node-timeout`; the others retry until
  /// a seed takes them in. Ignored once this node is a member.
  void join_seed_nodes(std::vector<model::address> seeds);
  /// Joins the cluster `node` is a member of; `self_address()` forms a new cluster.
  void join(const model::address& node);
  /// Asks the cluster to let `node` leave gracefully (leaving -> exiting -> removed).
  void leave(const model::address& node);
  /// `leave(self_address())`.
  void leave();
  /// Marks `node` down (it is removed once the others have seen that); a downed node that
  /// is still running shuts itself down when it learns of it.
  void down(const model::address& node);

  /// This node's address and incarnation.
  model::unique_address self_unique_address() const;
  /// This node's address.
  model::address self_address() const;
  /// This node as a member (status removed before it has joined or after it left).
  model::member self_member() const;
  /// The latest view, as a snapshot.
  current_cluster_state state() const;
  /// The latest gossip (members, seen set, reachability, version), for tools and tests.
  model::gossip latest_gossip() const;
  /// True once the daemon has stopped: this node was downed, removed or left.
  bool is_terminated() const noexcept;
  /// Counters since start.
  cluster_stats stats() const;

  /// Every metric of this node in Prometheus's text format (`metrics_content_type`): the
  /// actor system's, the transport's, the membership's, then those later layers added
  /// with `add_metrics` (sharding's shards and entities per type). The management server
  /// serves it as `GET /metrics`; docs/operations.md lists the names.
  std::string metrics() const;
  /// Adds the metrics of a later layer, written by `writer` at each `metrics()` call, on
  /// the caller's thread (the management server's: keep it short, take no actor's turn).
  /// A later call with the same `name` replaces the writer.
  void add_metrics(std::string name, std::function<void(metrics_text&)> writer);

  /// `subscriber` gets a `current_cluster_state` first, then every event of `kinds` as
  /// its own message type (`member_up`, `unreachable_member`, ...), in order.
  void subscribe(const actor_ref& subscriber, std::uint32_t kinds = member_events);
  /// No more events to `subscriber`.
  void unsubscribe(const actor_ref& subscriber);
  /// `fn` runs on the daemon's thread for every event (keep it short; one that throws is
  /// logged). Returns a token for `remove_listener`.
  std::uint64_t add_listener(std::function<void(const cluster_event&)> fn);
  /// Removes a listener added by `add_listener`.
  void remove_listener(std::uint64_t token);
  /// `fn` runs once when this node becomes up (at once if it already is).
  void register_on_member_up(std::function<void()> fn);
  /// `fn` runs once when this node is removed or downed, or the daemon stops (at once if
  /// that already happened).
  void register_on_member_removed(std::function<void()> fn);

  /// A management endpoint of a later layer (sharding's `/cluster/shards/{type}`): GET
  /// requests whose path starts with `prefix` go to `handler`, on the management server's
  /// thread (keep it short: it holds up the other requests). A later call with the same
  /// prefix replaces the handler.
  void add_management_route(std::string prefix,
                            std::function<management_response(const management_request&)> handler);
  /// The answer of the added route whose prefix the request's path starts with, if any
  /// (for the management server).
  std::optional<management_response> route_added(const management_request& request) const;

 private:
  actor_system& system_;
  std::shared_ptr<detail::cluster_shared> shared_;
  std::unique_ptr<management_server> management_;
  std::unique_ptr<seed_discovery> discovery_;  ///< with `discovery` and no seed nodes, until it joins
};

}  // namespace troupe::cluster
