// The mediator's part of GET /metrics (see mediator_metrics.hpp).
#include "mediator_metrics.hpp"

#include <utility>

#include "troupe/actor/metrics.hpp"

namespace troupe::pubsub::detail {

void add_metrics(cluster::cluster& cluster, std::shared_ptr<const pubsub_gauges> gauges) {
  cluster.add_metrics("pubsub.mediator", [g = std::move(gauges)](metrics_text& out) {
    using enum metric_type;
    auto v = [](const std::atomic<std::uint64_t>& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    // 1. The registry.
    out.add("troupe_pubsub_topics", gauge, "Topics with a subscriber on this node", v(g->topics));
    out.add("troupe_pubsub_local_subscribers", gauge, "Subscriptions of this node's actors", v(g->local_subscribers));
    out.add("troupe_pubsub_registry_entries", gauge, "Subscriptions and puts of every node, as this node knows them",
            v(g->registry_entries));
    // 2. Routing from this node.
    out.add("troupe_pubsub_published_total", counter, "Publishes handled by this node's mediator", v(g->published));
    constexpr const char* sent = "Sends handled by this node's mediator, by command";
    out.add("troupe_pubsub_sent_total", counter, sent, v(g->sent), {{"command", "send"}});
    out.add("troupe_pubsub_sent_total", counter, sent, v(g->sent_to_all), {{"command", "send_to_all"}});
    constexpr const char* delivered = "Messages handed to subscribers and put actors, by where they live";
    out.add("troupe_pubsub_delivered_total", counter, delivered, v(g->delivered_local), {{"to", "local"}});
    out.add("troupe_pubsub_delivered_total", counter, delivered, v(g->delivered_remote), {{"to", "remote"}});
    out.add("troupe_pubsub_dead_letters_total", counter,
            "Publishes and sends with nobody to deliver to, sent to dead letters", v(g->dead_letters));
    out.add("troupe_pubsub_no_route_total", counter, "Deliveries to an actor the transport had no route to",
            v(g->no_route));
    // 3. Gossip of the registry.
    out.add("troupe_pubsub_gossip_status_sent_total", counter, "Registry versions sent to peers", v(g->statuses_sent));
    out.add("troupe_pubsub_deltas_sent_total", counter, "Registry changes sent to peers, in messages",
            v(g->deltas_sent));
    out.add("troupe_pubsub_entries_merged_total", counter, "Registry changes taken from peers", v(g->entries_merged));
  });
}

}  // namespace troupe::pubsub::detail
