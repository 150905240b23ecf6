#include "troupe/sharding/settings.hpp"

#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"

namespace troupe::sharding {

namespace {

constexpr long long max_interval_ms = 86'400'000;  // a day: anything longer is a typo
constexpr long long max_count = 100'000'000;

/// Milliseconds in [1, max_interval_ms], or "off" (nullopt).
void optional_millis(const settings_reader& r, const char* name, std::optional<std::chrono::nanoseconds>& out) {
  const auto* v = r.find(name);
  if (!v) return;
  if (v->is_string() && v->get<std::string>() == "off") {
    out.reset();
    return;
  }
  if (!v->is_number_integer() || v->get<long long>() < 1 || v->get<long long>() > max_interval_ms) {
    throw config_error(r.key(name), "expected an integer in [1, " + std::to_string(max_interval_ms) +
                                        "] or \"off\", got " + v->dump());
  }
  out = std::chrono::milliseconds(v->get<long long>());
}

}  // namespace

expected<sharding_settings, config_error> sharding_settings::parse(const nlohmann::json& j) {
  try {
    sharding_settings s;
    const settings_reader root(
        j, "",
        {"role", "number-of-shards", "allocation-strategy", "rebalance-absolute-limit", "rebalance-relative-limit",
         "consistent-hash-ring", "rebalance-interval-ms", "handoff-timeout-ms", "shard-start-timeout-ms",
         "retry-interval-ms", "coordinator-recovery-timeout-ms", "removal-margin-ms", "buffer-size", "passivation",
         "remember-entities", "entity-restart-backoff-ms"});
    root.string("role", s.role, true);
    root.integer("number-of-shards", s.number_of_shards, 1, 1'000'000);
    root.string("allocation-strategy", s.allocation_strategy, false);
    if (!model::make_strategy(s.allocation_strategy))
      throw config_error("allocation-strategy", "expected \"least-shard\", \"consistent-hash-ring\" or \"external\", got \"" +
                                                    s.allocation_strategy + "\"");
    root.integer("rebalance-absolute-limit", s.rebalance_limits.absolute_limit, 1, max_count);
    root.number("rebalance-relative-limit", s.rebalance_limits.relative_limit, 0.0, 1.0);
    if (auto ring = root.object("consistent-hash-ring", {"virtual-nodes"}))
      ring->integer("virtual-nodes", s.virtual_nodes, 1, 100'000);
    root.millis("rebalance-interval-ms", s.coordinator.rebalance_interval, 1, max_interval_ms);
    root.millis("handoff-timeout-ms", s.coordinator.handoff_timeout, 1, max_interval_ms);
    s.region.handoff_timeout = s.coordinator.handoff_timeout;
    root.millis("shard-start-timeout-ms", s.coordinator.shard_start_timeout, 1, max_interval_ms);
    root.millis("retry-interval-ms", s.region.retry_interval, 1, max_interval_ms);
    root.millis("coordinator-recovery-timeout-ms", s.coordinator.recovery_timeout, 0, max_interval_ms);
    root.millis("removal-margin-ms", s.coordinator.removal_margin, 0, max_interval_ms);
    root.integer("buffer-size", s.region.buffer_size, 0, max_count);
    if (auto p = root.object("passivation", {"idle-timeout-ms", "active-entity-limit"})) {
      optional_millis(*p, "idle-timeout-ms", s.region.idle_timeout);
      p->integer("active-entity-limit", s.region.active_entity_limit, 0, max_count);
    }
    root.boolean("remember-entities", s.region.remember_entities);
    s.coordinator.remember_entities = s.region.remember_entities;
    root.millis("entity-restart-backoff-ms", s.region.entity_restart_backoff, 1, max_interval_ms);
    return s;
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

expected<sharding_settings, config_error> sharding_settings::parse(const std::string& json_text) {
  auto j = parse_json_text(json_text);
  if (!j) return unexpected<config_error>{j.error()};
  return parse(j.value());
}

}  // namespace troupe::sharding
