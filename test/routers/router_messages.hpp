// The messages the cluster router tests route (cluster_router_test, least_loaded_test): a
// job, and the worker's answer naming its node; JSON-serializable so that they cross nodes.
// And the two tests' helpers: registering them on every node, counting a router's routees.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/test_cluster.hpp"

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

using nodes_t = std::vector<std::unique_ptr<troupe::test::cluster_node>>;

/// Registers job and done on every node, as "<prefix>.job" and "<prefix>.done".
inline void register_messages(nodes_t& nodes, const std::string& prefix) {
  for (auto& n : nodes) {
    n->serialization().register_json<job>(prefix + ".job");
    n->serialization().register_json<done>(prefix + ".done");
  }
}

/// The number of routees `router` has now, asked through `probe`.
inline std::size_t routee_count(troupe::testkit::test_probe& probe, const troupe::actor_ref& router) {
  probe.send(router, troupe::routing::get_routees{});
  return probe.expect_msg<troupe::routing::routees>().refs.size();
}

}  // namespace troupe_router_test
