#include "troupe/ddata/replicator_core.hpp"

#include <algorithm>
#include <cassert>
#include <exception>
#include <iterator>
#include <type_traits>

namespace troupe::ddata {

namespace {

constexpr std::uint64_t fnv_offset = 14695981039346656037ULL;
constexpr std::uint64_t fnv_prime = 1099511628211ULL;

/// FNV-1a 64 over bytes, continuing from `h`.
std::uint64_t fnv(std::uint64_t h, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= fnv_prime;
  }
  return h;
}

std::uint64_t fnv_u64(std::uint64_t h, std::uint64_t v) noexcept {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  return fnv(h, b, sizeof b);
}

std::uint64_t fnv_str(std::uint64_t h, const std::string& s) noexcept {
  h = fnv_u64(h, s.size());
  return fnv(h, s.data(), s.size());
}

std::uint64_t fnv_replica(std::uint64_t h, const replica_id& r) noexcept {
  h = fnv_str(h, r.address.system);
  h = fnv_str(h, r.address.host);
  h = fnv_u64(h, r.address.port);
  return fnv_u64(h, r.uid);
}

}  // namespace

std::uint32_t key_chunk(const data_key& key, std::uint32_t total_chunks) noexcept {
  if (total_chunks <= 1) return 0;
  return static_cast<std::uint32_t>(fnv(fnv_offset, key.data(), key.size()) % total_chunks);
}

std::size_t required_replicas(const consistency& c, std::size_t cluster_size) noexcept {
  const std::size_t n = std::max<std::size_t>(cluster_size, 1);
  switch (c.kind) {
    case consistency::level::local: return 1;
    case consistency::level::from: return std::max<std::size_t>(c.n, 1);
    case consistency::level::majority: return std::min(n, std::max(n / 2 + 1, c.min_cap));
    case consistency::level::all: return n;
  }
  return n;
}

replicator_core::replicator_core(replicator_settings settings, replica_id self, value_hooks hooks,
                                 std::uint64_t seed)
    : settings_(std::move(settings)),
      self_(std::move(self)),
      hooks_(std::move(hooks)),
      rng_(seed),
      gossip_bytes_left_(settings_.gossip_max_bytes_per_round) {
  assert(hooks_.digest_of && "replicator_core needs a digest function");
}

// ---------------------------------------------------------------------------------------
// Inputs

void replicator_core::receive(command c, nanoseconds now) {
  std::visit(
      [&](auto&& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, update_request>) {
          ++stats_.updates;
          on_update(std::move(m), now);
        } else if constexpr (std::is_same_v<M, get_request>) {
          ++stats_.gets;
          on_get(m, now);
        } else if constexpr (std::is_same_v<M, delete_request>) {
          ++stats_.deletes;
          on_delete(m, now);
        } else if constexpr (std::is_same_v<M, subscribe_request>) {
          subscribers_[m.key].insert(m.subscriber);
          new_subscribers_[m.key].insert(m.subscriber);
        } else {
          if (auto it = subscribers_.find(m.key); it != subscribers_.end()) {
            it->second.erase(m.subscriber);
            if (it->second.empty()) subscribers_.erase(it);
          }
          if (auto it = new_subscribers_.find(m.key); it != new_subscribers_.end()) {
            it->second.erase(m.subscriber);
            if (it->second.empty()) new_subscribers_.erase(it);
          }
        }
      },
      c);
}

void replicator_core::receive(const peer_envelope& env, nanoseconds now) {
  if (env.to != self_) return;
  if (is_removed(env.from)) {
    ++stats_.dropped_from_removed;
    return;
  }
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, write>) {
          on_write(env.from, m, now);
        } else if constexpr (std::is_same_v<M, write_ack>) {
          on_write_answer(env.from, m.op, true, now);
        } else if constexpr (std::is_same_v<M, write_nack>) {
          const auto op = ops_.find(m.op);
          notice(env.from, op != ops_.end() ? op->second.key : data_key{}, "write refused: " + m.reason);
          on_write_answer(env.from, m.op, false, now);
        } else if constexpr (std::is_same_v<M, read>) {
          on_read(env.from, m);
        } else if constexpr (std::is_same_v<M, read_result>) {
          on_read_result(env.from, m, now);
        } else if constexpr (std::is_same_v<M, delta_propagation>) {
          on_deltas(env.from, m, now);
        } else if constexpr (std::is_same_v<M, gossip_status>) {
          on_status(env.from, m);
        } else {
          on_gossip(env.from, m, now);
        }
      },
      env.message);
}

