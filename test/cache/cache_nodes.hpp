// The cache tests' cluster nodes: each holds its handle on every cache started on it.
//
//   auto nodes = troupe::test::form_cluster<troupe::test::cache_node>(3, "cachetest");
//   const auto c = troupe::test::start_cache(nodes, settings);  // nodes[i]->caches[c]
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <troupe/cache/cache.hpp>

#include "support/test_cluster.hpp"

namespace troupe::test {

/// A cluster node holding its handle on each cache started on it.
struct cache_node : cluster_node {
  explicit cache_node(const nlohmann::json& settings) : cluster_node(settings) {}
  std::vector<cache::distributed_cache> caches;
};
using cache_node_list = std::vector<std::unique_ptr<cache_node>>;

/// Starts the cache `settings` on every node; returns its index in `cache_node::caches`.
inline std::size_t start_cache(cache_node_list& nodes, const cache::cache_settings& settings) {
  for (auto& n : nodes) {
    auto c = cache::distributed_cache::start(n->system, settings);
    REQUIRE(c);
    n->caches.push_back(*c);
  }
  return nodes[0]->caches.size() - 1;
}

}  // namespace troupe::test
