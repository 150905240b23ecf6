#include "troupe/cluster/model/gossip.hpp"

#include <algorithm>

namespace troupe::cluster::model {
namespace {

// Sorts by unique address and keeps, of several members with one address, the one that
// wins a merge.
std::vector<member> canonical(std::vector<member> ms) {
  std::sort(ms.begin(), ms.end(), member_ordering{});
  std::vector<member> out;
  out.reserve(ms.size());
  for (auto& m : ms) {
    if (!out.empty() && out.back().unique_address() == m.unique_address())
      out.back() = highest_priority_of(out.back(), m);
    else
      out.push_back(std::move(m));
  }
  return out;
}

std::vector<member>::const_iterator lower_bound_of(const std::vector<member>& ms,
                                                   const unique_address& node) {
  return std::lower_bound(ms.begin(), ms.end(), node, [](const member& m, const unique_address& n) {
    return m.unique_address() < n;
  });
}

template <typename Set>
std::string join_nodes(const Set& nodes) {
  std::string s;
  for (const auto& n : nodes) s += (s.empty() ? "" : ", ") + to_string(n);
  return s;
}

}  // namespace

std::string_view to_string(gossip_ordering o) noexcept {
  switch (o) {
    case gossip_ordering::older: return "older";
    case gossip_ordering::newer: return "newer";
    case gossip_ordering::same: return "same";
    case gossip_ordering::concurrent: return "concurrent";
  }
  return "invalid";
}

gossip::gossip(std::vector<model::member> members) : members_(canonical(std::move(members))) {}

gossip::gossip(std::vector<model::member> members, gossip_overview overview, vector_clock version,
               std::map<unique_address, time> tombstones)
    : members_(canonical(std::move(members))),
      overview_(std::move(overview)),
      version_(std::move(version)),
      tombstones_(std::move(tombstones)) {}

const model::member* gossip::find(const unique_address& node) const {
  const auto it = lower_bound_of(members_, node);
  return it != members_.end() && it->unique_address() == node ? &*it : nullptr;
}

model::member gossip::member(const unique_address& node) const {
  const model::member* m = find(node);
  return m ? *m : model::member::removed_placeholder(node);
}

const model::member* gossip::find_by_address(const model::address& where) const {
  const auto it = std::find_if(members_.begin(), members_.end(),
                               [&](const model::member& m) { return m.address() == where; });
  return it == members_.end() ? nullptr : &*it;
}

std::set<std::string> gossip::all_roles() const {
  std::set<std::string> roles;
  for (const auto& m : members_) roles.insert(m.roles().begin(), m.roles().end());
  return roles;
}

bool gossip::is_reachable(const unique_address& from, const unique_address& to) const {
  return has_member(to) && overview_.reachability.is_reachable(from, to);
}

model::reachability gossip::reachability_excluding_downed_observers() const {
  std::set<unique_address> downed;
  for (const auto& m : members_)
    if (m.status() == member_status::down) downed.insert(m.unique_address());
  return overview_.reachability.remove_observers(downed);
}

gossip gossip::increment(const unique_address& node) const {
  gossip g = *this;
  g.version_ = version_.increment(node);
  return g;
}

gossip gossip::update(const std::vector<model::member>& changed) const {
  gossip g = *this;
  for (const auto& m : changed) {
    const auto it = lower_bound_of(g.members_, m.unique_address());
    if (it != g.members_.end() && it->unique_address() == m.unique_address())
      g.members_[static_cast<std::size_t>(it - g.members_.begin())] = m;
    else
      g.members_.insert(it, m);
  }
  return g;
}

gossip gossip::with_reachability(model::reachability r) const {
  gossip g = *this;
  g.overview_.reachability = std::move(r);
  return g;
}

gossip gossip::seen(const unique_address& node) const {
  if (has_seen(node)) return *this;
  gossip g = *this;
  g.overview_.seen.insert(node);
  return g;
}

gossip gossip::only_seen(const unique_address& node) const {
  gossip g = *this;
  g.overview_.seen = {node};
  return g;
}

gossip gossip::clear_seen() const {
  gossip g = *this;
  g.overview_.seen.clear();
  return g;
}

gossip gossip::merge_seen(const gossip& other) const {
  gossip g = *this;
  g.overview_.seen.insert(other.overview_.seen.begin(), other.overview_.seen.end());
  return g;
}

gossip gossip::mark_as_down(const unique_address& node) const {
  const model::member* m = find(node);
  if (!m || m->status() == member_status::down) return *this;
  const auto downed = m->copy_with_status(member_status::down);
  if (!downed) return *this;
  gossip g = update({*downed});
  g.overview_.seen.erase(node);
  return g;
}

gossip gossip::remove(const unique_address& node, time removal_time) const {
  return remove_all({node}, removal_time);
}

gossip gossip::remove_all(const std::set<unique_address>& nodes, time removal_time) const {
  if (nodes.empty()) return *this;
  gossip g = *this;
  // 1. Out of the members, the seen set and the reachability table.
  std::erase_if(g.members_, [&](const model::member& m) { return nodes.contains(m.unique_address()); });
  for (const auto& n : nodes) g.overview_.seen.erase(n);
  g.overview_.reachability = overview_.reachability.remove(nodes);
  // 2. Out of the version: the change is stamped by the remover and travels as is; a
  //    concurrent gossip gets the same pruning when merged with this one's tombstones.
  for (const auto& n : nodes) g.version_ = g.version_.prune(n);
  // 3. A tombstone, so that a stale gossip cannot bring the node back.
  for (const auto& n : nodes) g.tombstones_[n] = removal_time;
  return g;
}

gossip gossip::prune(vector_clock::node_id node) const {
  gossip g = *this;
  g.version_ = version_.prune(node);
  return g;
}

gossip gossip::prune_tombstones(time older_than) const {
  gossip g = *this;
  std::erase_if(g.tombstones_, [&](const auto& kv) { return kv.second < older_than; });
  return g;
}

gossip_digest gossip::digest() const {
  // FNV-1a over the node ids of the seen set, in the set's (sorted) order.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& n : overview_.seen) {
    const std::uint64_t id = vector_clock::node_of(n);
    for (int byte = 0; byte < 8; ++byte) {
      h ^= (id >> (8 * byte)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  }
  return {version_, h};
}

std::optional<std::string> gossip::invariant_violation() const {
  std::set<unique_address> nodes;
  for (std::size_t i = 0; i < members_.size(); ++i) {
    const model::member& m = members_[i];
    if (i > 0 && !(members_[i - 1].unique_address() < m.unique_address()))
      return "members not strictly sorted at " + to_string(m.unique_address());
    if (m.status() == member_status::removed) return "removed member " + to_string(m);
    if (tombstones_.contains(m.unique_address())) return "tombstoned member " + to_string(m);
    nodes.insert(m.unique_address());
  }
  auto first_outside = [&](const auto& xs) -> std::optional<unique_address> {
    for (const auto& x : xs)
      if (!nodes.contains(x)) return x;
    return std::nullopt;
  };
  if (const auto n = first_outside(overview_.seen)) return "seen by non-member " + to_string(*n);
  for (const auto& r : overview_.reachability.records()) {
    if (!nodes.contains(r.observer)) return "reachability observer not a member: " + to_string(r.observer);
    if (!nodes.contains(r.subject)) return "reachability subject not a member: " + to_string(r.subject);
  }
  for (const auto& [observer, v] : overview_.reachability.versions())
    if (!nodes.contains(observer)) return "reachability version of non-member " + to_string(observer);
  for (const auto& [node, when] : tombstones_)
    if (version_.version_of(vector_clock::node_of(node)) != 0)
      return "version counter of tombstoned " + to_string(node);
  return std::nullopt;
}

gossip merge(const gossip& a, const gossip& b) {
  // 1. Tombstones: union; for a node removed on both sides, the later removal.
  std::map<unique_address, gossip::time> tombstones = a.tombstones();
  for (const auto& [node, when] : b.tombstones()) {
    auto [it, inserted] = tombstones.try_emplace(node, when);
    if (!inserted && when > it->second) it->second = when;
  }

  // 2. Versions: counter-wise maximum, without the counters of tombstoned nodes.
  vector_clock version = a.version().merge(b.version());
  for (const auto& kv : tombstones) version = version.prune(kv.first);

  // 3. Members: for each node the version furthest along its life cycle, none tombstoned.
  std::vector<member> members;
  members.reserve(a.members().size() + b.members().size());
  auto x = a.members().begin();
  auto y = b.members().begin();
  while (x != a.members().end() || y != b.members().end()) {
    const member* pick;
    if (y == b.members().end() || (x != a.members().end() && x->unique_address() < y->unique_address())) {
      pick = &*x++;
    } else if (x == a.members().end() || y->unique_address() < x->unique_address()) {
      pick = &*y++;
    } else {
      pick = &highest_priority_of(*x++, *y++);
    }
    if (!tombstones.contains(pick->unique_address())) members.push_back(*pick);
  }

  // 4. Reachability: newest row per observer, over the surviving members only.
  std::set<unique_address> allowed;
  for (const auto& m : members) allowed.insert(m.unique_address());
  model::reachability reach = a.reachability().merge(allowed, b.reachability());

  // 5. Seen: nobody has seen the merged version yet.
  return gossip{std::move(members), gossip_overview{{}, std::move(reach)}, std::move(version),
                std::move(tombstones)};
}

gossip_ordering compare(const gossip& a, const gossip& b) {
  return compare(gossip_digest{a.version(), 0}, gossip_digest{b.version(), 0});
}

gossip_ordering compare(const gossip_digest& a, const gossip_digest& b) {
  switch (a.version.compare(b.version)) {
    case clock_ordering::before: return gossip_ordering::older;
    case clock_ordering::after: return gossip_ordering::newer;
    case clock_ordering::same:
      return a.seen_digest == b.seen_digest ? gossip_ordering::same : gossip_ordering::concurrent;
    case clock_ordering::concurrent: break;
  }
  return gossip_ordering::concurrent;
}

std::string to_string(const gossip& g) {
  std::string s = "gossip(\n  members: ";
  for (std::size_t i = 0; i < g.members().size(); ++i)
    s += (i ? ", " : "") + to_string(g.members()[i]);
  s += "\n  seen: " + join_nodes(g.seen_by());
  s += "\n  reachability: " + to_string(g.reachability());
  s += "\n  version: " + to_string(g.version());
  s += "\n  tombstones: ";
  bool first = true;
  for (const auto& [node, when] : g.tombstones()) {
    s += (first ? "" : ", ") + to_string(node) + " @" + std::to_string(when.count()) + "ns";
    first = false;
  }
  return s + "\n)";
}

}  // namespace troupe::cluster::model
