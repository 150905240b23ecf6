#include "troupe/ddata/replicator_protocol.hpp"

#include <algorithm>
#include <utility>

namespace troupe::ddata {

pruning_state merge(const pruning_state& a, const pruning_state& b) {
  const auto* pa = std::get_if<pruning_performed>(&a);
  const auto* pb = std::get_if<pruning_performed>(&b);
  if (pa != nullptr && pb != nullptr) return pruning_performed{std::max(pa->obsolete_at, pb->obsolete_at)};
  if (pa != nullptr) return a;
  if (pb != nullptr) return b;
  const auto& ia = std::get<pruning_initialized>(a);
  const auto& ib = std::get<pruning_initialized>(b);
  if (ia.owner == ib.owner) {
    pruning_initialized out = ia;
    out.seen.insert(ib.seen.begin(), ib.seen.end());
    return out;
  }
  return ia.owner < ib.owner ? a : b;
}

status merge(data_envelope& into, const data_envelope& incoming, bool as_delta, std::chrono::nanoseconds now) {
  // 1. Deletion is final.
  if (into.deleted) return ok();
  if (incoming.deleted) {
    into = data_envelope::deleted_entry();
    return ok();
  }
  data_envelope result = into;
  // 2. Pruning states.
  for (const auto& [removed, state] : incoming.pruning) {
    auto [it, added] = result.pruning.emplace(removed, state);
    if (!added) it->second = merge(it->second, state);
  }
  std::erase_if(result.pruning, [now](const auto& p) {
    const auto* done = std::get_if<pruning_performed>(&p.second);
    return done != nullptr && done->obsolete_at <= now;
  });
  // 3. Clean both values of the pruned replicas, then join.
  replicated_data other = incoming.data;
  for (const auto& [removed, state] : result.pruning) {
    if (!std::holds_alternative<pruning_performed>(state)) continue;
    if (result.data.needs_pruning_from(removed)) result.data.pruning_cleanup(removed);
    if (other.needs_pruning_from(removed)) other.pruning_cleanup(removed);
  }
  if (auto s = as_delta ? result.data.merge_delta(other) : result.data.merge(other); !s) return s;
  // 4. Delta numbers, without those of pruned replicas.
  for (const auto& [origin, seq] : incoming.delta_versions) {
    auto& mine = result.delta_versions[origin];
    mine = std::max(mine, seq);
  }
  for (const auto& [removed, state] : result.pruning) {
    if (std::holds_alternative<pruning_performed>(state)) result.delta_versions.erase(removed);
  }
  into = std::move(result);
  return ok();
}

}  // namespace troupe::ddata
