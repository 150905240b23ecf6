#include "troupe/cluster/model/oldest.hpp"

namespace troupe::cluster::model {

bool holds_singleton_place(member_status s) noexcept {
  switch (s) {
    case member_status::up:
    case member_status::leaving:
    case member_status::preparing_for_shutdown:
    case member_status::ready_for_shutdown:
    case member_status::down:
      return true;
    case member_status::joining:
    case member_status::weakly_up:
    case member_status::exiting:
    case member_status::removed:
      return false;
  }
  return false;
}

std::optional<member> oldest_member(const gossip& g, const std::string& role) {
  const member* best = nullptr;
  for (const auto& m : g.members()) {
    if (!holds_singleton_place(m.status()) || (!role.empty() && !m.has_role(role))) continue;
    if (m.status() == member_status::down && m.up_number() == member::no_up_number) continue;
    if (!best || m.is_older_than(*best)) best = &m;
  }
  if (!best) return std::nullopt;
  return *best;
}

}  // namespace troupe::cluster::model
