// The mediator's registry, gossip and routing (see mediator_core.hpp).
#include "troupe/pubsub/mediator_core.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace troupe::pubsub {

namespace {

/// The first key of kind `k` and name `name` in a bucket's order.
entry_key first_key(entry_kind k, const std::string& name) { return entry_key{k, name, {}, {}}; }

/// Calls `f(owner, key, value)` for each live entry of kind `k` named `name`, buckets in
/// node order, entries in key order.
template <class F>
void for_each_live(const std::map<node_id, bucket>& registry, entry_kind k, const std::string& name, F&& f) {
  for (const auto& [owner, b] : registry) {
    for (auto it = b.entries.lower_bound(first_key(k, name));
         it != b.entries.end() && it->first.kind == k && it->first.name == name; ++it) {
      if (!it->second.removed) f(owner, it->first, it->second);
    }
  }
}

}  // namespace

mediator_core::mediator_core(mediator_settings settings, node_id self, std::uint64_t seed)
    : settings_(std::move(settings)), self_(std::move(self)), rng_(seed) {
  registry_[self_];  // this node's own bucket, at version 0
}

// ---------------------------------------------------------------------------------------
// This node's entries

void mediator_core::change(const entry_key& key, std::uint64_t uid, bool removed, nanoseconds now) {
  bucket& own = registry_[self_];
  // Versions are times (microseconds of `now`), kept increasing: a mediator that starts
  // again in the same incarnation (its actor restarted) continues above the versions its
  // peers hold, so they take its new changes (Akka's versions are timestamps too).
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  own.version = std::max(own.version + 1, static_cast<std::uint64_t>(micros > 0 ? micros : 0));
  own.entries[key] = value_holder{own.version, uid, removed, removed ? now : nanoseconds{0}};
}

bool mediator_core::subscribe(const std::string& topic, const std::string& group, const std::string& ref,
                              std::uint64_t uid, nanoseconds now) {
  const entry_key key{entry_kind::topic, topic, group, ref};
  const auto& own = registry_[self_].entries;
  if (auto it = own.find(key); it != own.end() && !it->second.removed && it->second.uid == uid) return false;
  change(key, uid, false, now);
  return true;
}

bool mediator_core::unsubscribe(const std::string& topic, const std::string& group, const std::string& ref,
                                nanoseconds now) {
  const entry_key key{entry_kind::topic, topic, group, ref};
  const auto& own = registry_[self_].entries;
  const auto it = own.find(key);
  if (it == own.end() || it->second.removed) return false;
  change(key, it->second.uid, true, now);
  return true;
}

void mediator_core::put(const std::string& path, const std::string& ref, std::uint64_t uid, nanoseconds now) {
  // One actor per path and node: another one put before is tombstoned.
  std::vector<entry_key> replaced;
  for (auto it = registry_[self_].entries.lower_bound(first_key(entry_kind::path, path));
       it != registry_[self_].entries.end() && it->first.kind == entry_kind::path && it->first.name == path; ++it) {
    if (!it->second.removed && (it->first.ref != ref || it->second.uid != uid)) replaced.push_back(it->first);
  }
  for (const auto& k : replaced) change(k, registry_[self_].entries[k].uid, true, now);
  const entry_key key{entry_kind::path, path, {}, ref};
  const auto& own = registry_[self_].entries;
  if (auto it = own.find(key); it != own.end() && !it->second.removed && it->second.uid == uid) return;
  change(key, uid, false, now);
}

bool mediator_core::remove(const std::string& path, nanoseconds now) {
  std::vector<std::pair<entry_key, std::uint64_t>> live;
  for (auto it = registry_[self_].entries.lower_bound(first_key(entry_kind::path, path));
       it != registry_[self_].entries.end() && it->first.kind == entry_kind::path && it->first.name == path; ++it) {
    if (!it->second.removed) live.emplace_back(it->first, it->second.uid);
  }
  for (const auto& [k, uid] : live) change(k, uid, true, now);
  return !live.empty();
}

std::size_t mediator_core::remove_ref(const std::string& ref, nanoseconds now) {
  std::vector<std::pair<entry_key, std::uint64_t>> live;
  for (const auto& [k, v] : registry_[self_].entries)
    if (k.ref == ref && !v.removed) live.emplace_back(k, v.uid);
  for (const auto& [k, uid] : live) change(k, uid, true, now);
  return live.size();
}

// ---------------------------------------------------------------------------------------
// Routing

