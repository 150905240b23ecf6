#include "troupe/cache/settings.hpp"

#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"

namespace troupe::cache {
namespace {
constexpr long long max_interval_ms = 86'400'000;   // a day: anything longer is a typo
constexpr long long max_ttl_ms = 365LL * 86'400'000;  // a year
constexpr long long max_bytes = 1LL << 40;            // a TiB per node
}  // namespace

expected<cache_settings, config_error> cache_settings::parse(const nlohmann::json& j) {
  try {
    cache_settings s;
    const settings_reader root(
        j, "",
        {"type-name", "number-of-buckets", "number-of-shards", "max-bytes-per-node", "default-ttl-ms",
         "sweep-interval-ms", "load-timeout-ms", "ask-timeout-ms", "replicas", "restore-timeout-ms", "sharding"});
    root.string("type-name", s.type_name, false);
    root.integer("number-of-buckets", s.number_of_buckets, 1, 1'000'000);
    std::uint32_t shards = 32;
    root.integer("number-of-shards", shards, 1, 100'000);
    root.integer("max-bytes-per-node", s.max_bytes_per_node, 1024, max_bytes);
    root.millis("default-ttl-ms", s.default_ttl, 0, max_ttl_ms);
    root.millis("sweep-interval-ms", s.sweep_interval, 1, max_interval_ms);
    root.millis("load-timeout-ms", s.load_timeout, 1, max_interval_ms);
    root.millis("ask-timeout-ms", s.ask_timeout, 1, max_interval_ms);
    root.integer("replicas", s.replicas, 0, 1);
    root.millis("restore-timeout-ms", s.restore_timeout, 1, max_interval_ms);

    // The buckets' sharding settings: the nested object, with the shard count from here and
    // passivation off, named with their full path when wrong.
    nlohmann::json nested = nlohmann::json::object();
    if (const nlohmann::json* n = root.find("sharding")) {
      if (!n->is_object()) throw config_error("sharding", "expected a JSON object, got " + n->dump());
      nested = *n;
    }
    for (const char* owned : {"number-of-shards", "passivation"}) {
      if (nested.contains(owned))
        throw config_error(std::string("sharding.") + owned,
                           "set by the cache (number-of-shards at the top level; passivation is always off)");
    }
    nested["number-of-shards"] = shards;
    nested["passivation"] = {{"idle-timeout-ms", "off"}, {"active-entity-limit", 0}};
    auto sh = sharding::sharding_settings::parse(nested);
    if (!sh) {
      const std::string what = sh.error().what();
      const std::string& key = sh.error().key;
      throw config_error("sharding." + key, what.substr(what.rfind(key + ": ", 0) == 0 ? key.size() + 2 : 0));
    }
    s.sharding = std::move(sh).value();
    return s;
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

expected<cache_settings, config_error> cache_settings::parse(const std::string& json_text) {
  auto j = parse_json_text(json_text);
  if (!j) return unexpected<config_error>{j.error()};
  return parse(j.value());
}

}  // namespace troupe::cache
