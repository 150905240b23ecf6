#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"
#include "troupe/routers/routee_plan.hpp"

namespace troupe::routers {

expected<cluster_router_settings, config_error> cluster_router_settings::parse(const nlohmann::json& j) {
  try {
    cluster_router_settings s;
    const settings_reader root(j, "",
                               {"routees-paths", "max-instances-per-node", "total-instances", "use-role",
                                "allow-local-routees", "load-report-interval-ms"});
    if (j.contains("routees-paths")) {
      const auto& paths = j.at("routees-paths");
      if (!paths.is_array())
        throw config_error("routees-paths", "expected an array of actor paths, got " + paths.dump());
      for (const auto& p : paths) {
        if (!p.is_string() || p.get<std::string>().empty() || p.get<std::string>().front() != '/')
          throw config_error("routees-paths",
                             "expected absolute actor paths such as \"/user/worker\", got " + p.dump());
        s.routees_paths.push_back(p.get<std::string>());
      }
    }
    root.integer("max-instances-per-node", s.max_instances_per_node, 1, 1'000'000);
    root.integer("total-instances", s.total_instances, 1, 100'000'000);
    root.string("use-role", s.use_role, true);
    root.boolean("allow-local-routees", s.allow_local_routees);
    root.millis("load-report-interval-ms", s.load_report_interval, 10, 60'000);
    return s;
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

}  // namespace troupe::routers
