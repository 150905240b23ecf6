// What the replicator shows on the node's `GET /metrics` (private to the library; the names
// are listed in docs/operations.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "troupe/cluster/cluster.hpp"

namespace troupe::ddata::detail {

/// The replicator's gauges and counters for `/metrics`: stored by its actor at the end of
/// each turn that changed them (relaxed, on lines nobody else writes), read by the
/// management server's thread. Counters are those of the replicator's current incarnation.
struct ddata_gauges {
  std::atomic<std::uint64_t> entries{0}, deleted{0}, pending{0};
  std::atomic<std::uint64_t> updates{0}, gets{0}, deletes{0};
  std::atomic<std::uint64_t> update_timeouts{0}, modify_failures{0}, updates_of_deleted{0}, update_store_failures{0};
  std::atomic<std::uint64_t> get_failures{0}, delete_timeouts{0}, delete_store_failures{0};
  std::atomic<std::uint64_t> deltas_sent{0}, gossip_status_sent{0}, gossip_sent{0}, gossip_entries_sent{0},
      gossip_bytes_sent{0};
  std::atomic<std::uint64_t> type_mismatches{0}, decode_failures{0}, durable_store_failures{0};
};

/// Adds the `troupe_ddata_*` families to `cluster`'s metrics, read from `gauges`, which the
/// writer keeps alive.
void add_metrics(cluster::cluster& cluster, std::shared_ptr<const ddata_gauges> gauges);

}  // namespace troupe::ddata::detail
