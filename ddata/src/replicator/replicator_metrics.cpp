// The replicator's part of GET /metrics (see replicator_metrics.hpp).
#include "replicator_metrics.hpp"

#include <utility>

#include "troupe/actor/metrics.hpp"

namespace troupe::ddata::detail {

void add_metrics(cluster::cluster& cluster, std::shared_ptr<const ddata_gauges> gauges) {
  cluster.add_metrics("ddata.replicator", [g = std::move(gauges)](metrics_text& out) {
    using enum metric_type;
    auto v = [](const std::atomic<std::uint64_t>& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    // 1. What this replica holds and waits for.
    out.add("troupe_ddata_entries", gauge, "Keys this replica holds a value of", v(g->entries));
    out.add("troupe_ddata_deleted_keys", gauge, "Keys this replica holds as deleted", v(g->deleted));
    out.add("troupe_ddata_pending_operations", gauge, "Reads and writes waiting for other replicas", v(g->pending));
    // 2. Local commands and their failures.
    out.add("troupe_ddata_updates_total", counter, "Updates asked of this replicator", v(g->updates));
    out.add("troupe_ddata_gets_total", counter, "Gets asked of this replicator", v(g->gets));
    out.add("troupe_ddata_deletes_total", counter, "Deletes asked of this replicator", v(g->deletes));
    constexpr const char* update_failures = "Updates not answered update_success, by reply";
    out.add("troupe_ddata_update_failures_total", counter, update_failures, v(g->update_timeouts),
            {{"reason", "timeout"}});
    out.add("troupe_ddata_update_failures_total", counter, update_failures, v(g->modify_failures),
            {{"reason", "modify_failure"}});
    out.add("troupe_ddata_update_failures_total", counter, update_failures, v(g->updates_of_deleted),
            {{"reason", "data_deleted"}});
    out.add("troupe_ddata_update_failures_total", counter, update_failures, v(g->update_store_failures),
            {{"reason", "store_failure"}});
    out.add("troupe_ddata_get_failures_total", counter, "Gets whose replicas did not answer in time",
            v(g->get_failures));
    constexpr const char* delete_failures = "Deletes not answered delete_success (data_deleted aside), by reply";
    out.add("troupe_ddata_delete_failures_total", counter, delete_failures, v(g->delete_timeouts),
            {{"reason", "timeout"}});
    out.add("troupe_ddata_delete_failures_total", counter, delete_failures, v(g->delete_store_failures),
            {{"reason", "store_failure"}});
    // 3. Replication traffic.
    out.add("troupe_ddata_deltas_sent_total", counter, "Delta messages sent, one per peer and propagation tick",
            v(g->deltas_sent));
    out.add("troupe_ddata_gossip_status_sent_total", counter, "Gossip digests sent to peers", v(g->gossip_status_sent));
    out.add("troupe_ddata_gossip_sent_total", counter, "Gossip messages with entries sent to peers", v(g->gossip_sent));
    out.add("troupe_ddata_gossip_entries_sent_total", counter, "Entries sent in gossip", v(g->gossip_entries_sent));
    out.add("troupe_ddata_gossip_bytes_sent_total", counter,
            "Size of the entries sent in gossip, as the gossip byte budget counts it", v(g->gossip_bytes_sent));
    // 4. Values refused.
    out.add("troupe_ddata_type_mismatches_total", counter, "Values from peers not merged for being of another type",
            v(g->type_mismatches));
    out.add("troupe_ddata_decode_failures_total", counter, "Values from peers that could not be decoded",
            v(g->decode_failures));
    out.add("troupe_ddata_durable_store_failures_total", counter,
            "Writes of durable keys that failed (the store's error, or a value that could not be encoded)",
            v(g->durable_store_failures));
  });
}

}  // namespace troupe::ddata::detail
