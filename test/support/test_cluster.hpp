// In-process clusters for integration tests: actor systems on 127.0.0.1 (ports the kernel
// picks), each a cluster node with intervals shortened so that a case takes seconds, and a
// helper that forms a cluster of them and waits, by polling with a deadline, until every
// node sees every member up and the gossip converged.
//
//   auto nodes = troupe::test::form_cluster(3, "rtest");
//   nodes[0]->system.spawn(...);
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/membership_state.hpp>
#include <troupe/remote/transport.hpp>

namespace troupe::test {

/// Cluster settings for a test node: fast gossip and failure detection, no downing (a
/// blackholed node comes back instead of being removed), the given roles.
inline nlohmann::json fast_cluster_json(const std::string& system_name,
                                        const nlohmann::json& roles = nlohmann::json::array()) {
  return {
      {"system", system_name},
      {"remote", {{"host", "127.0.0.1"}, {"port", 0}, {"cookie", "c00kie"}}},
      {"roles", roles},
      {"gossip-interval-ms", 100},
      {"heartbeat-interval-ms", 200},
      {"leader-actions-interval-ms", 100},
      {"unreachable-nodes-reaper-interval-ms", 200},
      {"seed-node-timeout-ms", 1000},
      {"retry-unsuccessful-join-after-ms", 2000},
      {"failure-detector",
       {{"acceptable-heartbeat-pause-ms", 1000}, {"expected-response-after-ms", 200}, {"min-std-deviation-ms", 50}}},
  };
}

/// One actor system with its cluster started (not yet joined).
struct cluster_node {
  explicit cluster_node(const nlohmann::json& settings) : system(settings.at("system").get<std::string>()) {
    auto s = cluster::cluster_settings::parse(settings);
    REQUIRE(s);
    auto started = cl().start(*s);
    REQUIRE(started);
    address = *started;
  }
  ~cluster_node() {
    system.terminate();
    system.await_termination(std::chrono::seconds(10));
  }
  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  cluster::cluster& cl() { return cluster::cluster::get(system); }
  remote::transport& transport() { return system.extension<remote::transport>(); }
  remote::serialization& serialization() { return transport().serialization(); }

  actor_system system;
  cluster::model::address address;
};

/// True when `n` sees `count` members, all up, and its gossip converged.
inline bool sees_all_up(cluster_node& n, std::size_t count) {
  const auto st = n.cl().state();
  if (st.members.size() != count) return false;
  for (const auto& m : st.members)
    if (m.status() != cluster::model::member_status::up) return false;
  return cluster::model::membership_state{n.cl().latest_gossip(), n.cl().self_unique_address()}.convergence();
}

/// The value of `sample` (a name and its labels, as written) in `n`'s /metrics, or -1.
inline double metric(cluster_node& n, const std::string& sample) {
  const std::string text = n.cl().metrics();
  const auto at = text.find("\n" + sample + " ");
  return at == std::string::npos ? -1.0 : std::stod(text.substr(at + sample.size() + 2));
}

/// `settings.size()` nodes of type `Node` (a `cluster_node`, or a type derived from it that
/// is constructible from its settings), the first the seed, waited for until all are up
/// everywhere.
template <class Node = cluster_node>
std::vector<std::unique_ptr<Node>> form_cluster(const std::vector<nlohmann::json>& settings) {
  std::vector<std::unique_ptr<Node>> nodes;
  for (const auto& s : settings) nodes.push_back(std::make_unique<Node>(s));
  nodes[0]->cl().join(nodes[0]->address);
  for (std::size_t i = 1; i < nodes.size(); ++i) nodes[i]->cl().join_seed_nodes({nodes[0]->address});
  for (auto& x : nodes)
    testkit::await_condition(
        x->system, [&] { return sees_all_up(*x, nodes.size()); }, std::chrono::seconds(20), "all members up");
  return nodes;
}

/// `n` nodes of system `system_name` without roles.
template <class Node = cluster_node>
std::vector<std::unique_ptr<Node>> form_cluster(std::size_t n, const std::string& system_name) {
  return form_cluster<Node>(std::vector<nlohmann::json>(n, fast_cluster_json(system_name)));
}

}  // namespace troupe::test
