#include "../internal/bucket_entity.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "../internal/replica_wire.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/cache/model/replica.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/actor_uri.hpp"
#include "troupe/remote/transport.hpp"

namespace troupe::cache::detail {
namespace {

std::optional<std::chrono::nanoseconds> ttl_of(std::int64_t ttl_ms) {
  if (ttl_ms == 0) return std::nullopt;
  // A negative ttl reaches the store as one, which refuses it (bad_ttl).
  return std::chrono::milliseconds(ttl_ms < 0 ? -1 : ttl_ms);
}

}  // namespace

bucket_entity::bucket_entity(bucket_config config, std::string id)
    : config_(std::move(config)), id_(std::move(id)), store_(0) {}

void bucket_entity::pre_start() {
  config_.budget->join();
  store_.resize(config_.budget->share());
  timers().start_periodic_timer("sweep", sweep_tick{}, config_.sweep_interval);
  if (config_.replicas == 0) return;
  cluster::cluster::get(system()).subscribe(self(), cluster::member_events);
  ask_for_copies();
}

model::time_point bucket_entity::now() const {
  // The system's scheduler's clock, not the machine's: a manual scheduler drives the TTLs
  // of a deterministic test.
  return system().scheduler().now();
}

void bucket_entity::post_stop() {
  config_.budget->leave(store_.bytes());
  if (config_.replicas == 0) return;
  if (auto& cl = cluster::cluster::get(system()); !cl.is_terminated()) cl.unsubscribe(self());
}

void bucket_entity::trim() {
  const std::size_t before = store_.bytes();
  store_.resize(config_.budget->share());
  config_.budget->update(before, store_.bytes());
}

bool bucket_entity::put(std::string key, std::string value, std::int64_t ttl_ms, put_reply* reply) {
  // 1. Fit the bucket to its share first: more buckets may live here since the last put.
  trim();
  // 2. What the holder gets, copied before the store takes the key and value.
  replica_write w{id_, 0, 0, 0, false, holder_ref_ ? key : std::string(), {}, ttl_ms};
  if (holder_ref_) w.value = value;
  // 3. Store, evicting as the store decides, and tell the node what it holds now.
  const std::size_t before = store_.bytes();
  const auto out = store_.put(std::move(key), std::move(value), ttl_of(ttl_ms), now());
  config_.budget->update(before, store_.bytes());
  if (reply) {
    reply->stored = out.ok();
    if (!out.ok()) reply->error = model::to_string(out.status);
  }
  // 4. A change goes to the holder: a value too large for the bucket removed the old one,
  //    and one too large to send is kept here only (removed there).
  if (!out.ok() && out.status != model::put_status::too_large) return false;
  if (!out.ok() || model::entry_cost(w.key, w.value) > replica_max_entry_bytes) {
    w.remove = true;
    w.value.clear();
  }
  replicate(std::move(w));
  return true;
}

const std::string* bucket_entity::lookup(const std::string& key) {
  // A get drops the entry when it has expired: the node's count follows.
  const std::size_t before = store_.bytes();
  const std::string* v = store_.get(key, now());
  config_.budget->update(before, store_.bytes());
  return v;
}

void bucket_entity::finish_load(const std::string& key, const load_answer& answer, std::uint64_t claim) {
  auto it = loads_.find(key);
  if (it == loads_.end() || (claim != 0 && it->second.claim != claim)) return;
  timers().cancel("load/" + key);
  for (const auto& w : it->second.waiting) w.tell(answer);
  loads_.erase(it);
}

behavior bucket_entity::make_behavior() { return config_.replicas == 0 ? serving() : restoring(); }

behavior bucket_entity::serving() {
  return {
      [this](put_request& m) {
        // A put during a load answers its waiters: the value is as fresh as a load's.
        std::optional<load_answer> for_waiters;
        if (loads_.count(m.key)) for_waiters = load_answer{load_answer::kind::hit, m.value, {}};
        const std::string key = for_waiters ? m.key : std::string();
        put_reply r;
        const bool changed = put(std::move(m.key), std::move(m.value), m.ttl_ms, &r);
        const bool stored = r.stored;
        if (changed) {
          reply_when_replicated(make_message(std::move(r)));
        } else {
          reply(r);
        }
        if (for_waiters && stored) finish_load(key, *for_waiters, 0);
      },
      [this](const get_request& m) {
        get_reply r;
        if (const std::string* v = lookup(m.key)) {
          r.found = true;
          r.value = *v;
        }
        reply(r);
      },
      [this](const remove_request& m) {
        const std::size_t before = store_.bytes();
        const bool removed = store_.remove(m.key);
        config_.budget->update(before, store_.bytes());
        if (!removed) return reply(remove_reply{false});
        replicate(replica_write{id_, 0, 0, 0, true, holder_ref_ ? m.key : std::string(), {}, 0});
        reply_when_replicated(make_message(remove_reply{true}));
      },
      [this](const load_claim& m) {
        // 1. A value there: a hit. 2. A load running: wait for it. 3. Else: grant this one.
        if (const std::string* v = lookup(m.key)) {
          reply(load_answer{load_answer::kind::hit, *v, {}});
          return;
        }
        if (auto it = loads_.find(m.key); it != loads_.end()) {
          it->second.waiting.push_back(sender());
          return;
        }
        const std::uint64_t claim = ++next_claim_;
        loads_[m.key].claim = claim;
        timers().start_single_timer("load/" + m.key, load_lapsed{m.key, claim}, config_.load_timeout);
        reply(load_answer{load_answer::kind::grant, {}, {}, claim});
      },
      [this](load_done& m) {
        const std::string key = m.key;
        std::string value = m.value;
        put(std::move(m.key), std::move(m.value), m.ttl_ms, nullptr);
        // The waiters get the loaded value even when it did not fit in the bucket.
        finish_load(key, load_answer{load_answer::kind::hit, std::move(value), {}}, m.claim);
      },
      [this](const load_failed& m) {
        finish_load(m.key, load_answer{load_answer::kind::failed, {}, m.error}, m.claim);
      },
      [this](const load_lapsed& m) {
        finish_load(m.key, load_answer{load_answer::kind::failed, {}, "the loader did not finish in time"}, m.claim);
      },
      [this](const sweep_tick&) {
        trim();
        const std::size_t before = store_.bytes();
        store_.expire(now());
        config_.budget->update(before, store_.bytes());
        // Replies whose callers have given up are dropped; the holder not acking for that
        // long lost something (or its store was not started yet): the full state again.
        const auto t = now();
        bool lapsed = false;
        while (!pending_.empty() && pending_.front().deadline <= t) {
          pending_.pop_front();
          lapsed = true;
        }
        if (holder_ref_ && (lapsed || (copy_in_flight_ && t - copy_sent_ >= config_.ack_timeout))) send_copy();
      },
      // ---- replica ----
      [this](const replica_ack& m) { on_ack(m); },
      [this](const bucket_stop&) {
        // 1. Nothing the holder lacks (or no holder): stop now. 2. Else the full state
        //    goes there, and the bucket stops at its ack or at the deadline.
        stopping_ = true;
        if (!holder_ref_ || (acked_ >= version_ && !copy_in_flight_)) return stop_self();
        send_copy();
        timers().start_single_timer("stop", stop_deadline{}, config_.ack_timeout);
      },
      [this](const stop_deadline&) {
        TROUPE_LOG(log(), warning) << "cache bucket " << id_ << ": the replica holder did not ack the final state; "
                                   << "stopping without it";
        stop_self();
      },
      // The membership: the ring of Up members, hence the holder, may change.
      [this](const cluster::current_cluster_state&) { update_holder(); },  // on subscribing
      [this](const cluster::member_up&) { update_holder(); },              // into the ring
      [this](const cluster::member_left&) { update_holder(); },            // out of it
      [this](const cluster::member_exited&) { update_holder(); },          // out of it
      [this](const cluster::member_downed&) { update_holder(); },          // out of it
      [this](const cluster::member_removed&) { update_holder(); },         // out of it
      [](const cluster::member_joined&) {},                                // not up yet
      [](const cluster::member_weakly_up&) {},                             // not up yet
      [](const replica_held&) {},                                          // late for the restore
      [](const restore_deadline&) {},                                      // the restore ended before
  };
}

// ---- replica ----

actor_ref bucket_entity::store_of(const cluster::model::address& node) {
  auto ref = system().extension<remote::transport>().ref_for(cluster::model::actor_uri(node, config_.store_path));
  return ref ? *ref : actor_ref{};
}

std::vector<cluster::model::address> bucket_entity::up_members() const {
  std::vector<cluster::model::address> up;
  for (const auto& m : cluster::cluster::get(system()).state().members)
    if (m.status() == cluster::model::member_status::up) up.push_back(m.address());
  return up;
}

void bucket_entity::update_holder() {
  const auto holder = model::replica_holder(up_members(), cluster::cluster::get(system()).self_address());
  if (holder == holder_) return;
  // 1. The old holder keeps its copy until the new one has the full state.
  if (holder_ref_) retired_.push_back(holder_ref_);
  holder_ = holder;
  holder_ref_ = holder ? store_of(*holder) : actor_ref{};
  ++epoch_;
  acked_ = 0;
  copy_in_flight_ = false;
  // 2. The new holder gets everything; with none (no other Up member), the held replies
  //    are answered now and the old copies dropped.
  if (holder_ref_) return send_copy();
  for (const auto& r : std::exchange(retired_, {})) r.tell(replica_drop{id_, version_}, self());
  acked_ = version_;
  settle();
}

void bucket_entity::send_copy() {
  auto parts = split_parts(store_.entries(now()));
  const auto count = static_cast<std::uint32_t>(parts.size());
  for (std::uint32_t i = 0; i < count; ++i)
    holder_ref_.tell(replica_copy{id_, version_, epoch_, store_.capacity(), i, count, std::move(parts[i])}, self());
  copy_in_flight_ = true;
  copy_version_ = version_;
  copy_sent_ = now();
}

void bucket_entity::replicate(replica_write w) {
  ++version_;
  if (!holder_ref_) return;
  w.version = version_;
  w.epoch = epoch_;
  w.capacity = store_.capacity();
  holder_ref_.tell(std::move(w), self());
}

void bucket_entity::reply_when_replicated(message r) {
  if (!sender()) return;  // told, not asked: nobody waits for the answer
  if (!holder_ref_) {
    sender().tell(std::move(r), self());
    return;
  }
  pending_.push_back(pending_reply{version_, sender(), std::move(r), now() + config_.ack_timeout});
}

void bucket_entity::on_ack(const replica_ack& m) {
  if (m.epoch != epoch_ || !holder_ref_) return;  // an old holder's
  if (m.missing) {
    // The holder could not apply a write (no copy, or one lost): the full state again,
    // unless one is on its way. A miss at or after the copy's version says the copy did
    // not arrive whole: sent again.
    if (!copy_in_flight_ || m.version >= copy_version_) send_copy();
    return;
  }
  if (m.version >= acked_) acked_ = m.version;
  if (acked_ >= copy_version_) copy_in_flight_ = false;
  for (const auto& r : std::exchange(retired_, {})) r.tell(replica_drop{id_, acked_}, self());
  settle();
}

void bucket_entity::settle() {
  while (!pending_.empty() && pending_.front().version <= acked_) {
    pending_.front().to.tell(std::move(pending_.front().reply), self());
    pending_.pop_front();
  }
  if (stopping_ && acked_ >= version_) stop_self();
}

// ---- restore ----

void bucket_entity::ask_for_copies() {
  // The store of every member that may hold a copy: up, or leaving (a holder that leaves
  // keeps its copy until the next one has acked the full state); not one found unreachable,
  // which would only hold the restore up. This node's is included (it may hold the copy of
  // a bucket that moves here). Each answer is told apart by its index.
  auto& cl = cluster::cluster::get(system());
  const auto state = cl.state();
  std::vector<cluster::model::address> nodes{cl.self_address()};
  for (const auto& m : state.members) {
    const auto st = m.status();
    if (st != cluster::model::member_status::up && st != cluster::model::member_status::leaving &&
        st != cluster::model::member_status::exiting)
      continue;
    const bool unreachable = std::any_of(state.unreachable.begin(), state.unreachable.end(),
                                         [&](const auto& u) { return u.address() == m.address(); });
    if (!unreachable && m.address() != nodes.front()) nodes.push_back(m.address());
  }
  for (const auto& node : nodes) {
    const actor_ref store = store_of(node);
    if (!store) continue;
    store.tell(replica_query{id_, answers_.size()}, self());
    answers_.emplace_back().node = node;
  }
  timers().start_single_timer("restore", restore_deadline{},
                              answers_.empty() ? std::chrono::milliseconds(0) : config_.restore_timeout);
}

behavior bucket_entity::restoring() {
  return {
      [this](replica_held& m) { on_held(m); },
      [this](const restore_deadline&) {
        TROUPE_LOG(log(), warning) << "cache bucket " << id_ << ": not every replica store answered in time";
        finish_restore();
      },
      [this](message&) { stash(); },
  };
}

void bucket_entity::on_held(replica_held& m) {
  if (m.bucket != id_ || m.asker >= answers_.size()) return;
  auto& a = answers_[m.asker];
  if (a.done) return;
  if (m.part != a.next_part) {
    a.found = false;  // a part lost: this answer does not count
    a.done = true;
    a.entries.clear();
  } else {
    a.found = m.found;
    a.version = m.version;
    for (auto& e : m.entries) a.entries.push_back(std::move(e));
    a.done = ++a.next_part >= m.parts;
  }
  if (std::all_of(answers_.begin(), answers_.end(), [](const restore_answer& x) { return x.done; })) finish_restore();
}

void bucket_entity::finish_restore() {
  timers().cancel("restore");
  // 1. The newest complete copy, if any.
  const restore_answer* best = nullptr;
  for (const auto& a : answers_)
    if (a.done && a.found && (!best || a.version > best->version)) best = &a;
  // 2. Its entries into the store, least recently used first, within the bucket's share;
  //    the version continues from it.
  if (best) {
    trim();
    const std::size_t before = store_.bytes();
    const auto t = now();
    for (const auto& e : best->entries) {
      auto c = from_wire(e);
      store_.put(std::move(c.key), std::move(c.value), c.ttl, t);
    }
    config_.budget->update(before, store_.bytes());
    version_ = best->version;
  }
  // 3. The holder gets the full state; the other copies are dropped, once it has it.
  update_holder();
  for (const auto& a : answers_)
    if (a.found && a.node != holder_) retired_.push_back(store_of(a.node));
  if (!holder_ref_) {
    for (const auto& r : std::exchange(retired_, {})) r.tell(replica_drop{id_, version_}, self());
  }
  answers_.clear();
  // 4. Serve, the requests held meanwhile first.
  become(serving());
  unstash_all();
}

}  // namespace troupe::cache::detail
