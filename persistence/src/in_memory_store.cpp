// The in-memory plugin: the rules of store.hpp over maps under one mutex. Each call
// completes (and runs its callback) before it returns.
#include <algorithm>
#include <map>
#include <mutex>

#include "internal/store_errors.hpp"
#include "troupe/persistence/store.hpp"

namespace troupe::persistence {

const char* to_string(store_error::kind k) noexcept {
  switch (k) {
    case store_error::kind::conflict: return "conflict";
    case store_error::kind::unavailable: return "unavailable";
    case store_error::kind::corrupt: return "corrupt";
    case store_error::kind::invalid: return "invalid";
  }
  return "unknown";
}

std::string describe(const store_error& e) { return std::string(to_string(e.what)) + ": " + e.message; }

namespace {

using internal::error;

class memory_journal final : public journal {
 public:
  void write(std::vector<persistent_repr> events, done_fn done) override {
    std::optional<store_error> failed;
    {
      std::lock_guard lock(mutex_);
      failed = check(events);
      if (!failed) {
        auto& s = ids_[events.front().persistence_id];
        for (auto& e : events) {
          s.highest = e.sequence_nr;
          if (!e.tags.empty()) tagged_.push_back(tagged_event{++last_offset_, e});
          s.events.emplace(e.sequence_nr, std::move(e));
        }
      }
    }
    done(std::move(failed));
  }

  void read(std::string id, std::int64_t from, std::int64_t to, std::int64_t limit,
            result_fn<std::vector<persistent_repr>> done) override {
    std::vector<persistent_repr> out;
    {
      std::lock_guard lock(mutex_);
      if (auto it = ids_.find(id); it != ids_.end()) {
        for (auto e = it->second.events.lower_bound(from);
             e != it->second.events.end() && e->first <= to && std::int64_t(out.size()) < limit; ++e) {
          out.push_back(e->second);
        }
      }
    }
    done(std::move(out));
  }

  void highest_sequence_nr(std::string id, result_fn<std::int64_t> done) override {
    std::int64_t h = 0;
    {
      std::lock_guard lock(mutex_);
      if (auto it = ids_.find(id); it != ids_.end()) h = it->second.highest;
    }
    done(h);
  }

  void delete_to(std::string id, std::int64_t to, done_fn done) override {
    {
      std::lock_guard lock(mutex_);
      if (auto it = ids_.find(id); it != ids_.end()) {
        auto& ev = it->second.events;
        ev.erase(ev.begin(), ev.upper_bound(to));
        std::erase_if(tagged_, [&](const tagged_event& t) {
          return t.event.persistence_id == id && t.event.sequence_nr <= to;
        });
      }
    }
    done(std::nullopt);
  }

  void events_by_tag(std::string tag, std::int64_t after, std::int64_t limit,
                     result_fn<std::vector<tagged_event>> done) override {
    std::vector<tagged_event> out;
    {
      std::lock_guard lock(mutex_);
      auto it = std::upper_bound(tagged_.begin(), tagged_.end(), after,
                                 [](std::int64_t a, const tagged_event& t) { return a < t.offset; });
      for (; it != tagged_.end() && std::int64_t(out.size()) < limit; ++it) {
        if (std::find(it->event.tags.begin(), it->event.tags.end(), tag) != it->event.tags.end()) out.push_back(*it);
      }
    }
    done(std::move(out));
  }

  void persistence_ids(std::string after, std::int64_t limit, result_fn<std::vector<std::string>> done) override {
    std::vector<std::string> out;
    {
      std::lock_guard lock(mutex_);
      for (auto it = ids_.upper_bound(after); it != ids_.end() && std::int64_t(out.size()) < limit; ++it) {
        out.push_back(it->first);
      }
    }
    done(std::move(out));
  }

 private:
  struct per_id {
    std::int64_t highest = 0;
    std::map<std::int64_t, persistent_repr> events;
  };

