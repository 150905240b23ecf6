// remember_entities: where a sharded type's running entities are recorded, so they start
// again after their shard moves or their node crashes (Akka's remember-entities store).
//
// A region records an entity before it first runs it and forgets it when it is passivated;
// when a shard starts on a region, the region loads the shard's entities and starts them
// all; a new coordinator reads which shards have entities and gives each a home at once.
// Calls return at once; the callback runs when the store is done (on any thread; the
// region turns it into a message to itself). An error string makes the region try again
// after its retry interval.
//
// `in_memory_remember_store` keeps the records in this process, shared by every actor
// system in it: entities come back when a shard moves to another system of the process or
// a system restarts, not when the process dies. The durable stores (SQLite, PostgreSQL)
// come with troupe::persistence.
//
//   sharding_settings s;
//   s.region.remember_entities = s.coordinator.remember_entities = true;  // or "remember-entities": true
//   s.remember_store = troupe::sharding::in_memory_remember_store::process_wide();
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "troupe/base/expected.hpp"

namespace troupe::sharding {

/// The store's interface; see the file comment.
class remember_entities_store {
 public:
  using entities_done = std::function<void(expected<std::vector<std::string>, std::string>)>;
  using update_done = std::function<void(std::optional<std::string> error)>;

  virtual ~remember_entities_store() = default;
  /// The remembered entities of `shard` of `type_name`.
  virtual void load(const std::string& type_name, const std::string& shard, entities_done done) = 0;
  /// Records `started` and forgets `stopped`; `done` once that is kept.
  virtual void update(const std::string& type_name, const std::string& shard, std::vector<std::string> started,
                      std::vector<std::string> stopped, update_done done) = 0;
  /// The shards of `type_name` that have remembered entities.
  virtual void shards(const std::string& type_name, entities_done done) = 0;
};

/// Records in memory, shared by whoever holds the same instance (see the file comment).
class in_memory_remember_store final : public remember_entities_store {
 public:
  /// The instance every actor system of this process uses unless told otherwise.
  static std::shared_ptr<in_memory_remember_store> process_wide();

  void load(const std::string& type_name, const std::string& shard, entities_done done) override;
  void update(const std::string& type_name, const std::string& shard, std::vector<std::string> started,
              std::vector<std::string> stopped, update_done done) override;
  void shards(const std::string& type_name, entities_done done) override;

 private:
  std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::set<std::string>>> entities_;  ///< type -> shard -> ids
};

}  // namespace troupe::sharding