std::size_t mediator_core::choose(std::size_t n, const std::string& counter_key) {
  if (n <= 1) return 0;
  if (settings_.routing_logic == routing_logic::round_robin) return round_robin_[counter_key]++ % n;
  // Modulo of the raw engine output (not a distribution) so that every platform draws alike.
  return static_cast<std::size_t>(rng_() % n);
}

std::vector<target> mediator_core::publish(const std::string& topic) {
  ++stats_.published;
  // 1. Live subscribers by group, in a deterministic order (node, then URI).
  std::map<std::string, std::vector<target>> by_group;
  for_each_live(registry_, entry_kind::topic, topic, [&](const node_id& owner, const entry_key& k, const value_holder& v) {
    by_group[k.group].push_back(target{owner, k.ref, v.uid, owner == self_});
  });
  // 2. Everyone without a group, one per group.
  std::vector<target> out;
  for (auto& [group, members] : by_group) {
    if (group.empty()) {
      std::move(members.begin(), members.end(), std::back_inserter(out));
    } else {
      const std::size_t i = choose(members.size(), std::string("t\x1f") + topic + "\x1f" + group);
      out.push_back(std::move(members[i]));
    }
  }
  if (out.empty()) ++stats_.dead_letters;
  return out;
}

std::optional<target> mediator_core::send(const std::string& path, bool local_affinity) {
  ++stats_.sent;
  std::vector<target> all;
  for_each_live(registry_, entry_kind::path, path, [&](const node_id& owner, const entry_key& k, const value_holder& v) {
    all.push_back(target{owner, k.ref, v.uid, owner == self_});
  });
  if (all.empty()) {
    ++stats_.dead_letters;
    return std::nullopt;
  }
  if (local_affinity) {
    for (const auto& t : all)
      if (t.local) return t;
  }
  return all[choose(all.size(), std::string("p\x1f") + path)];
}

std::vector<target> mediator_core::send_to_all(const std::string& path, bool all_but_self) {
  ++stats_.sent_to_all;
  std::vector<target> out;
  for_each_live(registry_, entry_kind::path, path, [&](const node_id& owner, const entry_key& k, const value_holder& v) {
    if (!(all_but_self && owner == self_)) out.push_back(target{owner, k.ref, v.uid, owner == self_});
  });
  if (out.empty()) ++stats_.dead_letters;
  return out;
}

// ---------------------------------------------------------------------------------------
// Peers

void mediator_core::receive(const peer_envelope& env, nanoseconds now) {
  if (env.to != self_ || !peers_.contains(env.from)) return;
  if (const auto* s = std::get_if<status>(&env.message)) {
    on_status(env.from, *s);
  } else {
    on_delta(env.from, std::get<delta>(env.message), now);
  }
}

void mediator_core::on_status(const node_id& from, const status& s) {
  // 1. The changes `from` lacks, oldest first per bucket, at most max_delta_elements in all.
  delta d;
  std::size_t budget = settings_.max_delta_elements;
  for (const auto& [owner, b] : registry_) {
    if (budget == 0) break;
    if (owner == from) continue;  // its own bucket is its to tell
    const auto it = s.versions.find(owner);
    const std::uint64_t theirs = it == s.versions.end() ? 0 : it->second;
    if (b.version <= theirs) continue;
    std::vector<std::pair<const entry_key*, const value_holder*>> newer;
    for (const auto& [k, v] : b.entries)
      if (v.version > theirs) newer.emplace_back(&k, &v);
    std::sort(newer.begin(), newer.end(), [](const auto& x, const auto& y) { return x.second->version < y.second->version; });
    delta_bucket db{owner, theirs, b.version, {}};
    if (newer.size() > budget) {
      newer.resize(budget);
      db.to_version = newer.back().second->version;  // the changes up to here, and no later
    }
    for (const auto& [k, v] : newer) {
      value_holder sent = *v;
      sent.removed_at = nanoseconds{0};
      db.entries.emplace(*k, sent);
    }
    budget -= newer.size();
    d.buckets.push_back(std::move(db));
  }
  // 2. Our own status when `from` holds something newer than we do.
  if (s.reply_wanted) {
    bool they_have_newer = false;
    for (const auto& [owner, v] : s.versions) {
      if (owner == self_ || departed_.contains(owner) || !(owner == from || peers_.contains(owner))) continue;
      const auto mine = registry_.find(owner);
      if ((mine == registry_.end() ? 0 : mine->second.version) < v) they_have_newer = true;
    }
    if (they_have_newer) send_to(from, status{versions(), false});
  }
  if (!d.buckets.empty()) {
    ++stats_.deltas_sent;
    send_to(from, std::move(d));
  }
}

