#include "troupe/cluster/events.hpp"

#include <type_traits>
#include <utility>

#include "troupe/cluster/model/membership_state.hpp"

namespace troupe::cluster {
namespace {

std::optional<model::address> address_of(const std::optional<unique_address>& u) {
  if (!u) return std::nullopt;
  return u->address;
}

std::set<unique_address> unreachable_members_of(const model::gossip& g, const unique_address& self) {
  std::set<unique_address> out;
  if (g.reachability().is_all_reachable()) return out;
  for (const auto& u : g.reachability().all_unreachable_or_terminated())
    if (u != self && g.has_member(u)) out.insert(u);
  return out;
}

std::map<std::string, std::optional<model::address>> role_leaders_of(const model::membership_state& s) {
  std::map<std::string, std::optional<model::address>> out;
  for (const auto& role : s.latest_gossip().all_roles()) out[role] = address_of(s.role_leader(role));
  return out;
}

}  // namespace

const model::member* current_cluster_state::find(const model::address& a) const {
  for (const auto& m : members)
    if (m.address() == a) return &m;
  return nullptr;
}

std::uint32_t kind_of(const cluster_event& e) noexcept {
  return std::visit(
      [](const auto& ev) -> std::uint32_t {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, member_joined>) return member_joined_events;
        else if constexpr (std::is_same_v<T, member_weakly_up>) return member_weakly_up_events;
        else if constexpr (std::is_same_v<T, member_up>) return member_up_events;
        else if constexpr (std::is_same_v<T, member_left>) return member_left_events;
        else if constexpr (std::is_same_v<T, member_exited>) return member_exited_events;
        else if constexpr (std::is_same_v<T, member_downed>) return member_downed_events;
        else if constexpr (std::is_same_v<T, member_removed>) return member_removed_events;
        else if constexpr (std::is_same_v<T, unreachable_member>) return unreachable_events;
        else if constexpr (std::is_same_v<T, reachable_member>) return reachable_events;
        else if constexpr (std::is_same_v<T, leader_changed>) return leader_events;
        else return role_leader_events;
      },
      e);
}

current_cluster_state snapshot_of(const model::gossip& g, const unique_address& self) {
  const model::membership_state s{g, self};
  current_cluster_state out;
  for (const auto& m : g.members()) out.members.push_back(m);
  for (const auto& u : unreachable_members_of(g, self)) out.unreachable.push_back(g.member(u));
  for (const auto& u : g.seen_by()) out.seen_by.insert(u.address);
  out.leader = address_of(s.leader());
  out.role_leaders = role_leaders_of(s);
  return out;
}

std::vector<cluster_event> diff_events(const model::gossip& before, const model::gossip& after,
                                       const unique_address& self) {
  std::vector<cluster_event> out;
  // Most view changes are seen marks only: the same shared members and reachability, so
  // the same statuses, unreachable members and leaders.
  const auto& was = before.members();
  const auto& is = after.members();
  if (was.shares_items_with(is) && before.reachability() == after.reachability()) return out;
  // 1. Member status events, in member order; 2. removals: members that are gone. One walk
  //    of both sorted lists, skipping the members they share (unchanged).
  std::vector<cluster_event> removals;
  for (std::size_t i = 0, j = 0; i < was.size() || j < is.size();) {
    if (i < was.size() && j < is.size() && &was[i] == &is[j]) {
      ++i;
      ++j;
      continue;
    }
    if (j == is.size() || (i < was.size() && was[i].unique_address() < is[j].unique_address())) {
      removals.emplace_back(
          member_removed{model::member::removed_placeholder(was[i].unique_address()), was[i].status()});
      ++i;
      continue;
    }
    const model::member& m = is[j];
    const bool known = i < was.size() && was[i].unique_address() == m.unique_address();
    const bool same_status = known && was[i].status() == m.status();
    if (known) ++i;
    ++j;
    if (same_status) continue;
    switch (m.status()) {
      case member_status::joining: out.emplace_back(member_joined{m}); break;
      case member_status::weakly_up: out.emplace_back(member_weakly_up{m}); break;
      case member_status::up: out.emplace_back(member_up{m}); break;
      case member_status::leaving: out.emplace_back(member_left{m}); break;
      case member_status::exiting: out.emplace_back(member_exited{m}); break;
      case member_status::down: out.emplace_back(member_downed{m}); break;
      default: break;
    }
  }
  for (auto& r : removals) out.push_back(std::move(r));
  // 3. Reachability.
  const auto was_unreachable = unreachable_members_of(before, self);
  const auto is_unreachable = unreachable_members_of(after, self);
  for (const auto& u : is_unreachable)
    if (!was_unreachable.contains(u)) out.emplace_back(unreachable_member{after.member(u)});
  for (const auto& u : was_unreachable)
    if (!is_unreachable.contains(u) && after.has_member(u)) out.emplace_back(reachable_member{after.member(u)});
  // 4. Leaders.
  const model::membership_state sb{before, self}, sa{after, self};
  if (const auto l = address_of(sa.leader()); l != address_of(sb.leader())) out.emplace_back(leader_changed{l});
  const auto rb = role_leaders_of(sb);
  for (const auto& [role, leader] : role_leaders_of(sa)) {
    const auto it = rb.find(role);
    if (it == rb.end() || it->second != leader) out.emplace_back(role_leader_changed{role, leader});
  }
  return out;
}

std::string to_string(const cluster_event& e) {
  return std::visit(
      [](const auto& ev) -> std::string {
        using T = std::decay_t<decltype(ev)>;
        auto who = [](const model::member& m) { return model::to_string(m.unique_address()); };
        auto addr = [](const std::optional<model::address>& a) { return a ? model::to_string(*a) : "none"; };
        if constexpr (std::is_same_v<T, member_joined>) return "member_joined " + who(ev.member);
        else if constexpr (std::is_same_v<T, member_weakly_up>) return "member_weakly_up " + who(ev.member);
        else if constexpr (std::is_same_v<T, member_up>) return "member_up " + who(ev.member);
        else if constexpr (std::is_same_v<T, member_left>) return "member_left " + who(ev.member);
        else if constexpr (std::is_same_v<T, member_exited>) return "member_exited " + who(ev.member);
        else if constexpr (std::is_same_v<T, member_downed>) return "member_downed " + who(ev.member);
        else if constexpr (std::is_same_v<T, member_removed>)
          return "member_removed " + who(ev.member) + " (was " + std::string(model::to_string(ev.previous_status)) + ")";
        else if constexpr (std::is_same_v<T, unreachable_member>) return "unreachable_member " + who(ev.member);
        else if constexpr (std::is_same_v<T, reachable_member>) return "reachable_member " + who(ev.member);
        else if constexpr (std::is_same_v<T, leader_changed>) return "leader_changed " + addr(ev.leader);
        else return "role_leader_changed " + ev.role + " " + addr(ev.leader);
      },
      e);
}

}  // namespace troupe::cluster
