#include "internal/management_route.hpp"

#include <nlohmann/json.hpp>

#include "troupe/cluster/cluster.hpp"

namespace troupe::sharding::detail {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view prefix = "/cluster/shards/";

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json shards_json(const std::map<std::string, std::size_t>& shards) {
  json out = json::array();
  for (const auto& [shard, n] : shards) out.push_back(json{{"shardId", shard}, {"numEntities", n}});
  return out;
}

std::string node_of(const cluster::model::unique_address& a) { return cluster::model::to_string(a.address); }

}  // namespace

cluster::management_response shards_response(const std::string& type, bool known,
                                             const expected<region_state, std::string>& local,
                                             const expected<cluster_sharding_stats, std::string>& everywhere) {
  if (!known) return {404, dump(json{{"message", "No shard region of type [" + type + "] on this node"}}), {}, {}};
  if (!local) return {503, dump(json{{"message", "The shard region did not answer: " + local.error()}}), {}, {}};
  std::map<std::string, std::size_t> mine;
  for (const auto& s : local.value().shards) mine[s.shard] = s.entities.size();
  json out{{"type", type},
           {"proxy", local.value().proxy},
           {"buffered", local.value().buffered},
           {"regions", shards_json(mine)}};
  json cluster_json = json::array();
  json failed = json::array();
  if (everywhere) {
    for (const auto& r : everywhere.value().regions)
      cluster_json.push_back(json{{"address", node_of(r.region)}, {"shards", shards_json(r.shards)}});
    for (const auto& a : everywhere.value().failed) failed.push_back(cluster::model::to_string(a));
  }
  out["cluster"] = std::move(cluster_json);
  out["failed"] = std::move(failed);
  return {200, dump(out), {}, {}};
}

void add_shards_route(actor_system& system) {
  actor_system* sys = &system;
  cluster::cluster::get(system).add_management_route(
      std::string(prefix), [sys](const cluster::management_request& request) {
        std::string_view path = request.target;
        path = path.substr(0, path.find('?')).substr(prefix.size());
        const std::string type(path);
        auto& sharding = cluster_sharding::get(*sys);
        const bool known = sharding.region(type).has_value();
        if (!known) return shards_response(type, false, unexpected(std::string()), unexpected(std::string()));
        return shards_response(type, true, sharding.region_state(type, 2s), sharding.cluster_stats(type, 2s));
      });
}

void add_metrics(cluster::cluster& cluster, const std::string& type, std::shared_ptr<sharding_gauges> gauges) {
  cluster.add_metrics("sharding." + type, [type, g = std::move(gauges)](metrics_text& out) {
    using enum metric_type;
    const metrics_text::labels l{{"type", type}};
    auto v = [](const std::atomic<std::uint64_t>& a) { return static_cast<double>(a.load(std::memory_order_relaxed)); };
    out.add("troupe_sharding_shards", gauge, "Shards hosted by this node's region", v(g->shards), l);
    out.add("troupe_sharding_entities", gauge, "Entities running in this node's region", v(g->entities), l);
    out.add("troupe_sharding_buffered_messages", gauge, "Messages this region holds until their shard has a home",
            v(g->buffered), l);
    out.add("troupe_sharding_entities_started_total", counter, "Entities started by this region", v(g->started), l);
    out.add("troupe_sharding_entities_passivated_total", counter, "Entities stopped by passivation", v(g->passivated),
            l);
    out.add("troupe_sharding_handoffs_total", counter, "Shards this region handed off", v(g->handoffs), l);
    out.add("troupe_sharding_dropped_total", counter, "Messages dropped for a full buffer", v(g->dropped), l);
    out.add("troupe_sharding_allocations_total", counter, "Shard homes given by the coordinator while it ran here",
            v(g->allocations), l);
    out.add("troupe_sharding_rebalances_total", counter, "Shards the coordinator chose to move while it ran here",
            v(g->rebalances), l);
  });
}

}  // namespace troupe::sharding::detail
