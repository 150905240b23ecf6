// GET /cluster/shards/{type} on the cluster's management server (Akka Management's shard
// route, with this node's region in Akka's shape and every region of the cluster beside it),
// and sharding's part of GET /metrics.
#pragma once

#include <string>

#include "troupe/base/expected.hpp"
#include "troupe/cluster/management.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/sharding/sharding.hpp"

#include "internal/actors.hpp"

namespace troupe::sharding::detail {

/// The answer for `type`: 200 with
///   {"type", "proxy", "buffered", "regions": [{"shardId", "numEntities"}],   (this node)
///    "cluster": [{"address", "shards": [{"shardId", "numEntities"}]}], "failed": [address]}
/// 404 when this node runs no region of `type`; 503 when its region did not answer.
cluster::management_response shards_response(const std::string& type, bool known,
                                             const expected<region_state, std::string>& local,
                                             const expected<cluster_sharding_stats, std::string>& everywhere);

/// Serves `/cluster/shards/` for `system`'s cluster (added once, by `cluster_sharding::start`).
void add_shards_route(actor_system& system);

/// Adds `type`'s region and coordinator gauges to `/metrics` (troupe_sharding_*{type}).
void add_metrics(cluster::cluster& cluster, const std::string& type, std::shared_ptr<sharding_gauges> gauges);

}  // namespace troupe::sharding::detail
