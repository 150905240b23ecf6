// load_runner: one get_or_load call on the caller's node. It claims the key from its
// bucket; on a hit it answers at once, on a grant it runs the loader here and hands the
// value (or the failure) to the bucket, which answers the claims that waited; then it stops.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/behavior.hpp"
#include "troupe/cache/cache.hpp"
#include "troupe/sharding/sharding.hpp"

namespace troupe::cache::detail {

/// Starts the runner's work (sent by the caller's ask).
struct run_load {};
/// The bucket did not answer in time.
struct load_runner_timeout {};

class load_runner final : public actor {
 public:
  load_runner(sharding::entity_ref bucket, std::string key, loader load, std::int64_t ttl_ms,
              std::chrono::nanoseconds timeout);
  behavior make_behavior() override;

 private:
  void finish(get_reply r);

  sharding::entity_ref bucket_;
  std::string key_;
  loader load_;
  std::int64_t ttl_ms_;
  std::chrono::nanoseconds timeout_;
  actor_ref caller_;
  bool done_ = false;
};

}  // namespace troupe::cache::detail
