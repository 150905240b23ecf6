// bucket_entity: the sharded entity holding one bucket of keys. It receives a request,
// reads the scheduler's clock once, calls its pure `lru_store` with that time, and replies; its
// periodic timer drives the expiry sweep and trims the bucket to its share of the node's
// budget. It also serialises get_or_load: one granted claim per key at a time, the others
// waiting for its value.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/behavior.hpp"
#include "troupe/cache/model/lru_store.hpp"
#include "troupe/cache/protocol.hpp"
#include "node_budget.hpp"

namespace troupe::cache::detail {

/// The bucket's timer message: sweep expired keys, trim to the share.
struct sweep_tick {};
/// A granted load of `key` took longer than the load timeout.
struct load_lapsed {
  std::string key;
  std::uint64_t claim = 0;
};

class bucket_entity final : public actor {
 public:
  bucket_entity(std::shared_ptr<node_budget> budget, std::chrono::milliseconds sweep_interval,
                std::chrono::milliseconds load_timeout);
  behavior make_behavior() override;
  void pre_start() override;
  void post_stop() override;

 private:
  struct pending_load {
    std::uint64_t claim = 0;            // which grant: a lapsed one's timer is told apart
    std::vector<actor_ref> waiting;     // claims made while it loads
  };
  void put(std::string key, std::string value, std::int64_t ttl_ms, put_reply* reply);
  const std::string* lookup(const std::string& key);
  /// Answers the claims waiting for `key`'s load, if `claim` is its grant (0: any).
  void finish_load(const std::string& key, const load_answer& answer, std::uint64_t claim);
  void trim();
  /// The time the store is given: the actor system's scheduler clock.
  model::time_point now() const;

  std::shared_ptr<node_budget> budget_;
  std::chrono::milliseconds sweep_interval_;
  std::chrono::milliseconds load_timeout_;
  model::lru_store store_;
  std::map<std::string, pending_load> loads_;
  std::uint64_t next_claim_ = 0;
};

}  // namespace troupe::cache::detail