void replicator_core::on_tick(replicator_tick t, nanoseconds now) {
  switch (t) {
    case replicator_tick::gossip: gossip_tick(); break;
    case replicator_tick::delta_propagation: delta_tick(); break;
    case replicator_tick::notify: notify_tick(); break;
    case replicator_tick::timers: timers_tick(now); break;
    case replicator_tick::prune: prune_tick(now); break;
  }
}

void replicator_core::member_up(const replica_id& node, const std::set<std::string>& roles) {
  if (node == self_ || is_removed(node)) return;
  if (!settings_.role.empty() && roles.count(settings_.role) == 0) return;
  peers_.insert(node);
  removed_.erase(node);  // found in values before it was up here: not removed after all
}

void replicator_core::member_removed(const replica_id& node, nanoseconds now) {
  if (node == self_) return;
  peers_.erase(node);
  unreachable_.erase(node);
  departed_.insert(node);
  removed_.emplace(node, now);
}

void replicator_core::member_unreachable(const replica_id& node) {
  if (peers_.count(node) > 0) unreachable_.insert(node);
}

void replicator_core::member_reachable(const replica_id& node) { unreachable_.erase(node); }

std::vector<peer_envelope> replicator_core::take_outbox() { return std::exchange(outbox_, {}); }
std::vector<local_reply> replicator_core::take_replies() { return std::exchange(replies_, {}); }
std::vector<replicator_notice> replicator_core::take_notices() { return std::exchange(notices_, {}); }

