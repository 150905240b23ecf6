// The messages the cluster router tests route (cluster_router_test, least_loaded_test): a
// job, and the worker's answer naming its node; JSON-serializable so that they cross nodes.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace troupe_router_test {

struct job {
  int id = 0;
};
struct done {
  int id = 0;
  std::string node;  ///< the worker's node
};
inline void to_json(nlohmann::json& j, const job& m) { j = {{"id", m.id}}; }
inline void from_json(const nlohmann::json& j, job& m) { j.at("id").get_to(m.id); }
inline void to_json(nlohmann::json& j, const done& m) { j = {{"id", m.id}, {"node", m.node}}; }
inline void from_json(const nlohmann::json& j, done& m) {
  j.at("id").get_to(m.id);
  j.at("node").get_to(m.node);
}

}  // namespace troupe_router_test
