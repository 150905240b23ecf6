// replica_id: who changed a replicated value.
//
// A replica is one incarnation of a cluster node: `cluster::model::unique_address` (address
// plus the uid drawn at start), as Akka's Distributed Data keys its counters and dots by
// `UniqueAddress`. A restarted node is a new replica; the entries of the old one are pruned
// once it is removed from the cluster (see `prune` on the types that hold replica entries).
//
//   const replica_id self{{"shop", "10.0.0.1", 2552}, uid};
//   counter.increment(self, 1);
//
// Pure value type: links only the standard library (through the cluster model).
#pragma once

#include <string>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::ddata {

/// One incarnation of a node; ordered (address, then uid), which is the order that breaks
/// ties between concurrent writes of equal timestamp.
using replica_id = cluster::model::unique_address;

/// `troupe://system@host:port#uid`.
inline std::string to_string(const replica_id& r) { return cluster::model::to_string(r); }

}  // namespace troupe::ddata
