// The invariants of a simulated cluster, checked after every change of a node's view.
//
// 1. status_monotonic: a member's status in one node's view only moves forward along the
//    transition table of member_status (possibly several moves at once, when the node
//    missed intermediate versions); a member only leaves a view through a tombstone.
// 2. removed_stays_removed: tombstones never disappear from a view, and no view holds a
//    member it had tombstoned before (the same uid never comes back).
// 3. single_leader: nodes whose views have converged on one version agree on the leader.
// 4. no_split_brain (keep-majority): no two serving nodes (running, up-like) whose views
//    both have an up leader each hold the other down or removed.
// 5. clock_monotonic: a view's vector clock never goes back, except for the counters of
//    nodes it has tombstoned (pruned on removal).
// 6. gossip_valid (optional, slow): `gossip::invariant_violation` finds nothing.
// After healing, survivors converging is checked by the scenarios (`simulation::fail`).
#include <array>
#include <string>
#include <vector>

#include "troupe/cluster/model/member_status.hpp"
#include "troupe/cluster/sim/simulation.hpp"

namespace troupe::cluster::sim {
namespace {

using model::member_status;
using model::unique_address;

// reachable[a][b]: b can follow a through one or more moves of the transition table.
struct status_closure {
  std::array<std::array<bool, model::member_status_count>, model::member_status_count> reachable{};

