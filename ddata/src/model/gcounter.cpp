#include "troupe/ddata/gcounter.hpp"

#include <algorithm>
#include <utility>

namespace troupe::ddata {

gcounter::gcounter(std::map<replica_id, std::uint64_t> counts) : counts_(std::move(counts)) {
  std::erase_if(counts_, [](const auto& e) { return e.second == 0; });
}

std::uint64_t gcounter::value() const noexcept {
  std::uint64_t sum = 0;
  for (const auto& [r, n] : counts_) sum += n;
  return sum;
}

std::uint64_t gcounter::value_of(const replica_id& replica) const noexcept {
  const auto it = counts_.find(replica);
  return it == counts_.end() ? 0 : it->second;
}

void gcounter::increment(const replica_id& replica, std::uint64_t n) {
  if (n == 0) return;
  const std::uint64_t now = (counts_[replica] += n);
  delta_[replica] = now;
}

void gcounter::merge(const gcounter& other) {
  if (this == &other) return;
  for (const auto& [r, n] : other.counts_) {
    auto [it, added] = counts_.emplace(r, n);
    if (!added) it->second = std::max(it->second, n);
  }
}

std::optional<gcounter> gcounter::delta() const {
  if (delta_.empty()) return std::nullopt;
  return gcounter(delta_);
}

std::set<replica_id> gcounter::modified_by() const {
  std::set<replica_id> out;
  for (const auto& [r, n] : counts_) out.insert(r);
  return out;
}

void gcounter::prune(const replica_id& removed, const replica_id& into) {
  const auto it = counts_.find(removed);
  if (it == counts_.end() || removed == into) return;
  const std::uint64_t n = it->second;
  counts_.erase(it);
  delta_.erase(removed);
  increment(into, n);
}

void gcounter::pruning_cleanup(const replica_id& removed) {
  counts_.erase(removed);
  delta_.erase(removed);
}

}  // namespace troupe::ddata
