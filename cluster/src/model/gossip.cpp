#include "troupe/cluster/model/gossip.hpp"

#include <algorithm>
#include <bit>

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

using member_ptr = member_list::member_ptr;

std::vector<member_ptr>::const_iterator lower_bound_of(const std::vector<member_ptr>& ms,
                                                       const unique_address& node) {
  return std::lower_bound(ms.begin(), ms.end(), node, [](const member_ptr& m, const unique_address& n) {
    return m->value.unique_address() < n;
  });
}

const std::vector<member_ptr>& no_members() {
  static const std::vector<member_ptr> none;
  return none;
}

std::size_t words_for(std::size_t bits) { return (bits + 63) / 64; }

bool bit(const std::vector<std::uint64_t>& words, std::size_t i) {
  return i / 64 < words.size() && ((words[i / 64] >> (i % 64)) & 1U) != 0;
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

// ---------------------------------------------------------------------------------------
// member_list

member_list::member_list(const std::vector<model::member>& sorted) {
  std::vector<member_ptr> items;
  items.reserve(sorted.size());
  for (const auto& m : sorted) items.push_back(member_list::make(m));
  if (!items.empty()) items_ = std::make_shared<const std::vector<member_ptr>>(std::move(items));
}

member_list::member_list(std::vector<member_ptr> sorted) {
  if (!sorted.empty()) items_ = std::make_shared<const std::vector<member_ptr>>(std::move(sorted));
}

member_list::member_ptr member_list::make(model::member m) {
  const vector_clock::node_id id = vector_clock::node_of(m.unique_address());
  return std::make_shared<const entry>(entry{std::move(m), id});
}

const std::vector<member_ptr>& member_list::items() const noexcept {
  return items_ ? *items_ : no_members();
}

std::optional<std::size_t> member_list::index_of(const unique_address& node) const {
  const auto& v = items();
  const auto it = lower_bound_of(v, node);
  if (it == v.end() || (*it)->value.unique_address() != node) return std::nullopt;
  return static_cast<std::size_t>(it - v.begin());
}

std::vector<model::member> member_list::to_vector() const {
  return {begin(), end()};
}

bool operator==(const member_list& a, const member_list& b) {
  if (a.shares_items_with(b)) return true;
  const auto& x = a.items();
  const auto& y = b.items();
  return std::equal(x.begin(), x.end(), y.begin(), y.end(),
                    [](const member_ptr& p, const member_ptr& q) { return p == q || p->value == q->value; });
}

// ---------------------------------------------------------------------------------------
// gossip

gossip::gossip(std::vector<model::member> members)
    : members_(canonical(std::move(members))), seen_(words_for(members_.size()), 0) {}

gossip::gossip(std::vector<model::member> members, gossip_overview overview, vector_clock version,
               std::map<unique_address, time> tombstones)
    : gossip(member_list{canonical(std::move(members))}, std::move(overview), std::move(version),
             std::move(tombstones)) {}

gossip::gossip(member_list members, gossip_overview overview, vector_clock version,
               std::map<unique_address, time> tombstones)
    : members_(std::move(members)),
      reachability_(std::move(overview.reachability)),
      version_(std::move(version)),
      tombstones_(std::move(tombstones)) {
  set_seen_from(overview.seen);
}

void gossip::set_seen_from(const std::set<unique_address>& seen) {
  seen_.assign(words_for(members_.size()), 0);
  seen_count_ = 0;
  stray_seen_.clear();
  for (const auto& n : seen) {
    if (const auto i = members_.index_of(n))
      set_seen_bit(*i);
    else
      stray_seen_.push_back(n);
  }
}

void gossip::set_seen_bit(std::size_t i) {
  std::uint64_t& w = seen_[i / 64];
  const std::uint64_t mask = std::uint64_t{1} << (i % 64);
  if ((w & mask) == 0) ++seen_count_;
  w |= mask;
}

void gossip::clear_seen_bit(std::size_t i) {
  std::uint64_t& w = seen_[i / 64];
  const std::uint64_t mask = std::uint64_t{1} << (i % 64);
  if ((w & mask) != 0) --seen_count_;
  w &= ~mask;
}

// Rebuilds the seen bits for the current members from the bits over `before`: the marks of
// members still present move to their new positions; those of members gone are dropped;
// stray marks of nodes that became members become bits.
void gossip::remap_seen(const member_list& before) {
  const std::vector<std::uint64_t> old = std::move(seen_);
  seen_.assign(words_for(members_.size()), 0);
  seen_count_ = 0;
  if (!old.empty() || !stray_seen_.empty()) {
    const auto& a = before.items();
    const auto& b = members_.items();
    std::size_t j = 0;
    for (std::size_t w = 0; w < old.size(); ++w) {
      for (std::uint64_t bits = old[w]; bits != 0; bits &= bits - 1) {
        const std::size_t i = w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
        const unique_address& node = a[i]->value.unique_address();
        while (j < b.size() && b[j]->value.unique_address() < node) ++j;
        if (j < b.size() && b[j]->value.unique_address() == node) set_seen_bit(j);
      }
    }
    std::erase_if(stray_seen_, [&](const unique_address& n) {
      const auto i = members_.index_of(n);
      if (i) set_seen_bit(*i);
      return i.has_value();
    });
  }
}

std::set<unique_address> gossip::seen_by() const {
  std::set<unique_address> out(stray_seen_.begin(), stray_seen_.end());
  const auto& items = members_.items();
  for (std::size_t w = 0; w < seen_.size(); ++w)
    for (std::uint64_t bits = seen_[w]; bits != 0; bits &= bits - 1)
      out.insert(items[w * 64 + static_cast<std::size_t>(std::countr_zero(bits))]->value.unique_address());
  return out;
}

bool gossip::has_seen(const unique_address& node) const {
  if (const auto i = members_.index_of(node)) return bit(seen_, *i);
  return std::binary_search(stray_seen_.begin(), stray_seen_.end(), node);
}

const model::member* gossip::find(const unique_address& node) const {
  const auto i = members_.index_of(node);
  return i ? &members_[*i] : nullptr;
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
  return has_member(to) && reachability_.is_reachable(from, to);
}

model::reachability gossip::reachability_excluding_downed_observers() const {
  if (reachability_.versions().empty() && reachability_.records().empty()) return reachability_;
  std::set<unique_address> downed;
  for (const auto& m : members_)
    if (m.status() == member_status::down) downed.insert(m.unique_address());
  return reachability_.remove_observers(downed);
}

gossip gossip::increment(const unique_address& node) const {
  gossip g = *this;
  g.version_ = version_.increment(node);
  return g;
}

gossip gossip::update(const std::vector<model::member>& changed) const {
  if (changed.empty()) return *this;
  // 1. A new list of pointers: changed members replaced or inserted, the others shared.
  std::vector<member_ptr> items = members_.items();
  bool inserted = false;
  for (const auto& m : changed) {
    const auto it = lower_bound_of(items, m.unique_address());
    auto fresh = member_list::make(m);
    if (it != items.end() && (*it)->value.unique_address() == m.unique_address()) {
      items[static_cast<std::size_t>(it - items.begin())] = std::move(fresh);
    } else {
      items.insert(it, std::move(fresh));
      inserted = true;
    }
  }
  gossip g = *this;
  g.members_ = member_list{std::move(items)};
  // 2. Insertions move the seen marks.
  if (inserted) g.remap_seen(members_);
  return g;
}

gossip gossip::with_reachability(model::reachability r) const {
  gossip g = *this;
  g.reachability_ = std::move(r);
  return g;
}

gossip gossip::seen(const unique_address& node) const {
  if (has_seen(node)) return *this;
  gossip g = *this;
  if (const auto i = members_.index_of(node)) {
    g.set_seen_bit(*i);
  } else {
    g.stray_seen_.insert(std::lower_bound(g.stray_seen_.begin(), g.stray_seen_.end(), node), node);
  }
  return g;
}

gossip gossip::only_seen(const unique_address& node) const {
  return clear_seen().seen(node);
}

gossip gossip::clear_seen() const {
  gossip g = *this;
  g.seen_.assign(words_for(members_.size()), 0);
  g.seen_count_ = 0;
  g.stray_seen_.clear();
  return g;
}

gossip gossip::merge_seen(const gossip& other) const {
  gossip g = *this;
  if (members_.shares_items_with(other.members_) && seen_.size() == other.seen_.size()) {
    // 1. Same member list: unite the bits.
    g.seen_count_ = 0;
    for (std::size_t w = 0; w < g.seen_.size(); ++w) {
      g.seen_[w] |= other.seen_[w];
      g.seen_count_ += static_cast<std::size_t>(std::popcount(g.seen_[w]));
    }
    for (const auto& n : other.stray_seen_) g = g.seen(n);
    return g;
  }
  // 2. Otherwise walk both sorted lists once, moving each of other's marks to the same
  //    member here (a non-member's mark becomes a stray one).
  const auto& mine = members_.items();
  const auto& theirs = other.members_.items();
  std::size_t j = 0;
  std::vector<unique_address> outside;
  for (std::size_t w = 0; w < other.seen_.size(); ++w) {
    for (std::uint64_t bits = other.seen_[w]; bits != 0; bits &= bits - 1) {
      const member_ptr& p = theirs[w * 64 + static_cast<std::size_t>(std::countr_zero(bits))];
      const unique_address& node = p->value.unique_address();
      while (j < mine.size() && mine[j] != p && mine[j]->value.unique_address() < node) ++j;
      if (j < mine.size() && (mine[j] == p || mine[j]->value.unique_address() == node))
        g.set_seen_bit(j);
      else
        outside.push_back(node);
    }
  }
  for (const auto& n : outside) g = g.seen(n);
  for (const auto& n : other.stray_seen_) g = g.seen(n);
  return g;
}

gossip gossip::mark_as_down(const unique_address& node) const {
  const model::member* m = find(node);
  if (!m || m->status() == member_status::down) return *this;
  const auto downed = m->copy_with_status(member_status::down);
  if (!downed) return *this;
  gossip g = update({*downed});
  g.clear_seen_bit(*g.members_.index_of(node));
  return g;
}

gossip gossip::remove(const unique_address& node, time removal_time) const {
  return remove_all({node}, removal_time);
}

gossip gossip::remove_all(const std::set<unique_address>& nodes, time removal_time) const {
  if (nodes.empty()) return *this;
  gossip g = *this;
  // 1. Out of the members, the seen set and the reachability table.
  std::vector<member_ptr> items = members_.items();
  std::erase_if(items, [&](const member_ptr& m) { return nodes.contains(m->value.unique_address()); });
  g.members_ = member_list{std::move(items)};
  g.remap_seen(members_);
  std::erase_if(g.stray_seen_, [&](const unique_address& n) { return nodes.contains(n); });
  g.reachability_ = reachability_.remove(nodes);
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
  auto add_id = [&](std::uint64_t id) {
    for (int byte = 0; byte < 8; ++byte) {
      h ^= (id >> (8 * byte)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  };
  auto add = [&](const unique_address& n) { add_id(vector_clock::node_of(n)); };
  // Members and strays are both sorted: walk them together in address order.
  const auto& items = members_.items();
  auto stray = stray_seen_.begin();
  for (std::size_t w = 0; w < seen_.size(); ++w) {
    for (std::uint64_t bits = seen_[w]; bits != 0; bits &= bits - 1) {
      const auto& e = *items[w * 64 + static_cast<std::size_t>(std::countr_zero(bits))];
      while (stray != stray_seen_.end() && *stray < e.value.unique_address()) add(*stray++);
      add_id(e.id);
    }
  }
  while (stray != stray_seen_.end()) add(*stray++);
  return {version_, h};
}

std::optional<std::string> gossip::invariant_violation() const { return invariant_violation(member_list{}); }

std::optional<std::string> gossip::invariant_violation(const member_list& checked) const {
  // 1. Members in strict order, none removed (unless this list was checked before); then
  //    every lookup below is a binary search of the members.
  if (members_.empty() || !members_.shares_items_with(checked)) {
    for (std::size_t i = 0; i < members_.size(); ++i) {
      const model::member& m = members_[i];
      if (i > 0 && !(members_[i - 1].unique_address() < m.unique_address()))
        return "members not strictly sorted at " + to_string(m.unique_address());
      if (m.status() == member_status::removed) return "removed member " + to_string(m);
    }
  }
  auto is_member = [&](const unique_address& u) { return members_.index_of(u).has_value(); };
  // 2. No member tombstoned, no seen mark of a non-member.
  for (const auto& [node, when] : tombstones_)
    if (const model::member* m = find(node)) return "tombstoned member " + to_string(*m);
  if (!stray_seen_.empty()) return "seen by non-member " + to_string(stray_seen_.front());
  // 3. Reachability over members only.
  for (const auto& r : reachability_.records()) {
    if (!is_member(r.observer)) return "reachability observer not a member: " + to_string(r.observer);
    if (!is_member(r.subject)) return "reachability subject not a member: " + to_string(r.subject);
  }
  for (const auto& [observer, v] : reachability_.versions())
    if (!is_member(observer)) return "reachability version of non-member " + to_string(observer);
  // 4. No version counter of a tombstoned node.
  for (const auto& [node, when] : tombstones_)
    if (version_.version_of(vector_clock::node_of(node)) != 0)
      return "version counter of tombstoned " + to_string(node);
  return std::nullopt;
}

bool operator==(const gossip& a, const gossip& b) {
  return a.version_ == b.version_ && a.members_ == b.members_ && a.seen_ == b.seen_ &&
         a.stray_seen_ == b.stray_seen_ && a.reachability_ == b.reachability_ &&
         a.tombstones_ == b.tombstones_;
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
  //    The winners are shared, not copied; a result equal to one side's list shares it.
  const auto& xs = a.members().items();
  const auto& ys = b.members().items();
  std::vector<member_ptr> members;
  members.reserve(std::max(xs.size(), ys.size()));
  bool all_from_x = true, all_from_y = true;
  auto x = xs.begin();
  auto y = ys.begin();
  while (x != xs.end() || y != ys.end()) {
    const member_ptr* pick;
    if (x != xs.end() && y != ys.end() && *x == *y) {
      pick = &*x;
      ++x;
      ++y;
    } else if (y == ys.end() || (x != xs.end() && (*x)->value.unique_address() < (*y)->value.unique_address())) {
      pick = &*x++;
      all_from_y = false;
    } else if (x == xs.end() || (*y)->value.unique_address() < (*x)->value.unique_address()) {
      pick = &*y++;
      all_from_x = false;
    } else {
      const model::member& winner = highest_priority_of((*x)->value, (*y)->value);
      if (&winner == &(*x)->value) {
        pick = &*x;
        if ((*x)->value != (*y)->value) all_from_y = false;
      } else {
        pick = &*y;
        if ((*x)->value != (*y)->value) all_from_x = false;
      }
      ++x;
      ++y;
    }
    if (!tombstones.contains((*pick)->value.unique_address()))
      members.push_back(*pick);
    else
      all_from_x = all_from_y = false;
  }
  member_list merged = all_from_x && members.size() == xs.size()   ? a.members()
                       : all_from_y && members.size() == ys.size() ? b.members()
                                                                   : member_list{std::move(members)};

  // 4. Reachability: newest row per observer, over the surviving members only.
  model::reachability reach;
  if (!a.reachability().versions().empty() || !b.reachability().versions().empty() ||
      !a.reachability().records().empty() || !b.reachability().records().empty()) {
    std::set<unique_address> allowed;
    for (const auto& m : merged) allowed.insert(allowed.end(), m.unique_address());
    reach = a.reachability().merge(allowed, b.reachability());
  }

  // 5. Seen: nobody has seen the merged version yet.
  return gossip{std::move(merged), gossip_overview{{}, std::move(reach)}, std::move(version),
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
