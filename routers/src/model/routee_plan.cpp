#include "troupe/routers/routee_plan.hpp"

#include <algorithm>
#include <utility>

namespace troupe::routers {

routee_plan::routee_plan(cluster_router_settings settings, model::unique_address self)
    : settings_(std::move(settings)), self_(std::move(self)) {}

bool routee_plan::member_up(const model::unique_address& node, const std::set<std::string>& roles) {
  if (!settings_.use_role.empty() && !roles.contains(settings_.use_role)) return false;
  return up_.insert(node).second && is_eligible(node);
}

bool routee_plan::member_gone(const model::unique_address& node) {
  const bool was = is_eligible(node);
  up_.erase(node);
  unreachable_.erase(node);
  return was;
}

bool routee_plan::member_unreachable(const model::unique_address& node) {
  const bool was = is_eligible(node);
  unreachable_.insert(node);
  return was;
}

bool routee_plan::member_reachable(const model::unique_address& node) {
  if (unreachable_.erase(node) == 0) return false;
  return is_eligible(node);
}

bool routee_plan::is_eligible(const model::unique_address& node) const {
  if (!up_.contains(node) || unreachable_.contains(node)) return false;
  return settings_.allow_local_routees || node != self_;
}

std::vector<model::unique_address> routee_plan::eligible_nodes() const {
  std::vector<model::unique_address> out;
  for (const auto& n : up_)  // a std::set: address order
    if (is_eligible(n)) out.push_back(n);
  return out;
}

std::vector<routee_slot> routee_plan::group_slots() const {
  std::vector<routee_slot> out;
  for (const auto& n : eligible_nodes()) {
    for (const auto& p : settings_.routees_paths) {
      if (out.size() >= settings_.total_instances) return out;
      out.push_back({n, p});
    }
  }
  return out;
}

std::map<model::unique_address, std::size_t> routee_plan::pool_targets(
    const std::map<model::unique_address, std::size_t>& current) const {
  std::map<model::unique_address, std::size_t> target = current;
  std::size_t total = 0;
  for (const auto& [node, count] : current) total += count;
  const auto nodes = eligible_nodes();
  for (const auto& n : nodes) target.try_emplace(n, 0);
  // One at a time to the eligible node with the fewest, the lowest address first on ties.
  while (total < settings_.total_instances) {
    const model::unique_address* best = nullptr;
    std::size_t fewest = settings_.max_instances_per_node;
    for (const auto& n : nodes) {
      const std::size_t c = target[n];
      if (c < fewest) {
        fewest = c;
        best = &n;
      }
    }
    if (!best) break;  // every node is full
    ++target[*best];
    ++total;
  }
  return target;
}

}  // namespace troupe::routers
