// durable_remember_store: the remember-entities store on a troupe::persistence plugin
// (SQLite, PostgreSQL, or in-memory for tests), so that remembered entities survive the
// death of every process, and nodes sharing the database share the records.
//
//   auto& p = troupe::persistence::persistence::get(system);
//   if (auto err = p.start(persistence_settings)) fail(*err);        // before the regions start
//   sharding_settings s = ...;                                       // "remember-entities": true
//   s.remember_store = troupe::sharding::durable_remember_store::on(p.store());
//
// It keeps two kinds of durable state (the plugin's `durable_state_store`), each a set of
// strings stored as a CBOR array under the manifest `troupe.sharding.remembered`:
// - per shard, the ids of its remembered entities, under "sharding-entities|<type>|<shard>";
// - per type, the shards that have (or may have) remembered entities, under
//   "sharding-shards|<type>" ('|' and '%' in names are escaped as %7C and %25).
//
// Writes are revision-checked upserts: it keeps the revision (and set) it last read or
// wrote for each id, applies the change to that set and writes revision + 1; on `conflict`
// (another node, or a region of an older incarnation, wrote in between) it reads the state
// again and applies the change again, at most `max_attempts` times. Calls on one id are
// queued and run one at a time in this process, so only writers in other processes
// conflict. An `update` that adds entities to a shard first records the shard in the type's
// set, then the entities; one that empties a shard writes the empty set first, then drops
// the shard from the type's set: a crash between the two leaves the type's set a superset,
// which costs the coordinator a needless shard start and never loses an entity. Any error
// (after the retries, or `unavailable`, `corrupt`) reaches the callback as a string, and
// the region or coordinator tries again after its retry interval.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "troupe/persistence/store.hpp"
#include "troupe/sharding/remember_entities.hpp"

namespace troupe::sharding {

/// Remembered entities in a persistence plugin's durable state; see the file comment.
class durable_remember_store final : public remember_entities_store,
                                     public std::enable_shared_from_this<durable_remember_store> {
 public:
  /// Attempts of one write before its conflict is reported as an error.
  static constexpr int max_attempts = 10;
  /// The manifest the sets are stored under.
  static constexpr const char* manifest = "troupe.sharding.remembered";

  /// A store on `p`'s durable states (`persistence::get(system).store()` once started).
  /// A plugin without durable states (not started yet) makes every call fail with an error.
  static std::shared_ptr<durable_remember_store> on(const persistence::plugin& p);
  /// A store on `states`.
  static std::shared_ptr<durable_remember_store> on(std::shared_ptr<persistence::durable_state_store> states);

  void load(const std::string& type_name, const std::string& shard, entities_done done) override;
  void update(const std::string& type_name, const std::string& shard, std::vector<std::string> started,
              std::vector<std::string> stopped, update_done done) override;
  void shards(const std::string& type_name, entities_done done) override;

  /// The persistence id of the entity set of `shard` of `type_name`.
  static std::string entities_id(const std::string& type_name, const std::string& shard);
  /// The persistence id of the shard set of `type_name`.
  static std::string shards_id(const std::string& type_name);

  /// Use `on`.
  explicit durable_remember_store(std::shared_ptr<persistence::durable_state_store> states);

 private:
  /// One id's set as this process last read or wrote it.
  struct known_state {
    std::int64_t revision = 0;
    std::set<std::string> ids;
  };
  /// Adds and removes members of one id's set.
  struct change {
    std::vector<std::string> add;
    std::vector<std::string> remove;
  };
  using release_fn = std::function<void()>;
  using job = std::function<void(release_fn)>;
  using set_done = std::function<void(expected<std::set<std::string>, std::string>)>;
  /// One id: its known state and the jobs waiting for it (one runs at a time).
  struct lane {
    std::optional<known_state> known;  ///< nullopt: read it before the next write
    std::deque<job> queue;
    bool busy = false;
  };

  /// Runs `j` once the jobs queued before it on `id` have released the id.
  void in_lane(const std::string& id, job j);
  void release(const std::string& id);
  /// Applies `c` to the set of `id` (the caller holds its lane) and writes it; reads it
  /// first when `fresh` or nothing is known, and then skips a write that changes nothing.
  void modify(const std::string& id, change c, bool fresh, int attempt, set_done done);
  void apply(const std::string& id, change c, known_state current, bool just_read, int attempt, set_done done);
  /// `modify` of `id` in its lane.
  void modify_in_lane(const std::string& id, change c, set_done done);

  std::shared_ptr<persistence::durable_state_store> states_;
  std::mutex mutex_;
  std::map<std::string, lane> lanes_;
};

}  // namespace troupe::sharding
