#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"
#include "troupe/pubsub/pubsub.hpp"

namespace troupe::pubsub {

namespace {
constexpr long long max_interval_ms = 86'400'000;  // a day: anything longer is a typo
}  // namespace

expected<distributed_pubsub_settings, config_error> distributed_pubsub_settings::parse(const nlohmann::json& j) {
  try {
    distributed_pubsub_settings s;
    auto& m = s.mediator;
    const settings_reader root(
        j, "", {"gossip-interval-ms", "removed-time-to-live-ms", "max-delta-elements", "routing-logic", "role", "seed"});
    root.millis("gossip-interval-ms", m.gossip_interval, 1, max_interval_ms);
    root.millis("removed-time-to-live-ms", m.removed_time_to_live, 1, 30 * max_interval_ms);
    root.integer("max-delta-elements", m.max_delta_elements, 1, 1'000'000);
    if (const nlohmann::json* v = root.find("routing-logic")) {
      const std::string text = v->is_string() ? v->get<std::string>() : std::string();
      if (text == "random") {
        m.routing_logic = routing_logic::random;
      } else if (text == "round-robin") {
        m.routing_logic = routing_logic::round_robin;
      } else {
        throw config_error(root.key("routing-logic"), "expected \"random\" or \"round-robin\", got " + v->dump());
      }
    }
    root.string("role", m.role, true);
    if (const nlohmann::json* v = root.find("seed")) {
      if (!v->is_number_unsigned()) throw config_error(root.key("seed"), "expected an unsigned integer, got " + v->dump());
      s.seed = v->get<std::uint64_t>();
    }
    return s;
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

expected<distributed_pubsub_settings, config_error> distributed_pubsub_settings::parse(const std::string& json_text) {
  auto j = parse_json_text(json_text);
  if (!j) return unexpected<config_error>{j.error()};
  return parse(j.value());
}

}  // namespace troupe::pubsub
