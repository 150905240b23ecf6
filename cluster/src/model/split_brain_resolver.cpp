#include "troupe/cluster/model/split_brain_resolver.hpp"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <utility>

namespace troupe::cluster::model {

namespace {

using std::chrono::nanoseconds;

std::string millis(nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

// Which members a count includes. Joining and weakly-up members may already be up on the
// other side of a partition ("possibly up"); leaving members may already be exiting there.
struct member_filter {
  bool including_possibly_up = false;
  bool excluding_possibly_exiting = false;
  bool with_role = true;
};

// The snapshot indexed for counting: which members are unreachable, by role and age.
class view {
 public:
  view(const sbr_settings& settings, const sbr_snapshot& snapshot)
      : settings_(settings), snapshot_(snapshot) {
    for (const auto& m : snapshot_.members)
      if (!m.reachable) unreachable_.insert(m.node);
  }

  // A view of the same members with reachability taken from `records` instead.
  view(const sbr_settings& settings, const sbr_snapshot& snapshot,
       const std::vector<sbr_unreachable_record>& records)
      : settings_(settings), snapshot_(snapshot), records_override_(&records) {
    for (const auto& r : records) unreachable_.insert(r.subject);
  }

  const std::vector<sbr_unreachable_record>& records() const {
    return records_override_ != nullptr ? *records_override_ : snapshot_.unreachable_records;
  }

  bool is_unreachable(const unique_address& node) const { return unreachable_.count(node) != 0; }

  bool counts(const sbr_member& m, member_filter f) const {
    switch (m.status) {
      case sbr_member_status::joining:
      case sbr_member_status::weakly_up:
        if (!f.including_possibly_up) return false;
        break;
      case sbr_member_status::leaving:
        if (f.excluding_possibly_exiting) return false;
        break;
      case sbr_member_status::up:
        break;
      case sbr_member_status::exiting:
      case sbr_member_status::down:
        return false;
    }
    return !f.with_role || settings_.role.empty() || m.roles.count(settings_.role) != 0;
  }

  // Members passing `f`, sorted by unique_address (lowest first) or by age (oldest first).
  std::vector<const sbr_member*> members(member_filter f, bool by_age = false) const {
    std::vector<const sbr_member*> out;
    for (const auto& m : snapshot_.members)
      if (counts(m, f)) out.push_back(&m);
    if (by_age)
      std::sort(out.begin(), out.end(), [](const sbr_member* a, const sbr_member* b) {
        return a->up_number != b->up_number ? a->up_number < b->up_number : a->node < b->node;
      });
    else
      std::sort(out.begin(), out.end(),
                [](const sbr_member* a, const sbr_member* b) { return a->node < b->node; });
    return out;
  }

  std::size_t reachable_count(member_filter f) const {
    std::size_t n = 0;
    for (const auto& m : snapshot_.members)
      if (counts(m, f) && !is_unreachable(m.node)) ++n;
    return n;
  }

  std::size_t unreachable_count(member_filter f) const {
    std::size_t n = 0;
    for (const auto& m : snapshot_.members)
      if (counts(m, f) && is_unreachable(m.node)) ++n;
    return n;
  }

  // Every member that may still be downed: all but those already down or exiting.
  std::set<unique_address> downable() const {
    std::set<unique_address> out;
    for (const auto& m : snapshot_.members)
      if (m.status != sbr_member_status::down && m.status != sbr_member_status::exiting)
        out.insert(m.node);
    return out;
  }

  bool is_member(const unique_address& node) const {
    return std::any_of(snapshot_.members.begin(), snapshot_.members.end(),
                       [&](const sbr_member& m) { return m.node == node; });
  }

  // Records whose observer and subject are both members (other data centres are ignored).
  std::vector<sbr_unreachable_record> member_records() const {
    std::vector<sbr_unreachable_record> out;
    for (const auto& r : records())
      if (is_member(r.observer) && is_member(r.subject)) out.push_back(r);
    return out;
  }

  // Nodes that both observe and are observed unreachable: a cycle in the unreachability graph.
  std::set<unique_address> cyclic() const {
    std::set<unique_address> observers;
    std::set<unique_address> subjects;
    for (const auto& r : member_records()) {
      observers.insert(r.observer);
      subjects.insert(r.subject);
    }
    std::set<unique_address> out;
    std::set_intersection(observers.begin(), observers.end(), subjects.begin(), subjects.end(),
                          std::inserter(out, out.end()));
    return out;
  }

  // Both ends of records whose subject has seen the current gossip, so is still in touch.
  std::set<unique_address> seen_while_unreachable() const {
    std::set<unique_address> out;
    for (const auto& r : member_records())
      if (snapshot_.seen_by.count(r.subject) != 0) {
        out.insert(r.observer);
        out.insert(r.subject);
      }
    return out;
  }

  std::set<unique_address> indirectly_connected() const {
    auto out = cyclic();
    const auto seen = seen_while_unreachable();
    out.insert(seen.begin(), seen.end());
    return out;
  }

  const sbr_settings& settings() const { return settings_; }
  const sbr_snapshot& snapshot() const { return snapshot_; }
  const std::set<unique_address>& unreachable() const { return unreachable_; }

 private:
  const sbr_settings& settings_;
  const sbr_snapshot& snapshot_;
  const std::vector<sbr_unreachable_record>* records_override_ = nullptr;
  std::set<unique_address> unreachable_;
};

std::string role_note(const sbr_settings& s) {
  return s.role.empty() ? std::string{} : " with role '" + s.role + "'";
}

// Keep-majority's rule for one count; a tie keeps the side holding `lowest`.
sbr_action majority(std::size_t this_side, std::size_t other_side, const sbr_member& lowest,
                    const view& v) {
  if (this_side == other_side)
    return v.is_unreachable(lowest.node) ? sbr_action::down_reachable
                                         : sbr_action::down_unreachable;
  return this_side > other_side ? sbr_action::down_unreachable : sbr_action::down_reachable;
}

std::pair<sbr_action, std::string> keep_majority(const view& v) {
  const std::string name = "keep-majority: ";
  const auto ms = v.members({});
  if (ms.empty()) return {sbr_action::down_all, name + "no member" + role_note(v.settings())};
  const std::size_t here = v.reachable_count({});
  const std::size_t there = v.unreachable_count({});
  const sbr_action first = majority(here, there, *ms.front(), v);
  std::string reason = name + std::to_string(here) + " reachable vs " + std::to_string(there) +
                       " unreachable members" + role_note(v.settings());
  if (here == there) reason += ", tie broken by lowest " + to_string(ms.front()->node);
  if (first != sbr_action::down_unreachable) return {first, reason};

  // Count as few as possible here (no joining, no leaving) and as many as possible there
  // (joining and leaving too): if the side could be in minority after all, down all.
  const member_filter here_filter{false, true, true};
  const member_filter there_filter{true, false, true};
  const auto cautious = v.members(here_filter);
  const sbr_action second =
      cautious.empty()
          ? sbr_action::down_all
          : majority(v.reachable_count(here_filter), v.unreachable_count(there_filter),
                     *cautious.front(), v);
  if (second == sbr_action::down_unreachable) return {first, reason};
  return {sbr_action::down_all,
          reason + ", but counting joining/leaving members it could be a minority"};
}

std::pair<sbr_action, std::string> static_quorum(const view& v,
                                                 const std::set<unique_address>& indirect) {
  const std::string name = "static-quorum: ";
  const std::size_t q = v.settings().quorum_size;
  const std::size_t total = v.members({}).size();
  if (total > 2 * q - 1)
    return {sbr_action::down_all, name + std::to_string(total) + " members" +
                                      role_note(v.settings()) + " exceed 2 * quorum - 1 = " +
                                      std::to_string(2 * q - 1)};
  if (!indirect.empty())
    return {sbr_action::down_indirectly_connected, name + "indirectly connected members"};
  const std::size_t here = total - v.unreachable_count({});
  const std::string reason = name + std::to_string(here) + " reachable members" +
                             role_note(v.settings()) + ", quorum " + std::to_string(q);
  return {here >= q ? sbr_action::down_unreachable : sbr_action::down_reachable, reason};
}

// Keep-oldest's rule for one count.
sbr_action oldest_rule(bool oldest_here, std::size_t here, std::size_t there, bool down_if_alone) {
  if (oldest_here)
    return (down_if_alone && here == 1 && there >= 2) ? sbr_action::down_reachable
                                                      : sbr_action::down_unreachable;
  return (down_if_alone && there == 1 && here >= 2) ? sbr_action::down_unreachable
                                                    : sbr_action::down_reachable;
}

std::pair<sbr_action, std::string> keep_oldest(const view& v) {
  const std::string name = "keep-oldest: ";
  const bool alone_rule = v.settings().down_if_alone;
  const auto ms = v.members({}, true);
  if (ms.empty()) return {sbr_action::down_all, name + "no member" + role_note(v.settings())};
  const sbr_member& oldest = *ms.front();
  const bool oldest_here = !v.is_unreachable(oldest.node);
  const sbr_action first =
      oldest_rule(oldest_here, v.reachable_count({}), v.unreachable_count({}), alone_rule);
  const std::string reason = name + "oldest" + role_note(v.settings()) + " " +
                             to_string(oldest.node) + (oldest_here ? " is" : " is not") +
                             " on this side, " + std::to_string(v.reachable_count({})) +
                             " vs " + std::to_string(v.unreachable_count({}));
  if (first != sbr_action::down_unreachable) return {first, reason};

  // Leaving members here may be exiting on the other side; when `down_if_alone`, joining
  // members may be up there and change who is alone. A different answer downs all.
  const member_filter cautious{alone_rule, true, true};
  const auto cms = v.members({false, true, true}, true);
  if (cms.empty()) return {sbr_action::down_all, reason + ", but no member is certainly staying"};
  const sbr_action second = oldest_rule(!v.is_unreachable(cms.front()->node),
                                        v.reachable_count(cautious),
                                        v.unreachable_count(cautious), alone_rule);
  if (second == sbr_action::down_unreachable) return {first, reason};
  return {sbr_action::down_all, reason + ", but counting joining/leaving members it could differ"};
}

std::pair<sbr_action, std::string> decide_in(const view& v) {
  const auto indirect = v.indirectly_connected();
  switch (v.settings().strategy) {
    case sbr_strategy::down_all:
      return {sbr_action::down_all, "down-all"};
    case sbr_strategy::static_quorum:
      return static_quorum(v, indirect);
    case sbr_strategy::keep_majority:
      if (!indirect.empty())
        return {sbr_action::down_indirectly_connected, "keep-majority: indirectly connected members"};
      return keep_majority(v);
    case sbr_strategy::keep_oldest:
      if (!indirect.empty())
        return {sbr_action::down_indirectly_connected, "keep-oldest: indirectly connected members"};
      return keep_oldest(v);
  }
  return {sbr_action::down_all, "unknown strategy"};
}

std::set<unique_address> down_in(const view& v, sbr_action action);

// For indirectly connected members: besides them, what the strategy downs once the records
// between indirectly connected members are set aside (a clean partition or a crash may be
// hidden behind them). Akka's `additionalNodesToDownWhenIndirectlyConnected`.
std::set<unique_address> additional_when_indirect(const view& v,
                                                  const std::set<unique_address>& downable,
                                                  const std::set<unique_address>& indirect) {
  // 1. Nothing else is unreachable: nothing else to down.
  const bool others_unreachable =
      std::any_of(v.unreachable().begin(), v.unreachable().end(),
                  [&](const unique_address& u) { return indirect.count(u) == 0; });
  if (!others_unreachable) return {};
  // 2. Drop records between two cyclic nodes, or between two that have seen the gossip,
  //    and records about members that are no longer downable.
  const auto cyclic = v.cyclic();
  const auto seen = v.seen_while_unreachable();
  std::vector<sbr_unreachable_record> kept;
  for (const auto& r : v.member_records()) {
    const bool between_cyclic = cyclic.count(r.observer) != 0 && cyclic.count(r.subject) != 0;
    const bool between_seen = seen.count(r.observer) != 0 && seen.count(r.subject) != 0;
    if (downable.count(r.observer) != 0 && downable.count(r.subject) != 0 && !between_cyclic &&
        !between_seen)
      kept.push_back(r);
  }
  // 3. Decide again on the remaining records; a second indirect verdict downs all.
  const view rest{v.settings(), v.snapshot(), kept};
  const sbr_action again = decide_in(rest).first;
  if (again == sbr_action::down_indirectly_connected) return downable;
  return down_in(rest, again);
}

std::set<unique_address> down_in(const view& v, sbr_action action) {
  const auto downable = v.downable();
  std::set<unique_address> out;
  switch (action) {
    case sbr_action::down_unreachable:
      for (const auto& n : downable)
        if (v.is_unreachable(n)) out.insert(n);
      break;
    case sbr_action::down_reachable:
      for (const auto& n : downable)
        if (!v.is_unreachable(n)) out.insert(n);
      break;
    case sbr_action::down_all:
      out = downable;
      break;
    case sbr_action::down_indirectly_connected: {
      auto wanted = v.indirectly_connected();
      const auto more = additional_when_indirect(v, downable, wanted);
      wanted.insert(more.begin(), more.end());
      for (const auto& n : wanted)
        if (downable.count(n) != 0) out.insert(n);
      break;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> validate(const sbr_settings& s) {
  if (s.stable_after < nanoseconds::zero())
    return "split-brain-resolver.stable-after must be >= 0 s, got " + millis(s.stable_after);
  if (s.down_all_when_unstable && *s.down_all_when_unstable < nanoseconds::zero())
    return "split-brain-resolver.down-all-when-unstable must be > 0 s, 0 (off) or unset (on), got " +
           millis(*s.down_all_when_unstable);
  if (s.strategy == sbr_strategy::static_quorum && s.quorum_size < 1)
    return "split-brain-resolver.static-quorum.quorum-size must be >= 1, got " +
           std::to_string(s.quorum_size);
  return std::nullopt;
}

nanoseconds effective_down_all_when_unstable(const sbr_settings& s) noexcept {
  if (s.down_all_when_unstable) return *s.down_all_when_unstable;
  return std::max<nanoseconds>(std::chrono::seconds{4}, s.stable_after * 3 / 4);
}

sbr_decision resolve_split_brain(const sbr_settings& settings, const sbr_snapshot& snapshot) {
  assert(!validate(settings) && "invalid sbr_settings");
  const view v{settings, snapshot};
  sbr_decision d;
  d.strategy = settings.strategy;

  // 1. Unstable for too long: down everything, whatever the strategy (every node does).
  const nanoseconds grace = effective_down_all_when_unstable(settings);
  if (grace > nanoseconds::zero() && snapshot.unstable_for > settings.stable_after + grace) {
    d.outcome = sbr_outcome::down_all_unstable;
    d.action = sbr_action::down_all;
    d.to_down = v.downable();
    d.reason = "unstable for " + millis(snapshot.unstable_for) + ", more than stable-after " +
               millis(settings.stable_after) + " + down-all-when-unstable " + millis(grace);
    return d;
  }
  // 2. Nothing unreachable that could still be downed: nothing to decide.
  const auto downable = v.downable();
  const bool any_unreachable = std::any_of(
      v.unreachable().begin(), v.unreachable().end(),
      [&](const unique_address& u) { return downable.count(u) != 0; });
  if (!any_unreachable) {
    d.outcome = sbr_outcome::no_unreachable;
    d.reason = "no unreachable member";
    return d;
  }
  // 3. Wait until membership and reachability have been stable for `stable_after`.
  if (snapshot.stable_for < settings.stable_after) {
    d.outcome = sbr_outcome::waiting_for_stability;
    d.reason = "stable for " + millis(snapshot.stable_for) + " of " + millis(settings.stable_after);
    return d;
  }
  // 4. Ask the strategy, and list whom its decision downs.
  auto [action, reason] = decide_in(v);
  d.outcome = sbr_outcome::decided;
  d.action = action;
  d.to_down = down_in(v, action);
  d.reason = std::move(reason) + ": " + std::string{to_string(action)};
  return d;
}

std::pair<sbr_action, std::string> strategy_decision(const sbr_settings& settings,
                                                     const sbr_snapshot& snapshot) {
  assert(!validate(settings) && "invalid sbr_settings");
  return decide_in(view{settings, snapshot});
}

std::set<unique_address> nodes_to_down(const sbr_settings& settings, const sbr_snapshot& snapshot,
                                       sbr_action action) {
  return down_in(view{settings, snapshot}, action);
}

std::set<unique_address> indirectly_connected(const sbr_snapshot& snapshot) {
  const sbr_settings any;
  return view{any, snapshot}.indirectly_connected();
}

std::string_view to_string(sbr_strategy strategy) noexcept {
  switch (strategy) {
    case sbr_strategy::keep_majority: return "keep-majority";
    case sbr_strategy::static_quorum: return "static-quorum";
    case sbr_strategy::keep_oldest: return "keep-oldest";
    case sbr_strategy::down_all: return "down-all";
  }
  return "unknown";
}

std::string_view to_string(sbr_action action) noexcept {
  switch (action) {
    case sbr_action::down_unreachable: return "down-unreachable";
    case sbr_action::down_reachable: return "down-reachable";
    case sbr_action::down_all: return "down-all";
    case sbr_action::down_indirectly_connected: return "down-indirectly-connected";
  }
  return "unknown";
}

}  // namespace troupe::cluster::model
