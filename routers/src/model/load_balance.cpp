#include "troupe/routers/load_balance.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace troupe::routers {

void load_balance::set_routees(std::vector<std::string> keys) {
  std::vector<routee_load> next;
  next.reserve(keys.size());
  for (auto& k : keys) {
    if (const auto* known = find(k)) {
      next.push_back(*known);
    } else {
      next.push_back({std::move(k), 0, std::nullopt, 0});
    }
  }
  routees_ = std::move(next);
  index_.clear();
  for (std::size_t i = 0; i < routees_.size(); ++i) index_.emplace(routees_[i].key, i);
  if (next_ >= routees_.size()) next_ = 0;
}

bool load_balance::report(std::string_view key, std::uint32_t size, std::uint64_t sent_when_asked) {
  const auto it = index_.find(key);
  if (it == index_.end()) return false;
  auto* r = &routees_[it->second];
  r->size = size;
  // A count from before the routee joined again (its count restarted) adds nothing.
  r->sent_when_asked = std::min(sent_when_asked, r->sent);
  return true;
}

std::size_t load_balance::choose() {
  assert(!routees_.empty());
  const std::size_t n = routees_.size();
  // The first smallest estimate from the round robin's start on, wrapping around.
  std::size_t best = next_ % n;
  std::uint64_t lowest = estimate(best);
  for (std::size_t k = 1; k < n && lowest > 0; ++k) {
    const std::size_t i = (next_ + k) % n;
    if (const auto e = estimate(i); e < lowest) {
      lowest = e;
      best = i;
    }
  }
  ++routees_[best].sent;
  next_ = (best + 1) % n;
  return best;
}

std::uint64_t load_balance::sent(std::string_view key) const {
  const auto* r = find(key);
  return r ? r->sent : 0;
}

std::uint64_t load_balance::estimate(std::size_t i) const {
  const auto& r = routees_.at(i);
  return std::uint64_t{r.size.value_or(0)} + (r.sent - r.sent_when_asked);
}

std::optional<std::uint32_t> load_balance::reported(std::size_t i) const { return routees_.at(i).size; }

std::vector<std::string> load_balance::keys() const {
  std::vector<std::string> out;
  out.reserve(routees_.size());
  for (const auto& r : routees_) out.push_back(r.key);
  return out;
}

const load_balance::routee_load* load_balance::find(std::string_view key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &routees_[it->second];
}

}  // namespace troupe::routers
