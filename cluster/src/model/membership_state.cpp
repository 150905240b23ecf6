#include "troupe/cluster/model/membership_state.hpp"

#include <algorithm>

namespace troupe::cluster::model {

namespace {

sbr_member_status sbr_status(member_status s) {
  switch (s) {
    case member_status::joining: return sbr_member_status::joining;
    case member_status::weakly_up: return sbr_member_status::weakly_up;
    case member_status::leaving: return sbr_member_status::leaving;
    case member_status::exiting: return sbr_member_status::exiting;
    case member_status::down:
    case member_status::removed: return sbr_member_status::down;
    default: return sbr_member_status::up;
  }
}

}  // namespace

sbr_snapshot sbr_snapshot_of(const gossip& g, const unique_address& self, std::chrono::nanoseconds stable_for,
                             std::chrono::nanoseconds unstable_for) {
  const reachability reach = g.reachability_excluding_downed_observers();
  sbr_snapshot snap;
  snap.self = self;
  snap.members.reserve(g.members().size());
  for (const auto& m : g.members())
    snap.members.push_back({m.unique_address(), sbr_status(m.status()), m.roles(), m.up_number(),
                            reach.is_reachable(m.unique_address())});
  for (const auto& r : reach.records())
    if (r.status != reachability_status::reachable) snap.unreachable_records.push_back({r.observer, r.subject});
  snap.seen_by = g.seen_by();
  snap.stable_for = stable_for;
  snap.unstable_for = unstable_for;
  return snap;
}

bool on_losing_side(const gossip& g, const unique_address& self, const sbr_settings& s) {
  // 1. Nobody unreachable (the common case): no partition, and no snapshot to build.
  if (g.reachability().all_unreachable_or_terminated().empty()) return false;
  // 2. The decision the resolver would make now, with the stability wait already over.
  const sbr_decision d = resolve_split_brain(s, sbr_snapshot_of(g, self, s.stable_after, std::chrono::nanoseconds{0}));
  return d.outcome == sbr_outcome::decided && d.to_down.contains(self);
}

bool fenced_after(bool was_fenced, const gossip& g, const unique_address& self, const sbr_settings& s) {
  if (g.reachability().all_unreachable_or_terminated().empty()) return false;
  return was_fenced || on_losing_side(g, self, s);
}

namespace {

using enum member_status;

// Members that may lead, and that must have seen a version for convergence.
bool is_up_like(member_status s) noexcept {
  return s == up || s == leaving || s == preparing_for_shutdown || s == ready_for_shutdown;
}

// Unreachable members with these statuses neither block convergence nor stay: the leader
// removes them.
bool is_on_way_out(member_status s) noexcept { return s == down || s == exiting; }

bool is_shutting_down(member_status s) noexcept {
  return s == preparing_for_shutdown || s == ready_for_shutdown;
}

}  // namespace

std::string_view to_string(join_outcome o) noexcept {
  switch (o) {
    case join_outcome::added: return "added";
    case join_outcome::already_member: return "already_member";
    case join_outcome::old_incarnation_downed: return "old_incarnation_downed";
    case join_outcome::old_incarnation_pending: return "old_incarnation_pending";
    case join_outcome::ignored: return "ignored";
  }
  return "invalid";
}

std::string_view to_string(gossip_receipt r) noexcept {
  switch (r) {
    case gossip_receipt::ignored: return "ignored";
    case gossip_receipt::older: return "older";
    case gossip_receipt::newer: return "newer";
    case gossip_receipt::same: return "same";
    case gossip_receipt::merged: return "merged";
  }
  return "invalid";
}

membership_state::membership_state(model::gossip latest, unique_address self)
    : latest_(std::move(latest)), self_(std::move(self)) {}

membership_state membership_state::seen() const {
  return membership_state{latest_.seen(self_), self_};
}

model::gossip membership_state::stamped(model::gossip g) const {
  return g.increment(self_).only_seen(self_);
}

bool membership_state::convergence(const std::set<unique_address>& exiting_confirmed) const {
  const auto& members = latest_.members();

  // 1. While no member is up yet (a cluster forming), joining members must have seen the
  //    version too, so that the first up numbers are handed out once.
  const bool forming = std::none_of(members.begin(), members.end(),
                                    [](const member& m) { return is_up_like(m.status()); });

  // 2. Every member that counts has seen this version (or has confirmed it is exiting).
  for (const auto& m : members) {
    const bool counts =
        is_up_like(m.status()) || (forming && (m.status() == joining || m.status() == weakly_up));
    if (counts && !latest_.has_seen(m.unique_address()) &&
        !exiting_confirmed.contains(m.unique_address()))
      return false;
  }

  // 3. Every member that non-down observers find unreachable is on its way out.
  for (const auto& node :
       latest_.reachability_excluding_downed_observers().all_unreachable_or_terminated()) {
    if (node == self_ || exiting_confirmed.contains(node)) continue;
    if (!is_on_way_out(latest_.member(node).status())) return false;
  }
  return true;
}

std::optional<unique_address> membership_state::leader() const {
  std::vector<const member*> all;
  all.reserve(latest_.members().size());
  for (const auto& m : latest_.members()) all.push_back(&m);
  return leader_among(std::move(all));
}

std::optional<unique_address> membership_state::role_leader(const std::string& role) const {
  std::vector<const member*> with_role;
  for (const auto& m : latest_.members())
    if (m.has_role(role)) with_role.push_back(&m);
  return leader_among(std::move(with_role));
}

std::optional<unique_address> membership_state::leader_of(
    const std::vector<model::member>& candidates) const {
  std::vector<const member*> all;
  all.reserve(candidates.size());
  for (const auto& m : candidates) all.push_back(&m);
  std::sort(all.begin(), all.end(), [](const member* a, const member* b) { return member_ordering{}(*a, *b); });
  return leader_among(std::move(all));
}

std::optional<unique_address> membership_state::leader_among(std::vector<const member*> sorted) const {
  // 1. Candidates: not down, and reachable (a node never counts itself out).
  const auto& reach = latest_.reachability();
  const bool all_reachable = reach.is_all_reachable();
  std::erase_if(sorted, [&](const member* m) {
    return m->status() == member_status::down ||
           (!all_reachable && m->unique_address() != self_ && !reach.is_reachable(m->unique_address()));
  });
  if (sorted.empty()) return std::nullopt;

  // 2. The first up-like one in address order; else the best by leader status order.
  const auto up_like = std::find_if(sorted.begin(), sorted.end(),
                                    [](const member* m) { return is_up_like(m->status()); });
  if (up_like != sorted.end()) return (*up_like)->unique_address();
  return (*std::min_element(sorted.begin(), sorted.end(),
                            [](const member* a, const member* b) { return leader_status_ordering{}(*a, *b); }))
      ->unique_address();
}

std::optional<model::member> membership_state::oldest(const std::optional<std::string>& role) const {
  std::optional<member> best;
  for (const auto& m : latest_.members()) {
    if (!is_up_like(m.status()) || (role && !m.has_role(*role))) continue;
    if (!best || m.is_older_than(*best)) best = m;
  }
  return best;
}

std::optional<model::member> membership_state::youngest() const {
  const auto& members = latest_.members();
  if (members.empty()) return std::nullopt;
  auto age = [](const member& m) { return m.up_number() == member::no_up_number ? 0 : m.up_number(); };
  return *std::max_element(members.begin(), members.end(),
                           [&](const member& a, const member& b) { return age(a) < age(b); });
}

std::vector<model::member> membership_state::unreachable_members() const {
  std::vector<member> out;
  for (const auto& node : latest_.reachability().all_unreachable_or_terminated())
    if (const member* m = latest_.find(node); m && node != self_) out.push_back(*m);
  return out;
}

bool membership_state::is_available(const unique_address& node) const {
  const member* m = latest_.find(node);
  return m && m->status() != member_status::down && latest_.reachability().is_reachable(node);
}

bool membership_state::valid_node_for_gossip(const unique_address& node) const {
  return node != self_ && latest_.reachability().is_reachable(self_, node);
}

bool membership_state::is_reachable_excluding_downed_observers(const unique_address& node) const {
  return latest_.has_member(node) &&
         latest_.reachability_excluding_downed_observers().is_reachable(node);
}

bool membership_state::is_min_nr_of_members_fulfilled(const membership_settings& settings) const {
  const auto& members = latest_.members();
  if (members.size() < settings.min_nr_of_members) return false;
  return std::all_of(settings.min_nr_of_members_per_role.begin(),
                     settings.min_nr_of_members_per_role.end(), [&](const auto& rule) {
                       const auto n = std::count_if(members.begin(), members.end(),
                                                    [&](const member& m) { return m.has_role(rule.first); });
                       return static_cast<std::size_t>(n) >= rule.second;
                     });
}

leader_actions_result membership_state::leader_actions(
    const membership_settings& settings, std::chrono::nanoseconds now,
    const std::set<unique_address>& exiting_confirmed) const {
  leader_actions_result result{latest_, {}, convergence(exiting_confirmed)};
  if (!is_leader(self_)) return result;

  const auto& members = latest_.members();
  const bool enough = is_min_nr_of_members_fulfilled(settings);
  // A member preparing for shutdown means the whole cluster is shutting down: let nobody up.
  const bool shutting_down = std::any_of(members.begin(), members.end(),
                                         [](const member& m) { return is_shutting_down(m.status()); });

  if (!result.converged) {
    // Without convergence only weakly up is possible, for members everyone can reach.
    if (!settings.allow_weakly_up || shutting_down || !enough) return result;
    std::vector<member> changed;
    for (const auto& m : members)
      if (m.status() == joining && is_reachable_excluding_downed_observers(m.unique_address()))
        changed.push_back(*m.copy_with_status(weakly_up));
    for (const auto& m : changed) result.changes.push_back({m.unique_address(), joining, weakly_up});
    if (!changed.empty()) result.gossip = stamped(latest_.update(changed));
    return result;
  }

  // 1. Status moves: joining/weakly up -> up (numbered after the youngest, in member
  //    order), leaving -> exiting, preparing -> ready for shutdown.
  std::vector<member> changed;
  std::int32_t next_up_number = youngest() ? youngest()->up_number() : 0;
  if (next_up_number == member::no_up_number) next_up_number = 0;
  for (const auto& m : members) {
    std::optional<member> moved;
    if ((m.status() == joining || m.status() == weakly_up) && enough && !shutting_down)
      moved = m.copy_up(++next_up_number);
    else if (m.status() == leaving)
      moved = m.copy_with_status(exiting);
    else if (m.status() == preparing_for_shutdown)
      moved = m.copy_with_status(ready_for_shutdown);
    if (moved) {
      result.changes.push_back({m.unique_address(), m.status(), moved->status()});
      changed.push_back(std::move(*moved));
    }
  }

  // 2. Removals: down or exiting members that are unreachable (they have stopped), and
  //    exiting members that confirmed their hand-over. Never the leader itself: it could
  //    not stamp a gossip it is no member of; the next leader removes it.
  std::set<unique_address> removed;
  for (const auto& node : latest_.reachability().all_unreachable_or_terminated())
    if (const member* m = latest_.find(node); m && is_on_way_out(m->status())) removed.insert(node);
  for (const auto& node : exiting_confirmed)
    if (const member* m = latest_.find(node); m && m->status() == exiting) removed.insert(node);
  removed.erase(self_);
  for (const auto& node : removed)
    result.changes.push_back({node, latest_.find(node)->status(), member_status::removed});

  // 3. Apply, then forget tombstones old enough that no stale gossip can still arrive.
  model::gossip next = latest_.update(changed).remove_all(removed, now);
  next = next.prune_tombstones(now - settings.prune_tombstones_after);

  // 4. Stamp the new version as made and seen by the leader.
  if (!result.changes.empty() || next.tombstones() != latest_.tombstones())
    result.gossip = stamped(std::move(next));
  return result;
}

receive_result membership_state::receive_gossip(const unique_address& from,
                                                const model::gossip& remote,
                                                bool exiting_in_progress) const {
  // 1. Only from a member self can reach, and only a gossip that knows self.
  if (!latest_.has_member(from) || !latest_.is_reachable(self_, from) || !remote.has_member(self_))
    return {gossip_receipt::ignored, latest_, false};

  // 2. Keep the newer one, unite seen sets of the same version, merge concurrent ones. Talk
  //    back whenever the sender lacks something: a newer or merged version, or self's mark.
  receive_result r{gossip_receipt::same, latest_, false};
  switch (compare(remote, latest_)) {
    case gossip_ordering::same:
      r = {gossip_receipt::same, remote.merge_seen(latest_), !remote.has_seen(self_)};
      break;
    case gossip_ordering::older:
      r = {gossip_receipt::older, latest_, true};
      break;
    case gossip_ordering::newer:
      r = {gossip_receipt::newer, remote, !remote.has_seen(self_)};
      break;
    case gossip_ordering::concurrent:
      r = {gossip_receipt::merged, merge(remote, latest_), true};
      break;
  }

  // 3. Self has now seen the result, unless it is still handing over its work.
  if (exiting_in_progress)
    r.talk_back = r.receipt == gossip_receipt::older || r.receipt == gossip_receipt::merged;
  else
    r.gossip = r.gossip.seen(self_);
  return r;
}

join_result membership_state::join(const model::member& joining_member) const {
  const unique_address& node = joining_member.unique_address();
  // 1. A node on its way out takes no new members; nor does one that has not joined yet,
  //    unless it is joining itself to start a cluster.
  if (is_on_way_out(self_member().status()) || (!latest_.has_member(self_) && node != self_))
    return {join_outcome::ignored, latest_};

  // 2. Another incarnation at that address must be downed and removed first.
  if (const member* existing = latest_.find_by_address(joining_member.address())) {
    if (existing->unique_address() == node) return {join_outcome::already_member, latest_};
    if (auto g = down_old_incarnation(node)) return {join_outcome::old_incarnation_downed, *g};
    return {join_outcome::old_incarnation_pending, latest_};
  }

  // 3. Add it as joining, whatever status it came with.
  const member fresh{node, joining_member.roles(), joining_member.app_version()};
  return {join_outcome::added, stamped(latest_.update({fresh}))};
}

std::optional<model::gossip> membership_state::down_old_incarnation(
    const unique_address& new_node) const {
  const member* old = latest_.find_by_address(new_node.address);
  if (!old || old->unique_address() == new_node || old->status() == member_status::down) return std::nullopt;
  // The old incarnation is certainly dead: terminated, not merely unreachable, then down.
  const model::gossip g =
      latest_.with_reachability(latest_.reachability().terminated(self_, old->unique_address()))
          .mark_as_down(old->unique_address());
  return stamped(g);
}

std::optional<model::gossip> membership_state::down(const model::address& where) const {
  const member* m = latest_.find_by_address(where);
  if (!m || m->status() == member_status::down) return std::nullopt;
  return stamped(latest_.mark_as_down(m->unique_address()));
}

std::optional<model::gossip> membership_state::leave(const model::address& where) const {
  const member* m = latest_.find_by_address(where);
  if (!m) return std::nullopt;
  const member_status s = m->status();
  if (s != joining && s != weakly_up && s != up && !is_shutting_down(s)) return std::nullopt;
  return stamped(latest_.update({*m->copy_with_status(leaving)}));
}

}  // namespace troupe::cluster::model
