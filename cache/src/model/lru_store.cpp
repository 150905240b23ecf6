#include "troupe/cache/model/lru_store.hpp"

#include <iterator>
#include <utility>

namespace troupe::cache::model {

const char* to_string(put_status s) noexcept {
  switch (s) {
    case put_status::stored: return "stored";
    case put_status::replaced: return "replaced";
    case put_status::too_large: return "too_large";
    case put_status::empty_key: return "empty_key";
    case put_status::bad_ttl: return "bad_ttl";
  }
  return "unknown";
}

void lru_store::erase(list::iterator it) {
  bytes_ -= entry_cost(it->key, it->value);
  index_.erase(std::string_view(it->key));
  order_.erase(it);
}

put_outcome lru_store::put(std::string key, std::string value, std::optional<std::chrono::nanoseconds> ttl,
                           time_point now) {
  put_outcome out;
  // 1. Refuse what no store holds, changing nothing.
  if (key.empty()) {
    out.status = put_status::empty_key;
    return out;
  }
  if (ttl && ttl->count() <= 0) {
    out.status = put_status::bad_ttl;
    return out;
  }
  // 2. The old value goes whatever happens next.
  if (auto it = index_.find(key); it != index_.end()) {
    erase(it->second);
    out.status = put_status::replaced;
  }
  const std::size_t cost = entry_cost(key, value);
  if (cost > capacity_) {
    out.status = put_status::too_large;
    return out;
  }
  // 3. Make room: expired entries first, then the least recently used.
  if (bytes_ + cost > capacity_) out.expired = expire(now);
  while (bytes_ + cost > capacity_) {
    out.evicted.push_back(order_.back().key);
    erase(std::prev(order_.end()));
  }
  // 4. Insert at the front (most recently used).
  std::optional<time_point> expires;
  if (ttl) expires = now + *ttl;
  order_.push_front(entry{std::move(key), std::move(value), expires});
  index_.emplace(std::string_view(order_.front().key), order_.begin());
  bytes_ += cost;
  return out;
}

const std::string* lru_store::get(const std::string& key, time_point now) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  if (expired_at(*it->second, now)) {
    erase(it->second);
    return nullptr;
  }
  order_.splice(order_.begin(), order_, it->second);
  return &order_.front().value;
}

bool lru_store::contains(const std::string& key, time_point now) const {
  auto it = index_.find(key);
  return it != index_.end() && !expired_at(*it->second, now);
}

bool lru_store::remove(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  erase(it->second);
  return true;
}

std::vector<std::string> lru_store::expire(time_point now) {
  std::vector<std::string> dropped;
  for (auto it = order_.begin(); it != order_.end();) {
    auto next = std::next(it);
    if (expired_at(*it, now)) {
      dropped.push_back(it->key);
      erase(it);
    }
    it = next;
  }
  return dropped;
}

std::vector<std::string> lru_store::resize(std::size_t capacity_bytes) {
  capacity_ = capacity_bytes;
  std::vector<std::string> evicted;
  while (bytes_ > capacity_) {
    evicted.push_back(order_.back().key);
    erase(std::prev(order_.end()));
  }
  return evicted;
}

void lru_store::clear() {
  index_.clear();
  order_.clear();
  bytes_ = 0;
}

std::vector<entry_copy> lru_store::entries(time_point now) const {
  std::vector<entry_copy> out;
  out.reserve(order_.size());
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    if (expired_at(*it, now)) continue;
    std::optional<std::chrono::nanoseconds> ttl;
    if (it->expires) ttl = *it->expires - now;
    out.push_back(entry_copy{it->key, it->value, ttl});
  }
  return out;
}

std::vector<std::string> lru_store::keys_by_recency() const {
  std::vector<std::string> keys;
  keys.reserve(order_.size());
  for (const auto& e : order_) keys.push_back(e.key);
  return keys;
}

}  // namespace troupe::cache::model