void mediator_core::on_delta(const node_id& from, const delta& d, nanoseconds now) {
  (void)from;
  for (const auto& db : d.buckets) {
    // 1. Only members' buckets, never our own (we are its only author).
    if (db.owner == self_ || !peers_.contains(db.owner)) {
      ++stats_.deltas_ignored;
      continue;
    }
    // 2. A gap (changes between ours and from_version missing): wait for the next gossip.
    const auto held = registry_.find(db.owner);
    if (db.from_version > (held == registry_.end() ? 0 : held->second.version)) {
      ++stats_.deltas_ignored;
      continue;
    }
    bucket& b = held == registry_.end() ? registry_[db.owner] : held->second;
    // 3. The changes newer than ours (older ones we have, or pruned).
    for (const auto& [k, v] : db.entries) {
      if (v.version <= b.version || v.version > db.to_version) continue;
      auto& slot = b.entries[k];
      if (slot.version >= v.version) continue;
      slot = v;
      slot.removed_at = v.removed ? now : nanoseconds{0};
      ++stats_.entries_merged;
    }
    b.version = std::max(b.version, db.to_version);
  }
}

void mediator_core::on_tick(nanoseconds now) {
  // 1. Tombstones older than the time to live go.
  prune(now);
  // 2. A status to one random reachable peer.
  std::vector<const node_id*> candidates;
  for (const auto& p : peers_)
    if (!unreachable_.contains(p)) candidates.push_back(&p);
  if (candidates.empty()) return;
  const node_id& to = *candidates[static_cast<std::size_t>(rng_() % candidates.size())];
  send_to(to, status{versions(), true});
}

void mediator_core::prune(nanoseconds now) {
  for (auto& [owner, b] : registry_) {
    for (auto it = b.entries.begin(); it != b.entries.end();) {
      if (it->second.removed && now - it->second.removed_at > settings_.removed_time_to_live) {
        it = b.entries.erase(it);
        ++stats_.tombstones_pruned;
      } else {
        ++it;
      }
    }
  }
}

void mediator_core::member_up(const node_id& node, const std::set<std::string>& roles) {
  if (node == self_ || departed_.contains(node)) return;
  if (!settings_.role.empty() && !roles.contains(settings_.role)) return;
  peers_.insert(node);
}

void mediator_core::member_removed(const node_id& node) {
  if (node == self_) return;
  departed_.insert(node);
  peers_.erase(node);
  unreachable_.erase(node);
  registry_.erase(node);
}

void mediator_core::member_unreachable(const node_id& node) {
  if (peers_.contains(node)) unreachable_.insert(node);
}

void mediator_core::member_reachable(const node_id& node) { unreachable_.erase(node); }

void mediator_core::send_to(const node_id& to, peer_message m) {
  if (std::holds_alternative<status>(m)) ++stats_.statuses_sent;
  outbox_.push_back(peer_envelope{self_, to, std::move(m)});
}

std::vector<peer_envelope> mediator_core::take_outbox() { return std::exchange(outbox_, {}); }

// ---------------------------------------------------------------------------------------
// Queries

std::map<node_id, std::uint64_t> mediator_core::versions() const {
  std::map<node_id, std::uint64_t> out;
  for (const auto& [owner, b] : registry_) out.emplace(owner, b.version);
  return out;
}

std::set<std::string> mediator_core::topics() const {
  std::set<std::string> out;
  for (const auto& [owner, b] : registry_)
    for (const auto& [k, v] : b.entries)
      if (k.kind == entry_kind::topic && !v.removed) out.insert(k.name);
  return out;
}

std::size_t mediator_core::subscriber_count(const std::string& topic) const {
  std::size_t n = 0;
  for_each_live(registry_, entry_kind::topic, topic, [&](const auto&, const auto&, const auto&) { ++n; });
  return n;
}

std::size_t mediator_core::registered_count(const std::string& path) const {
  std::size_t n = 0;
  for_each_live(registry_, entry_kind::path, path, [&](const auto&, const auto&, const auto&) { ++n; });
  return n;
}

std::size_t mediator_core::live_entries() const {
  std::size_t n = 0;
  for (const auto& [owner, b] : registry_)
    for (const auto& [k, v] : b.entries) n += v.removed ? 0 : 1;
  return n;
}

}  // namespace troupe::pubsub
