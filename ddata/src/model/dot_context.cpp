#include "troupe/ddata/dot_context.hpp"

#include <algorithm>
#include <utility>

namespace troupe::ddata {

dot_context::dot_context(std::map<replica_id, std::uint64_t> versions, std::set<dot> cloud)
    : versions_(std::move(versions)), cloud_(std::move(cloud)) {
  std::erase_if(versions_, [](const auto& e) { return e.second == 0; });
  std::erase_if(cloud_, [](const dot& d) { return d.counter == 0; });
  compact();
}

bool dot_context::contains(const dot& d) const {
  if (d.counter == 0) return true;
  const auto it = versions_.find(d.replica);
  if (it != versions_.end() && d.counter <= it->second) return true;
  return cloud_.count(d) > 0;
}

dot dot_context::next_dot(const replica_id& replica) const {
  std::uint64_t top = 0;
  if (const auto it = versions_.find(replica); it != versions_.end()) top = it->second;
  // The last cloud dot of `replica`: the one before the first dot of the next replica.
  auto after = cloud_.upper_bound(dot{replica, UINT64_MAX});
  if (after != cloud_.begin()) {
    const dot& last = *std::prev(after);
    if (last.replica == replica) top = std::max(top, last.counter);
  }
  return dot{replica, top + 1};
}

void dot_context::insert(const dot& d) {
  if (contains(d)) return;
  const auto it = versions_.find(d.replica);
  const std::uint64_t top = it == versions_.end() ? 0 : it->second;
  if (d.counter != top + 1) {
    cloud_.insert(d);
    return;
  }
  // 1. Extend the vector by `d`, 2. then by every cloud dot that now follows on.
  std::uint64_t v = d.counter;
  for (auto c = cloud_.find(dot{d.replica, v + 1}); c != cloud_.end() && c->replica == d.replica &&
                                                     c->counter == v + 1;) {
    ++v;
    c = cloud_.erase(c);
  }
  if (it == versions_.end()) {
    versions_.emplace(d.replica, v);
  } else {
    it->second = v;
  }
}

void dot_context::merge(const dot_context& other) {
  if (this == &other) return;
  for (const auto& [r, v] : other.versions_) {
    auto [it, added] = versions_.emplace(r, v);
    if (!added) it->second = std::max(it->second, v);
  }
  cloud_.insert(other.cloud_.begin(), other.cloud_.end());
  compact();
}

void dot_context::compact() {
  // The cloud is ordered by replica, then counter: one pass extends each vector entry as far
  // as the cloud allows.
  for (auto c = cloud_.begin(); c != cloud_.end();) {
    auto it = versions_.find(c->replica);
    const std::uint64_t top = it == versions_.end() ? 0 : it->second;
    if (c->counter <= top) {
      c = cloud_.erase(c);
    } else if (c->counter == top + 1) {
      if (it == versions_.end()) {
        versions_.emplace(c->replica, c->counter);
      } else {
        it->second = c->counter;
      }
      c = cloud_.erase(c);
    } else {
      ++c;
    }
  }
}

bool dot_context::mentions(const replica_id& replica) const {
  if (versions_.count(replica) > 0) return true;
  const auto it = cloud_.lower_bound(dot{replica, 0});
  return it != cloud_.end() && it->replica == replica;
}

void dot_context::collect_replicas(std::set<replica_id>& out) const {
  for (const auto& [r, v] : versions_) out.insert(r);
  for (const dot& d : cloud_) out.insert(d.replica);
}

void dot_context::drop(const replica_id& replica) {
  versions_.erase(replica);
  auto first = cloud_.lower_bound(dot{replica, 0});
  auto last = cloud_.upper_bound(dot{replica, UINT64_MAX});
  cloud_.erase(first, last);
}

}  // namespace troupe::ddata
