#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"
#include "troupe/ddata/replicator.hpp"

namespace troupe::ddata {

namespace {
constexpr long long max_interval_ms = 86'400'000;      // a day: anything longer is a typo
constexpr long long max_marker_ms = 30LL * 86'400'000;  // markers may live for weeks
}  // namespace

expected<distributed_data_settings, config_error> distributed_data_settings::parse(const nlohmann::json& j) {
  try {
    distributed_data_settings s;
    auto& r = s.replicator;
    const settings_reader root(
        j, "",
        {"gossip-interval-ms", "notify-subscribers-interval-ms", "delta-propagation-interval-ms", "max-delta-elements",
         "pruning-interval-ms", "max-pruning-dissemination-ms", "pruning-marker-time-to-live-ms",
         "gossip-max-bytes-per-round", "role", "operation-timeout-check-interval-ms", "durable-keys", "durable-path",
         "durable-sync"});
    root.millis("gossip-interval-ms", r.gossip_interval, 1, max_interval_ms);
    root.millis("notify-subscribers-interval-ms", r.notify_subscribers_interval, 1, max_interval_ms);
    root.millis("delta-propagation-interval-ms", r.delta_propagation_interval, 1, max_interval_ms);
    root.integer("max-delta-elements", r.max_delta_elements, 1, 100'000);
    root.millis("pruning-interval-ms", r.pruning_interval, 1, max_interval_ms);
    root.millis("max-pruning-dissemination-ms", r.max_pruning_dissemination, 0, max_interval_ms);
    root.millis("pruning-marker-time-to-live-ms", r.pruning_marker_time_to_live, 1, max_marker_ms);
    root.integer("gossip-max-bytes-per-round", r.gossip_max_bytes_per_round, 1024, 1'000'000'000);
    root.string("role", r.role, true);
    root.millis("operation-timeout-check-interval-ms", s.timeout_check_interval, 1, 60'000);
    if (j.contains("durable-keys")) {
      const auto& keys = j.at("durable-keys");
      if (!keys.is_array())
        throw config_error("durable-keys", "expected an array of keys or prefixes ending in '*', got " + keys.dump());
      for (const auto& k : keys) {
        if (!k.is_string() || k.get<std::string>().empty())
          throw config_error("durable-keys", "expected non-empty keys or prefixes such as \"cart-*\", got " + k.dump());
        r.durable_keys.push_back(k.get<std::string>());
      }
    }
    root.string("durable-path", s.durable_path, true);
    std::string sync = "normal";
    root.string("durable-sync", sync, false);
    if (sync != "normal" && sync != "full")
      throw config_error("durable-sync", "expected \"normal\" or \"full\", got \"" + sync + "\"");
    s.durable_full_sync = sync == "full";
    return s;
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

expected<distributed_data_settings, config_error> distributed_data_settings::parse(const std::string& json_text) {
  auto j = parse_json_text(json_text);
  if (!j) return unexpected<config_error>{j.error()};
  return parse(j.value());
}

}  // namespace troupe::ddata