const data_envelope* replicator_core::entry(const data_key& key) const {
  const auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

digest replicator_core::digest_of(const data_key& key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return not_found_digest;
  if (it->second.deleted) return deleted_digest;
  if (auto c = digests_.find(key); c != digests_.end()) return c->second;
  // The value's hash, then the pruning states (Akka digests the envelope without the
  // delta numbers).
  std::uint64_t h = fnv_u64(fnv_offset, hooks_.digest_of(it->second.data));
  for (const auto& [removed, state] : it->second.pruning) {
    h = fnv_replica(h, removed);
    if (const auto* init = std::get_if<pruning_initialized>(&state)) {
      h = fnv_replica(fnv_u64(h, 1), init->owner);
      for (const auto& s : init->seen) h = fnv_replica(h, s);
    } else {
      h = fnv_u64(fnv_u64(h, 2), static_cast<std::uint64_t>(std::get<pruning_performed>(state).obsolete_at.count()));
    }
  }
  if (h <= deleted_digest) h += 2;
  digests_.emplace(key, h);
  return h;
}

// ---------------------------------------------------------------------------------------
// Local commands

void replicator_core::on_update(update_request r, nanoseconds now) {
  const auto it = entries_.find(r.key);
  if (it != entries_.end() && it->second.deleted) {
    ++stats_.updates_of_deleted;
    reply(r.requester, r.id, data_deleted{r.key});
    return;
  }
  const replicated_data& current = it != entries_.end() ? it->second.data : r.initial;
  if (current.empty() || !r.modify) {
    reply(r.requester, r.id, modify_failure{r.key, "no initial value or no modify function"});
    return;
  }
  // 1. Run the user's function; nothing changes when it fails.
  replicated_data result;
  try {
    result = r.modify(current);
  } catch (const std::exception& e) {
    reply(r.requester, r.id, modify_failure{r.key, std::string("modify threw: ") + e.what()});
    return;
  } catch (...) {
    reply(r.requester, r.id, modify_failure{r.key, "modify threw a non-standard exception"});
    return;
  }
  if (result.empty() || result.type_tag() != current.type_tag()) {
    reply(r.requester, r.id,
          modify_failure{r.key, "modify returned " + std::string(result.empty() ? "nothing" : result.type_tag()) +
                                    " for a key holding " + std::string(current.type_tag())});
    return;
  }
  // 2. Keep the join with the old value (a modify may not shrink it); its delta is the
  //    result's.
  if (auto s = result.merge(current); !s) {
    reply(r.requester, r.id, modify_failure{r.key, s.error().message});
    return;
  }
  data_envelope env = it != entries_.end() ? it->second : data_envelope{};
  const bool changed_value = it == entries_.end() || !(result == current);
  env.data = std::move(result);
  // 3. Number the change for delta propagation.
  if (changed_value) {
    const std::uint64_t seq = ++env.delta_versions[self_];
    auto [p, added] = pending_deltas_.try_emplace(r.key, pending_delta{seq, seq});
    if (!added) p->second.to_seq = seq;
  }
  set_entry(r.key, env);
  // 4. Replicate at the asked consistency.
  const std::size_t needed = required_replicas(r.write, cluster_size());
  if (needed <= 1) {
    reply(r.requester, r.id, update_success{r.key});
    return;
  }
  pending_op op;
  op.what = pending_op::kind::update;
  op.requester = r.requester;
  op.id = r.id;
  op.key = r.key;
  op.needed = needed;
  op.deadline = now + r.write.timeout;
  start_op(std::move(op), write{0, r.key, std::move(env)});
}

void replicator_core::on_get(const get_request& r, nanoseconds now) {
  const data_envelope* local = entry(r.key);
  if (local != nullptr && local->deleted) {
    reply(r.requester, r.id, data_deleted{r.key});
    return;
  }
  const std::size_t needed = required_replicas(r.read, cluster_size());
  if (needed <= 1) {
    if (local == nullptr) {
      reply(r.requester, r.id, not_found{r.key});
    } else {
      reply(r.requester, r.id, get_success{r.key, local->data});
    }
    return;
  }
  pending_op op;
  op.what = pending_op::kind::get;
  op.requester = r.requester;
  op.id = r.id;
  op.key = r.key;
  op.needed = needed;
  op.deadline = now + r.read.timeout;
  if (local != nullptr) op.merged = *local;
  start_op(std::move(op), read{0, r.key});
}

void replicator_core::on_delete(const delete_request& r, nanoseconds now) {
  if (const data_envelope* local = entry(r.key); local != nullptr && local->deleted) {
    reply(r.requester, r.id, data_deleted{r.key});
    return;
  }
  set_entry(r.key, data_envelope::deleted_entry());
  pending_deltas_.erase(r.key);
  const std::size_t needed = required_replicas(r.write, cluster_size());
  if (needed <= 1) {
    reply(r.requester, r.id, delete_success{r.key});
    return;
  }
  pending_op op;
  op.what = pending_op::kind::remove;
  op.requester = r.requester;
  op.id = r.id;
  op.key = r.key;
  op.needed = needed;
  op.deadline = now + r.write.timeout;
  start_op(std::move(op), write{0, r.key, data_envelope::deleted_entry()});
}

void replicator_core::start_op(pending_op op, const peer_message& request) {
  const std::uint64_t id = next_op_++;
  // Every member is asked, the unreachable ones too: they may answer after all.
  for (const auto& peer : peers_) {
    peer_message m = request;
    std::visit(
        [id](auto& x) {
          if constexpr (requires { x.op; }) x.op = id;
        },
        m);
    send(peer, std::move(m));
  }
  ops_.emplace(id, std::move(op));
}

bool replicator_core::op_done(const pending_op& op) const { return op.acked.size() + 1 >= op.needed; }

void replicator_core::finish_op(std::uint64_t id, bool timed_out, nanoseconds now) {
  auto node = ops_.extract(id);
  if (node.empty()) return;
  pending_op& op = node.mapped();
  const std::size_t answered = op.acked.size() + 1;
  auto why = [&](const char* what) {
    std::string s = std::to_string(answered) + " of " + std::to_string(op.needed) + " replicas " + what +
                    " in time";
    if (op.needed > cluster_size()) s += " (the cluster has " + std::to_string(cluster_size()) + ")";
    if (!op.nacked.empty()) s += "; " + std::to_string(op.nacked.size()) + " refused";
    return s;
  };
  switch (op.what) {
    case pending_op::kind::update:
      if (timed_out) {
        reply(op.requester, op.id, update_timeout{op.key, answered, op.needed, why("acknowledged")});
      } else {
        reply(op.requester, op.id, update_success{op.key});
      }
      return;
    case pending_op::kind::remove:
      if (timed_out) {
        reply(op.requester, op.id, delete_timeout{op.key, answered, op.needed});
      } else {
        reply(op.requester, op.id, delete_success{op.key});
      }
      return;
    case pending_op::kind::get:
      break;
  }
  if (timed_out) {
    reply(op.requester, op.id, get_failure{op.key, answered, op.needed, why("answered")});
    return;
  }
  // Read repair: what the others had goes into the local entry first.
  if (op.merged) merge_in(self_, op.key, *op.merged, false, now);
  const data_envelope* local = entry(op.key);
  if (local == nullptr) {
    reply(op.requester, op.id, not_found{op.key});
  } else if (local->deleted) {
    reply(op.requester, op.id, data_deleted{op.key});
  } else {
    reply(op.requester, op.id, get_success{op.key, local->data});
  }
}

// ---------------------------------------------------------------------------------------
// Peer messages

void replicator_core::on_write(const replica_id& from, const write& w, nanoseconds now) {
  if (merge_in(from, w.key, w.envelope, false, now)) {
    send(from, write_ack{w.op});
  } else {
    const data_envelope* local = entry(w.key);
    const std::string held = local != nullptr ? std::string(local->data.type_tag()) : std::string("nothing");
    send(from, write_nack{w.op, "key " + w.key + " holds " + held + ", the write carried " +
                                    std::string(w.envelope.data.type_tag())});
  }
}

void replicator_core::on_write_answer(const replica_id& from, std::uint64_t op, bool acked, nanoseconds now) {
  const auto it = ops_.find(op);
  if (it == ops_.end() || it->second.what == pending_op::kind::get) return;
  (acked ? it->second.acked : it->second.nacked).insert(from);
  if (op_done(it->second)) finish_op(op, false, now);
}

void replicator_core::on_read(const replica_id& from, const read& r) {
  const data_envelope* local = entry(r.key);
  send(from, read_result{r.op, r.key, local ? std::optional<data_envelope>(*local) : std::nullopt});
}

void replicator_core::on_read_result(const replica_id& from, const read_result& r, nanoseconds now) {
  const auto it = ops_.find(r.op);
  if (it == ops_.end() || it->second.what != pending_op::kind::get || it->second.key != r.key) return;
  pending_op& op = it->second;
  if (!op.acked.insert(from).second) return;
  if (r.envelope) {
    if (!op.merged) {
      op.merged = *r.envelope;
    } else if (auto s = merge(*op.merged, *r.envelope, false, now); !s) {
      ++stats_.type_mismatches;
      notice(from, r.key, "read result ignored: " + s.error().message);
    }
  }
  if (op_done(op)) finish_op(r.op, false, now);
}

void replicator_core::on_deltas(const replica_id& from, const delta_propagation& d, nanoseconds now) {
  for (const auto& [key, de] : d.deltas) {
    const data_envelope* local = entry(key);
    if (local != nullptr && (local->deleted || local->pruning.count(from) > 0)) continue;
    std::uint64_t seen = 0;
    if (local != nullptr) {
      if (auto v = local->delta_versions.find(from); v != local->delta_versions.end()) seen = v->second;
    }
    if (seen >= de.to_seq) continue;  // a duplicate
    if (de.from_seq > seen + 1) {     // a gap: wait for full-state gossip
      ++stats_.deltas_ignored;
      continue;
    }
    data_envelope incoming;
    incoming.data = de.delta;
    incoming.delta_versions[from] = de.to_seq;
    if (merge_in(from, key, incoming, true, now)) ++stats_.deltas_applied;
  }
}

void replicator_core::on_status(const replica_id& from, const gossip_status& s) {
  // 1. Keys whose entries differ, or that the peer lacks: send ours (Akka's receiveStatus).
  std::vector<data_key> keys;
  bool send_back = false;
  for (const auto& [key, theirs] : s.digests) {
    const digest mine = digest_of(key);
    if (mine != not_found_digest && mine != theirs) {
      keys.push_back(key);
      send_back = send_back || theirs != not_found_digest;
    }
  }
  if (s.complete) {
    for (const auto& [key, e] : entries_) {
      if (key_chunk(key, s.total_chunks) == s.chunk && s.digests.count(key) == 0) keys.push_back(key);
    }
  }
  gossip g;
  g.send_back = send_back;
  for (const auto& key : keys) {
    if (g.entries.size() >= settings_.max_delta_elements) break;
    const data_envelope& e = entries_.at(key);
    const std::size_t size = entry_size(e) + key.size();
    if (!gossip_budget_untouched_ && size > gossip_bytes_left_) break;
    gossip_budget_untouched_ = false;
    gossip_bytes_left_ -= std::min(size, gossip_bytes_left_);
    stats_.gossip_bytes_sent += size;
    g.entries.emplace(key, e);
  }
  if (!g.entries.empty()) {
    stats_.gossip_entries_sent += g.entries.size();
    send(from, std::move(g));
  }
  // 2. Keys we lack: ask for them.
  gossip_status ask{s.chunk, s.total_chunks, {}, false};
  for (const auto& [key, theirs] : s.digests) {
    if (theirs != not_found_digest && entries_.count(key) == 0) ask.digests.emplace(key, not_found_digest);
  }
  if (!ask.digests.empty()) send(from, std::move(ask));
}

void replicator_core::on_gossip(const replica_id& from, const gossip& g, nanoseconds now) {
  std::vector<data_key> reply_keys;
  for (const auto& [key, e] : g.entries) {
    const bool had = entries_.count(key) > 0;
    if (merge_in(from, key, e, false, now)) ++stats_.gossip_entries_merged;
    if (g.send_back && (had || !e.pruning.empty()) && entries_.count(key) > 0) reply_keys.push_back(key);
  }
  if (reply_keys.empty()) return;
  gossip back;
  for (const auto& key : reply_keys) {
    if (back.entries.size() >= settings_.max_delta_elements) break;
    const data_envelope& e = entries_.at(key);
    const std::size_t size = entry_size(e) + key.size();
    if (!gossip_budget_untouched_ && size > gossip_bytes_left_) break;
    gossip_budget_untouched_ = false;
    gossip_bytes_left_ -= std::min(size, gossip_bytes_left_);
    stats_.gossip_bytes_sent += size;
    back.entries.emplace(key, e);
  }
  if (!back.entries.empty()) {
    stats_.gossip_entries_sent += back.entries.size();
    send(from, std::move(back));
  }
}

// ---------------------------------------------------------------------------------------
// Ticks

void replicator_core::gossip_tick() {
  gossip_bytes_left_ = settings_.gossip_max_bytes_per_round;
  gossip_budget_untouched_ = true;
  std::vector<replica_id> reachable;
  std::copy_if(peers_.begin(), peers_.end(), std::back_inserter(reachable),
               [this](const replica_id& p) { return unreachable_.count(p) == 0; });
  if (reachable.empty()) return;
  const replica_id& to = reachable[std::uniform_int_distribution<std::size_t>(0, reachable.size() - 1)(rng_)];
  // One chunk of the keys per round, so a status stays small however many keys there are.
  const auto total = static_cast<std::uint32_t>(
      std::max<std::size_t>(1, entries_.size() / std::max<std::size_t>(1, settings_.max_delta_elements)));
  gossip_status s;
  s.total_chunks = total;
  s.chunk = static_cast<std::uint32_t>(status_round_++ % total);
  for (const auto& [key, e] : entries_) {
    if (key_chunk(key, total) == s.chunk) s.digests.emplace(key, digest_of(key));
  }
  send(to, std::move(s));
}

void replicator_core::delta_tick() {
  if (pending_deltas_.empty()) return;
  delta_propagation d;
  for (auto it = pending_deltas_.begin();
       it != pending_deltas_.end() && d.deltas.size() < std::max<std::size_t>(1, settings_.max_delta_elements);) {
    auto e = entries_.find(it->first);
    if (e != entries_.end() && !e->second.deleted) {
      auto delta = e->second.data.delta();
      // A type without deltas ships its whole value, which merges the same way.
      d.deltas.emplace(it->first, delta_entry{delta ? std::move(*delta) : e->second.data, it->second.from_seq,
                                              it->second.to_seq});
      e->second.data.reset_delta();
    }
    it = pending_deltas_.erase(it);
  }
  if (d.deltas.empty()) return;
  for (const auto& peer : peers_) {
    if (unreachable_.count(peer) == 0) send(peer, d);
  }
}

void replicator_core::notify_tick() {
  auto notify = [&](const data_key& key, const std::set<requester_id>& who) {
    const data_envelope* e = entry(key);
    if (e == nullptr) return;
    for (requester_id s : who) {
      if (e->deleted) {
        reply(s, 0, deleted{key});
      } else {
        reply(s, 0, changed{key, e->data});
      }
    }
  };
  for (const auto& key : changed_) {
    if (auto it = subscribers_.find(key); it != subscribers_.end()) notify(key, it->second);
  }
  for (const auto& [key, fresh] : new_subscribers_) {
    if (changed_.count(key) == 0) notify(key, fresh);
  }
  changed_.clear();
  new_subscribers_.clear();
}

void replicator_core::timers_tick(nanoseconds now) {
  std::vector<std::uint64_t> expired;
  for (const auto& [id, op] : ops_) {
    if (op.deadline <= now) expired.push_back(id);
  }
  for (std::uint64_t id : expired) finish_op(id, true, now);
}

void replicator_core::prune_tick(nanoseconds now) {
  // Akka's receiveRemovedNodePruningTick: nothing while a member is unreachable, as it
  // could not confirm having seen the pruning.
  if (!unreachable_.empty()) return;
  if (is_pruning_leader()) {
    // 1. Replicas found in values that are neither members nor known as removed.
    for (const auto& [key, e] : entries_) {
      if (e.deleted) continue;
      for (const auto& r : e.data.modified_by()) {
        if (r != self_ && peers_.count(r) == 0) removed_.emplace(r, now);
      }
    }
    // 2. Start pruning replicas removed long enough ago for their changes to have spread.
    for (const auto& [removed, since] : removed_) {
      if (now - since <= settings_.max_pruning_dissemination || peers_.count(removed) > 0) continue;
      for (auto& [key, e] : entries_) {
        if (e.deleted || !e.data.needs_pruning_from(removed)) continue;
        const auto p = e.pruning.find(removed);
        const auto* init = p == e.pruning.end() ? nullptr : std::get_if<pruning_initialized>(&p->second);
        if (p == e.pruning.end() || (init != nullptr && init->owner != self_)) {
          data_envelope next = e;
          next.pruning.insert_or_assign(removed, pruning_initialized{self_, {}});
          set_entry(key, std::move(next));
        }
      }
    }
  }
  // 3. Perform the pruning this replica owns once every member has seen it.
  for (auto& [key, e] : entries_) {
    if (e.deleted) continue;
    bool touched = false;
    data_envelope next = e;
    for (auto& [removed, state] : next.pruning) {
      const auto* init = std::get_if<pruning_initialized>(&state);
      if (init == nullptr || init->owner != self_) continue;
      if (!std::includes(init->seen.begin(), init->seen.end(), peers_.begin(), peers_.end())) continue;
      next.data.prune(removed, self_);
      next.delta_versions.erase(removed);
      state = pruning_performed{now + settings_.pruning_marker_time_to_live};
      touched = true;
      ++stats_.pruned;
    }
    if (touched) {
      // The prune's own delta must not travel without the marker: the key's pending delta
      // numbers are dropped, so peers see a gap and take the pruned value from gossip.
      next.data.reset_delta();
      pending_deltas_.erase(key);
      set_entry(key, std::move(next));
    }
  }
  // 4. Forget expired markers, and the replicas they were for.
  for (auto& [key, e] : entries_) {
    if (e.deleted) continue;
    std::vector<replica_id> expired;
    for (const auto& [removed, state] : e.pruning) {
      const auto* done = std::get_if<pruning_performed>(&state);
      if (done != nullptr && done->obsolete_at <= now) expired.push_back(removed);
    }
    if (expired.empty()) continue;
    data_envelope next = e;
    for (const auto& r : expired) {
      next.pruning.erase(r);
      removed_.erase(r);
    }
    set_entry(key, std::move(next));
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

bool replicator_core::merge_in(const replica_id& from, const data_key& key, const data_envelope& incoming,
                               bool as_delta, nanoseconds now) {
  const auto it = entries_.find(key);
  data_envelope next = it != entries_.end() ? it->second : data_envelope{};
  if (auto s = merge(next, incoming, as_delta, now); !s) {
    ++stats_.type_mismatches;
    notice(from, key, "not merged: " + s.error().message);
    return false;
  }
  // Having merged it, this replica has seen the pruning states it carries.
  for (auto& [removed, state] : next.pruning) {
    if (auto* init = std::get_if<pruning_initialized>(&state); init != nullptr && init->owner != self_) {
      init->seen.insert(self_);
    }
  }
  set_entry(key, std::move(next));
  return true;
}

void replicator_core::set_entry(const data_key& key, data_envelope e) {
  if (is_durable(key)) durable_dirty_.insert(key);
  auto [it, added] = entries_.try_emplace(key);
  if (subscribers_.count(key) > 0 && (added || it->second.deleted != e.deleted || !(it->second.data == e.data))) {
    changed_.insert(key);
  }
  if (!added && it->second.deleted) --deleted_count_;
  if (e.deleted) ++deleted_count_;
  it->second = std::move(e);
  digests_.erase(key);
}

bool replicator_core::is_durable(const data_key& key) const {
  for (const auto& d : settings_.durable_keys) {
    if (!d.empty() && d.back() == '*') {
      if (key.compare(0, d.size() - 1, d, 0, d.size() - 1) == 0) return true;
    } else if (key == d) {
      return true;
    }
  }
  return false;
}

std::vector<std::pair<data_key, data_envelope>> replicator_core::take_durable_writes() {
  std::vector<std::pair<data_key, data_envelope>> out;
  out.reserve(durable_dirty_.size());
  for (const auto& key : durable_dirty_) {
    const auto it = entries_.find(key);
    if (it != entries_.end()) out.emplace_back(key, it->second);
  }
  durable_dirty_.clear();
  return out;
}

void replicator_core::load_durable(const data_key& key, data_envelope e) {
  if (const auto it = entries_.find(key); it != entries_.end() && it->second.deleted) --deleted_count_;
  if (e.deleted) ++deleted_count_;
  entries_.insert_or_assign(key, std::move(e));
  digests_.erase(key);
}

bool replicator_core::is_pruning_leader() const { return peers_.empty() || self_ < *peers_.begin(); }

std::size_t replicator_core::entry_size(const data_envelope& e) const {
  std::size_t n = 16 + 24 * (e.pruning.size() + e.delta_versions.size());
  if (e.data.empty()) return n;
  if (hooks_.size_of) return n + hooks_.size_of(e.data);
  return n + 32 + 48 * e.data.modified_by().size();
}

void replicator_core::reply(requester_id to, request_id id, reply_message m) {
  if (std::holds_alternative<update_timeout>(m)) ++stats_.update_timeouts;
  if (std::holds_alternative<modify_failure>(m)) ++stats_.modify_failures;
  if (std::holds_alternative<get_failure>(m)) ++stats_.get_failures;
  if (std::holds_alternative<delete_timeout>(m)) ++stats_.delete_timeouts;
  replies_.push_back(local_reply{to, id, std::move(m)});
}

void replicator_core::send(const replica_id& to, peer_message m) {
  if (std::holds_alternative<delta_propagation>(m)) ++stats_.deltas_sent;
  if (std::holds_alternative<gossip_status>(m)) ++stats_.gossip_status_sent;
  if (std::holds_alternative<gossip>(m)) ++stats_.gossip_sent;
  outbox_.push_back(peer_envelope{self_, to, std::move(m)});
}

void replicator_core::notice(const replica_id& peer, const data_key& key, std::string text) {
  notices_.push_back(replicator_notice{peer, key, std::move(text)});
}

}  // namespace troupe::ddata
