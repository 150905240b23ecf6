// What the mediator shows on the node's `GET /metrics` (private to the library; the names
// are listed in docs/operations.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "troupe/cluster/cluster.hpp"

namespace troupe::pubsub::detail {

/// The mediator's gauges and counters for `/metrics`: stored by its actor after each turn
/// that changed them (relaxed, on lines nobody else writes), read by the management
/// server's thread. Counters are those of the mediator's current incarnation.
struct pubsub_gauges {
  std::atomic<std::uint64_t> topics{0}, local_subscribers{0}, registry_entries{0};
  std::atomic<std::uint64_t> published{0}, sent{0}, sent_to_all{0}, dead_letters{0};
  std::atomic<std::uint64_t> delivered_local{0}, delivered_remote{0}, no_route{0};
  std::atomic<std::uint64_t> statuses_sent{0}, deltas_sent{0}, entries_merged{0};
};

/// Adds the `troupe_pubsub_*` families to `cluster`'s metrics, read from `gauges`, which the
/// writer keeps alive.
void add_metrics(cluster::cluster& cluster, std::shared_ptr<const pubsub_gauges> gauges);

}  // namespace troupe::pubsub::detail