  status_closure() {
    for (auto a : model::all_member_statuses)
      for (auto b : model::all_member_statuses)
        reachable[idx(a)][idx(b)] = model::is_allowed_transition(a, b);
    for (std::size_t k = 0; k < model::member_status_count; ++k)  // Warshall
      for (std::size_t i = 0; i < model::member_status_count; ++i)
        for (std::size_t j = 0; j < model::member_status_count; ++j)
          if (reachable[i][k] && reachable[k][j]) reachable[i][j] = true;
  }
  static std::size_t idx(member_status s) { return static_cast<std::size_t>(s); }
  bool allows(member_status from, member_status to) const {
    return from == to || reachable[idx(from)][idx(to)];
  }
};

const status_closure& closure() {
  static const status_closure c;
  return c;
}

// True if `view` holds `node` down or removed.
bool holds_out(const model::gossip& view, const unique_address& node) {
  if (view.tombstones().contains(node)) return true;
  const model::member* m = view.find(node);
  return m && m->status() == member_status::down;
}

bool has_up_leader(const node_view& v) {
  const auto& leader = v.leader();
  if (!leader) return false;
  const model::member* m = v.gossip().find(*leader);
  return m && is_up_like(m->status());
}

}  // namespace

bool simulation::serving(const sim_node& n) const {
  return n.life == node_life::running && n.member() && n.view && is_up_like(n.view->state().self_member().status());
}

void simulation::check_view_change(const sim_node& n, const node_view* before,
                                   const node_view& after) {
  const model::gossip& next = after.gossip();
  const std::string who = " in the view of " + to_string(n.self);

  if (before) {
    const model::gossip& prev = before->gossip();
    // 1 and 2. Walk both sorted member lists.
    ++checks_.status_monotonic;
    ++checks_.removed_stays_removed;
    const auto& a = prev.members();
    const auto& b = next.members();
    std::size_t i = 0, j = 0;
    if (a.shares_items_with(b)) i = a.size(), j = b.size();  // the same members
    while (i < a.size() || j < b.size()) {
      if (i < a.size() && j < b.size() && &a[i] == &b[j]) {  // one shared member: unchanged
        ++i;
        ++j;
      } else if (j == b.size() || (i < a.size() && a[i].unique_address() < b[j].unique_address())) {
        // Gone from the view: only by removal, with a tombstone.
        if (!next.tombstones().contains(a[i].unique_address()))
          return fail("status_monotonic", to_string(a[i]) + " vanished without a tombstone" + who);
        if (!closure().allows(a[i].status(), member_status::removed))
          return fail("status_monotonic", to_string(a[i]) + " removed from a status that cannot be" + who);
        ++i;
      } else if (i == a.size() || b[j].unique_address() < a[i].unique_address()) {
        if (prev.tombstones().contains(b[j].unique_address()))
          return fail("removed_stays_removed", to_string(b[j]) + " came back after removal" + who);
        ++j;
      } else {
        if (!closure().allows(a[i].status(), b[j].status()))
          return fail("status_monotonic", to_string(a[i].unique_address()) + " moved " +
                                              std::string{to_string(a[i].status())} + " -> " +
                                              std::string{to_string(b[j].status())} + who);
        ++i;
        ++j;
      }
    }
    for (const auto& [node, when] : prev.tombstones())
      if (!next.tombstones().contains(node) && when + settings_.membership.prune_tombstones_after > now_)
        return fail("removed_stays_removed", "tombstone of " + to_string(node) + " dropped" + who);

    // 5. Vector clock: no counter goes back unless its node was removed.
    ++checks_.clock_monotonic;
    for (const auto& [id, counter] : prev.version().versions()) {
      if (next.version().version_of(id) >= counter) continue;
      bool pruned = false;
      for (const auto& [node, when] : next.tombstones())
        if (model::vector_clock::node_of(node) == id) pruned = true;
      if (!pruned)
        return fail("clock_monotonic", "counter went back from " + model::to_string(prev.version()) +
                                           " to " + model::to_string(next.version()) + who);
    }
  }

  // 6. The gossip's own invariants.
  if (settings_.check_gossip_invariants) {
    ++checks_.gossip_valid;
    if (auto why = next.invariant_violation()) return fail("gossip_valid", *why + who);
  }

  // 3. One leader per converged version.
  ++checks_.single_leader;
  if (after.converged()) {
    const auto& leader = after.leader();
    if (leader) {
      auto [it, inserted] = converged_leader_.try_emplace(after.version_hash(), *leader);
      if (!inserted && it->second != *leader)
        return fail("single_leader", "converged version " + model::to_string(next.version()) +
                                         " has leader " + to_string(*leader) + who + " but " +
                                         to_string(it->second) + " elsewhere");
    }
  }

  // 4. Keep-majority: the two sides never both go on as a cluster. Only views that hold
  //    someone down or removed can be one side of a split brain.
  if (settings_.sbr.strategy != model::sbr_strategy::keep_majority || n.life != node_life::running ||
      !is_up_like(after.state().self_member().status()))
    return;
  std::vector<unique_address> held_out;
  for (const auto& [node, when] : next.tombstones()) held_out.push_back(node);
  for (const auto& m : next.members())
    if (m.status() == member_status::down) held_out.push_back(m.unique_address());
  if (held_out.empty()) return;
  ++checks_.no_split_brain;
  if (!has_up_leader(after)) return;
  for (const auto& other : held_out) {
    const auto slot = slot_of(other.address);
    if (!slot) continue;
    const sim_node& m = nodes_[*slot];
    if (m.self != other || !serving(m) || !holds_out(m.view->gossip(), n.self) || !has_up_leader(*m.view))
      continue;
    return fail("no_split_brain", to_string(n.self) + " and " + to_string(other) +
                                      " both serve with an up leader, each holding the other down or removed");
  }
}

void simulation::observe_views(const sim_node& n, const node_view* before, const node_view* after) {
  for (auto& v : victims_) {
    const bool had = before && before->gossip().has_member(v.node);
    const bool has = after && after->gossip().has_member(v.node);
    if (had && !has) --v.views_holding;
    if (has && !had) ++v.views_holding;
    if (after) {
      const model::gossip& g = after->gossip();
      if (has && !v.unreachable_at && !g.reachability().is_reachable(v.node)) v.unreachable_at = now_;
      if (has && !v.leader_unreachable_at && after->leader() == n.self &&
          !g.reachability().is_reachable(v.node))
        v.leader_unreachable_at = now_;
      if (has && !v.downed_at && g.find(v.node)->status() == member_status::down) v.downed_at = now_;
      if (!v.removed_at && g.tombstones().contains(v.node)) v.removed_at = now_;
    }
    if (v.removed_at && !v.removed_everywhere_at && v.views_holding == 0) v.removed_everywhere_at = now_;
  }
}

}  // namespace troupe::cluster::sim
