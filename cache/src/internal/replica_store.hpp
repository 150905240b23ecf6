// replica_store: the actor on every node (at `replica_store_path(type-name)`) holding the
// copies of other nodes' buckets whose replica holder this node is (`replicas` 1). It
// applies the buckets' full copies and writes and acks them, forgets a copy when told,
// answers a starting bucket's query with its copy, and sweeps expired entries. It follows
// no membership: a copy goes when its bucket, restored elsewhere, tells it to.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/behavior.hpp"
#include "troupe/cache/model/replica.hpp"
#include "node_budget.hpp"

namespace troupe::cache::detail {

/// The store's timer message: drop expired entries from the copies.
struct replica_sweep_tick {};

class replica_store final : public actor {
 public:
  replica_store(std::shared_ptr<node_budget> budget, std::chrono::milliseconds sweep_interval);
  behavior make_behavior() override;
  void pre_start() override;
  void post_stop() override;

 private:
  /// Runs `f` on the copy of `bucket` and counts the bytes it changed.
  template <class F>
  auto change(const std::string& bucket, F&& f);
  model::time_point now() const;

  std::shared_ptr<node_budget> budget_;
  std::chrono::milliseconds sweep_interval_;
  std::map<std::string, model::bucket_replica> copies_;
  std::size_t bytes_ = 0;
};

}  // namespace troupe::cache::detail
