// routee_plan: which members host a cluster-aware router's routees, and how many.
//
// The pure part of the cluster routers. It is told which members are up (with their roles),
// which are unreachable and which are gone, and answers:
//   - for a group router, the routee slots: every path of the settings on every eligible
//     node, capped at `total_instances`;
//   - for a pool router, how many routees each eligible node should run: one at a time to
//     the node with the fewest (ties to the lowest address), until every node has
//     `max_instances_per_node` or the pool has `total_instances` (Akka's ClusterRouterPool).
// A node is eligible when it is up (or weakly up), has the role if one is set, is not
// unreachable, and is not this node when local routees are not allowed. An unreachable node
// keeps its pool routees (they come back into use when it is reachable again); a removed
// one loses them.
//
//   routee_plan plan(settings, self);
//   plan.member_up(m.unique_address(), m.roles());
//   for (const auto& slot : plan.group_slots()) route_to(slot.node, slot.path);
//
// No I/O, no clock, no randomness; links only the cluster model.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "troupe/base/config_error.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::routers {

namespace model = troupe::cluster::model;

/// Where a cluster-aware router looks for routees (Akka's cluster router settings).
struct cluster_router_settings {
  /// Group routers: the actors' paths on each node, e.g. "/user/worker".
  std::vector<std::string> routees_paths;
  /// Pool routers: routees started on each node at most.
  std::size_t max_instances_per_node = 1;
  /// Routees in all, over every node (Akka's max-total-nr-of-instances).
  std::size_t total_instances = 10'000;
  /// Only members with this role host routees; empty: every member.
  std::string use_role;
  /// Whether this node's own actors (or a pool's local routees) take part.
  bool allow_local_routees = true;
  /// Least-loaded routers: how often they ask the routees' nodes for mailbox sizes. Each
  /// round costs a query and a report per node with routees; sizes are up to this old
  /// (the router adds what it sent since).
  std::chrono::milliseconds load_report_interval{500};

  /// Reads kebab-case keys: "routees-paths" (array of absolute paths),
  /// "max-instances-per-node", "total-instances", "use-role", "allow-local-routees",
  /// "load-report-interval-ms" (10 to 60,000). A bad or unknown key is an error naming it. (Defined in troupe::routers, which links the
  /// JSON reader; the model itself never parses.)
  static expected<cluster_router_settings, config_error> parse(const nlohmann::json& j);
};

/// One routee of a group router: `path` on `node`.
struct routee_slot {
  model::unique_address node;
  std::string path;

  friend bool operator==(const routee_slot&, const routee_slot&) = default;
};

class routee_plan {
 public:
  routee_plan(cluster_router_settings settings, model::unique_address self);

  // ---- membership (each returns true when the eligible nodes changed) ----
  /// `node` is up or weakly up, with `roles`.
  bool member_up(const model::unique_address& node, const std::set<std::string>& roles);
  /// `node` left the cluster's useful set: leaving, exiting, downed or removed.
  bool member_gone(const model::unique_address& node);
  bool member_unreachable(const model::unique_address& node);
  bool member_reachable(const model::unique_address& node);

  /// Nodes that may host routees now, in address order.
  std::vector<model::unique_address> eligible_nodes() const;
  /// Group routers: each path on each eligible node, nodes in address order, at most
  /// `total_instances`.
  std::vector<routee_slot> group_slots() const;
  /// Pool routers: the routee count each eligible node should have, given `current`
  /// (routees running per node, any node). Nodes already over their share keep theirs; only
  /// eligible nodes get more.
  std::map<model::unique_address, std::size_t> pool_targets(
      const std::map<model::unique_address, std::size_t>& current) const;

  /// Whether `node` may host routees now.
  bool is_eligible(const model::unique_address& node) const;

  const cluster_router_settings& settings() const noexcept { return settings_; }

 private:
  cluster_router_settings settings_;
  model::unique_address self_;
  std::set<model::unique_address> up_;           // up with the role
  std::set<model::unique_address> unreachable_;  // of any member
};

}  // namespace troupe::routers
