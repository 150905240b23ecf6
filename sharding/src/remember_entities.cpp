#include "troupe/sharding/remember_entities.hpp"

namespace troupe::sharding {

std::shared_ptr<in_memory_remember_store> in_memory_remember_store::process_wide() {
  static const auto store = std::make_shared<in_memory_remember_store>();
  return store;
}

void in_memory_remember_store::load(const std::string& type_name, const std::string& shard, entities_done done) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    const auto t = entities_.find(type_name);
    if (t != entities_.end()) {
      const auto s = t->second.find(shard);
      if (s != t->second.end()) ids.assign(s->second.begin(), s->second.end());
    }
  }
  done(std::move(ids));
}

void in_memory_remember_store::update(const std::string& type_name, const std::string& shard,
                                      std::vector<std::string> started, std::vector<std::string> stopped,
                                      update_done done) {
  {
    std::lock_guard lock(mutex_);
    auto& ids = entities_[type_name][shard];
    ids.insert(started.begin(), started.end());
    for (const auto& id : stopped) ids.erase(id);
    if (ids.empty()) entities_[type_name].erase(shard);
  }
  done(std::nullopt);
}

void in_memory_remember_store::shards(const std::string& type_name, entities_done done) {
  std::vector<std::string> out;
  {
    std::lock_guard lock(mutex_);
    const auto t = entities_.find(type_name);
    if (t != entities_.end())
      for (const auto& [shard, ids] : t->second) out.push_back(shard);
  }
  done(std::move(out));
}

}  // namespace troupe::sharding