  // Under mutex_: why `events` cannot be appended, or nullopt.
  std::optional<store_error> check(const std::vector<persistent_repr>& events) const {
    if (events.empty()) return error(store_error::kind::invalid, "an atomic write needs at least one event");
    const std::string& id = events.front().persistence_id;
    if (id.empty()) return error(store_error::kind::invalid, "an event has an empty persistence id");
    for (std::size_t i = 1; i < events.size(); ++i) {
      if (events[i].persistence_id != id || events[i].sequence_nr != events[0].sequence_nr + std::int64_t(i)) {
        return error(store_error::kind::invalid,
                     "an atomic write of \"" + id + "\" must hold consecutive events of that id only");
      }
    }
    const auto it = ids_.find(id);
    const std::int64_t highest = it == ids_.end() ? 0 : it->second.highest;
    if (events.front().sequence_nr != highest + 1) {
      return error(store_error::kind::conflict,
                   "persistence id \"" + id + "\": sequence number " + std::to_string(events.front().sequence_nr) +
                       " is not the next (highest stored is " + std::to_string(highest) +
                       "); another writer has written this id");
    }
    return std::nullopt;
  }

  std::mutex mutex_;
  std::map<std::string, per_id> ids_;
  std::vector<tagged_event> tagged_;
  std::int64_t last_offset_ = 0;
};

class memory_snapshots final : public snapshot_store {
 public:
  void save(snapshot_repr s, done_fn done) override {
    {
      std::lock_guard lock(mutex_);
      auto& m = snapshots_[s.persistence_id];
      m.insert_or_assign(s.sequence_nr, std::move(s));
    }
    done(std::nullopt);
  }

  void load(std::string id, std::int64_t max_sequence_nr, result_fn<std::optional<snapshot_repr>> done) override {
    std::optional<snapshot_repr> out;
    {
      std::lock_guard lock(mutex_);
      if (auto it = snapshots_.find(id); it != snapshots_.end()) {
        auto s = it->second.upper_bound(max_sequence_nr);
        if (s != it->second.begin()) out = std::prev(s)->second;
      }
    }
    done(std::move(out));
  }

  void delete_to(std::string id, std::int64_t max_sequence_nr, done_fn done) override {
    {
      std::lock_guard lock(mutex_);
      if (auto it = snapshots_.find(id); it != snapshots_.end()) {
        it->second.erase(it->second.begin(), it->second.upper_bound(max_sequence_nr));
      }
    }
    done(std::nullopt);
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::map<std::int64_t, snapshot_repr>> snapshots_;
};

class memory_states final : public durable_state_store {
 public:
  void get(std::string id, result_fn<std::optional<state_repr>> done) override {
    std::optional<state_repr> out;
    {
      std::lock_guard lock(mutex_);
      if (auto it = states_.find(id); it != states_.end()) out = it->second;
    }
    done(std::move(out));
  }

  void upsert(state_repr s, done_fn done) override {
    std::optional<store_error> failed;
    {
      std::lock_guard lock(mutex_);
      const auto it = states_.find(s.persistence_id);
      const std::int64_t stored = it == states_.end() ? 0 : it->second.revision;
      if (s.persistence_id.empty()) {
        failed = error(store_error::kind::invalid, "a durable state needs a persistence id");
      } else if (s.revision != stored + 1) {
        failed = error(store_error::kind::conflict,
                       "persistence id \"" + s.persistence_id + "\": revision " + std::to_string(s.revision) +
                           " needs stored revision " + std::to_string(s.revision - 1) + ", the store holds " +
                           std::to_string(stored) + "; another writer has written this id");
      } else {
        states_.insert_or_assign(s.persistence_id, std::move(s));
      }
    }
    done(std::move(failed));
  }

  void remove(std::string id, std::int64_t revision, done_fn done) override {
    std::optional<store_error> failed;
    {
      std::lock_guard lock(mutex_);
      const auto it = states_.find(id);
      const std::int64_t stored = it == states_.end() ? 0 : it->second.revision;
      if (stored != revision) {
        failed = error(store_error::kind::conflict, "persistence id \"" + id + "\": revision " +
                                                        std::to_string(revision) + " is stale (stored revision is " +
                                                        std::to_string(stored) + ")");
      } else if (it != states_.end()) {
        states_.erase(it);
      }
    }
    done(std::move(failed));
  }

 private:
  std::mutex mutex_;
  std::map<std::string, state_repr> states_;
};

}  // namespace

plugin make_in_memory_plugin() {
  return plugin{"in-memory", std::make_shared<memory_journal>(), std::make_shared<memory_snapshots>(),
                std::make_shared<memory_states>()};
}

}  // namespace troupe::persistence
