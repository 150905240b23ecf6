// The replicator actor: it hands commands, peers' messages, member events and ticks to its
// replicator_core and carries out what the core returns (messages to peers' replicators,
// replies to requesters, notifications to subscribers, notices to log). Every decision is
// the core's; this file maps opaque requester ids to actors and replicas to refs.
#include "replicator_actor.hpp"

#include "durable_store.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "troupe/actor.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/actor_uri.hpp"
#include "troupe/ddata/replicator_codec.hpp"
#include "troupe/remote/transport.hpp"

namespace troupe::ddata::detail {

namespace {

using std::chrono::nanoseconds;

/// A periodic duty of the core.
struct replicator_tick_message {
  replicator_tick what;
};

/// The replicator of `node` as a URI.
std::string replicator_uri(const replica_id& node) {
  return cluster::model::actor_uri(node.address, replicator_path);
}

/// Which reply variant a request wants, if any.
enum class response_kind : std::uint8_t { none, update, get, remove };

/// `m` as the variant `V`, or nullopt when `V` has no such alternative.
template <class V>
std::optional<V> as_variant(reply_message&& m) {
  return std::visit(
      [](auto&& x) -> std::optional<V> {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_constructible_v<V, X>) {
          return V(std::move(x));
        } else {
          return std::nullopt;
        }
      },
      std::move(m));
}

class replicator_actor final : public actor {
 public:
  replicator_actor(distributed_data_settings settings, std::shared_ptr<const data_codecs> codecs,
                   std::shared_ptr<durable_store> store, std::shared_ptr<ddata_gauges> gauges)
      : settings_(std::move(settings)),
        codecs_(std::move(codecs)),
        store_(std::move(store)),
        gauges_(std::move(gauges)) {}

  void pre_start() override {
    using std::chrono::system_clock;
    auto& cl = cluster::cluster::get(system());
    self_ = cl.self_unique_address();
    transport_ = &system().extension<remote::transport>();
    // 1. The shared time: the wall clock now, advanced by the scheduler from here on.
    epoch_offset_ = system_clock::now().time_since_epoch() - system().scheduler().now().time_since_epoch();
    // 2. The core, with digests and sizes from the values' wire form.
    value_hooks hooks;
    hooks.digest_of = [codecs = codecs_](const replicated_data& d) { return stable_digest(d, *codecs); };
    hooks.size_of = [codecs = codecs_](const replicated_data& d) -> std::size_t {
      auto b = codecs->encode(d);
      return b ? b->size() : 0;
    };
    core_ = std::make_unique<replicator_core>(settings_.replicator, self_, std::move(hooks), self_.uid);
    // 2b. The durable keys as they were stored, before anything is answered (this turn
    //     runs before any message).
    if (store_) load_durable();
    publish_gauges();
    // 3. Ticks, and the members.
    const auto& s = settings_.replicator;
    timers().start_periodic_timer("gossip", replicator_tick_message{replicator_tick::gossip}, s.gossip_interval);
    timers().start_periodic_timer("delta", replicator_tick_message{replicator_tick::delta_propagation},
                                  s.delta_propagation_interval);
    timers().start_periodic_timer("notify", replicator_tick_message{replicator_tick::notify},
                                  s.notify_subscribers_interval);
    timers().start_periodic_timer("timers", replicator_tick_message{replicator_tick::timers},
                                  settings_.timeout_check_interval);
    timers().start_periodic_timer("prune", replicator_tick_message{replicator_tick::prune}, s.pruning_interval);
    // The members known now, so that the first request already counts them; the
    // subscription's first event repeats them (the core takes each member once).
    on_state(cl.state());
    cl.subscribe(self(), cluster::member_events | cluster::reachability_events);
    TROUPE_LOG(log(), debug) << "ddata: replicator of " << cluster::model::to_string(self_) << " started";
  }

  void post_stop() override {
    if (auto& cl = cluster::cluster::get(system()); !cl.is_terminated()) cl.unsubscribe(self());
  }

  behavior make_behavior() override {
    return {
        // Local commands.
        [this](ddata::update& u) { on_update(u); },
        [this](ddata::get& g) {
          const requester_id id = add_request(response_kind::get, g.as_response);
          core_->receive(get_request{id, id, std::move(g.key), g.read}, now());
          flush();
        },
        [this](ddata::remove& r) {
          const requester_id id = add_request(response_kind::remove, r.as_response);
          core_->receive(delete_request{id, id, std::move(r.key), r.write}, now());
          flush();
        },
        [this](ddata::subscribe& s) { on_subscribe(s); },
        [this](ddata::unsubscribe& u) { on_unsubscribe(u); },
        [this](const terminated& t) { on_terminated(t); },
        // Peers.
        [this](addressed<write>& m) { from_peer(m); },
        [this](addressed<write_ack>& m) { from_peer(m); },
        [this](addressed<write_nack>& m) { from_peer(m); },
        [this](addressed<read>& m) { from_peer(m); },
        [this](addressed<read_result>& m) { from_peer(m); },
        [this](addressed<delta_propagation>& m) { from_peer(m); },
        [this](addressed<gossip_status>& m) { from_peer(m); },
        [this](addressed<gossip>& m) { from_peer(m); },
        // The cluster.
        [this](const cluster::current_cluster_state& s) { on_state(s); },
        [this](const cluster::member_up& e) { up(e.member); },
        [this](const cluster::member_removed& e) {
          core_->member_removed(e.member.unique_address(), now());
          peer_refs_.erase(e.member.unique_address());
          flush();
        },
        [this](const cluster::unreachable_member& e) { core_->member_unreachable(e.member.unique_address()); },
        [this](const cluster::reachable_member& e) { core_->member_reachable(e.member.unique_address()); },
        [](const cluster::member_joined&) {},
        [](const cluster::member_weakly_up&) {},
        [](const cluster::member_left&) {},
        [](const cluster::member_exited&) {},
        [](const cluster::member_downed&) {},
        // Ticks.
        [this](const replicator_tick_message& t) {
          core_->on_tick(t.what, now());
          flush();
        },
    };
  }

 private:
  struct pending_request {
    actor_ref to;
    response_kind kind = response_kind::none;  ///< none: each reply as its own type
  };
  struct subscriber {
    actor_ref ref;
    std::set<data_key> keys;
  };

  nanoseconds now() const { return system().scheduler().now().time_since_epoch() + epoch_offset_; }

  // ---- local commands ----

  requester_id add_request(response_kind kind, bool as_response) {
    const requester_id id = next_id_++;
    requests_.emplace(id, pending_request{sender(), as_response ? kind : response_kind::none});
    return id;
  }

  void on_update(ddata::update& u) {
    const requester_id id = add_request(response_kind::update, u.as_response);
    // A value without a codec could not leave this node: refused before it is stored.
    if (!u.initial.empty() && !codecs_->knows(u.initial.type_tag())) {
      ++refused_without_codec_;
      reply_to(local_reply{id, id,
                           modify_failure{u.key, "no codec for " + std::string(u.initial.type_tag()) +
                                                     "; add it with distributed_data::add_type before the start"}});
      publish_gauges();
      return;
    }
    core_->receive(update_request{id, id, std::move(u.key), std::move(u.initial), std::move(u.modify), u.write},
                   now());
    flush();
  }

  void on_subscribe(ddata::subscribe& s) {
    if (!s.subscriber) return;
    auto [it, added] = subscriber_ids_.try_emplace(s.subscriber, 0);
    if (added) {
      it->second = next_id_++;
      subscribers_[it->second].ref = s.subscriber;
      watch(s.subscriber);
    }
    subscribers_[it->second].keys.insert(s.key);
    core_->receive(subscribe_request{it->second, std::move(s.key)}, now());
    flush();
  }

  void on_unsubscribe(ddata::unsubscribe& u) {
    const auto it = subscriber_ids_.find(u.subscriber);
    if (it == subscriber_ids_.end()) return;
    const requester_id id = it->second;
    core_->receive(unsubscribe_request{id, u.key}, now());
    auto& sub = subscribers_[id];
    sub.keys.erase(u.key);
    if (sub.keys.empty()) {
      unwatch(sub.ref);
      subscribers_.erase(id);
      subscriber_ids_.erase(it);
    }
  }

  void on_terminated(const terminated& t) {
    const auto it = subscriber_ids_.find(t.actor);
    if (it == subscriber_ids_.end()) return;
    const requester_id id = it->second;
    for (const auto& key : subscribers_[id].keys) core_->receive(unsubscribe_request{id, key}, now());
    subscribers_.erase(id);
    subscriber_ids_.erase(it);
  }

  // ---- peers ----

  template <class M>
  void from_peer(addressed<M>& m) {
    // 1. Values that could not be decoded: logged with their key, their entries dropped.
    if (!m.undecodable.empty()) {
      decode_failures_ += m.undecodable.size();
      publish_gauges();
      for (const auto& bad : m.undecodable) {
        // Gossip offers the same value again each round: a warning the first time only.
        const bool first = warned_.size() < 4096 && warned_.emplace(bad.key, m.from).second;
        if (first) {
          TROUPE_LOG(log(), warning) << "ddata: dropped a value of key \"" << bad.key << "\" from "
                                     << cluster::model::to_string(m.from) << ": " << bad.reason;
        } else {
          TROUPE_LOG(log(), debug) << "ddata: dropped a value of key \"" << bad.key << "\" from "
                                   << cluster::model::to_string(m.from) << ": " << bad.reason;
        }
      }
      if constexpr (std::is_same_v<M, write>) {
        // The writer learns at once that this replica did not take it.
        send(peer_envelope{self_, m.from, write_nack{m.message.op, "undecodable value: " + m.undecodable.front().reason}});
        return;
      } else if constexpr (std::is_same_v<M, read_result>) {
        return;  // without its value the answer would read as older than it is
      }
    }
    // 2. The rest is the core's.
    core_->receive(peer_envelope{std::move(m.from), std::move(m.to), std::move(m.message)}, now());
    flush();
  }

  // ---- the cluster ----

  void on_state(const cluster::current_cluster_state& s) {
    for (const auto& m : s.members) {
      const auto st = m.status();
      if (st == cluster::model::member_status::up || st == cluster::model::member_status::leaving ||
          st == cluster::model::member_status::exiting)
        up(m);
    }
    for (const auto& m : s.unreachable) core_->member_unreachable(m.unique_address());
    flush();
  }

  void up(const cluster::model::member& m) {
    core_->member_up(m.unique_address(), m.roles());
    flush();
  }

  // ---- carrying out ----

  void load_durable() {
    auto rows = store_->load_all();
    if (!rows) {
      TROUPE_LOG(log(), error) << rows.error() << "; the durable keys start empty";
      return;
    }
    std::size_t loaded = 0;
    for (const auto& [key, bytes] : *rows) {
      auto w = decode_addressed<write>(bytes, *codecs_);
      if (!w || !w->undecodable.empty() || w->message.key != key) {
        TROUPE_LOG(log(), error) << "ddata: durable key \"" << key << "\" in \"" << store_->path()
                                 << "\" cannot be read back ("
                                 << (!w ? w.error().message
                                        : !w->undecodable.empty() ? w->undecodable.front().reason : "another key inside")
                                 << "); left out";
        continue;
      }
      if (!core_->is_durable(key)) continue;  // no longer durable: left in the file, unused
      core_->load_durable(key, std::move(w->message.envelope));
      ++loaded;
    }
    TROUPE_LOG(log(), info) << "ddata: " << loaded << " durable keys loaded from \"" << store_->path() << "\"";
  }

  /// Stores the durable keys this turn changed, before the turn's replies go out.
  void store_durable() {
    auto writes = core_->take_durable_writes();
    if (writes.empty() || !store_) return;
    // Rows that failed before and did not change since go again with these.
    std::map<data_key, std::vector<std::uint8_t>> rows_by_key = std::move(unstored_);
    unstored_.clear();
    for (auto& [key, entry] : writes) {
      auto b = encode_addressed(addressed<write>{self_, self_, write{0, key, std::move(entry)}, {}}, *codecs_);
      if (!b) {
        std::string why = "ddata: durable key \"" + key + "\" cannot be encoded: " + b.error().message;
        TROUPE_LOG(log(), error) << why;
        ++durable_store_failures_;
        store_failed_[key] = std::move(why);
        rows_by_key.erase(key);
        continue;
      }
      rows_by_key[key] = std::move(*b);
    }
    std::vector<durable_store::row> rows(std::make_move_iterator(rows_by_key.begin()),
                                         std::make_move_iterator(rows_by_key.end()));
    if (auto e = store_->store(rows)) {
      ++durable_store_failures_;
      TROUPE_LOG(log(), error) << *e << "; the change is kept in memory and tried again with the next one";
      for (auto& r : rows) {
        store_failed_[r.first] = *e;
        unstored_.emplace(std::move(r.first), std::move(r.second));
      }
    } else {
      for (const auto& r : rows) store_failed_.erase(r.first);
    }
  }

  /// A success for a durable key whose last write to the store failed is a store_failure.
  void mark_store_failure(reply_message& m) {
    if (store_failed_.empty()) return;
    const data_key* key = nullptr;
    if (const auto* u = std::get_if<update_success>(&m)) key = &u->key;
    if (const auto* d = std::get_if<delete_success>(&m)) key = &d->key;
    if (!key) return;
    if (auto it = store_failed_.find(*key); it != store_failed_.end()) {
      ++(std::holds_alternative<update_success>(m) ? update_store_failures_ : delete_store_failures_);
      m = store_failure{it->first, it->second};
    }
  }

  void flush() {
    store_durable();
    for (auto& env : core_->take_outbox()) send(env);
    for (auto& r : core_->take_replies()) reply_to(std::move(r));
    for (const auto& n : core_->take_notices())
      TROUPE_LOG(log(), warning) << "ddata: key \"" << n.key << "\" (" << cluster::model::to_string(n.peer) << "): " << n.text;
    publish_gauges();
  }

  /// What `/metrics` shows of this replicator (see `ddata_gauges`).
  void publish_gauges() const {
    auto& g = *gauges_;
    const auto& st = core_->stats();
    constexpr auto relaxed = std::memory_order_relaxed;
    g.entries.store(core_->entries().size() - core_->deleted_count(), relaxed);
    g.deleted.store(core_->deleted_count(), relaxed);
    g.pending.store(core_->pending_operations(), relaxed);
    g.updates.store(st.updates + refused_without_codec_, relaxed);
    g.gets.store(st.gets, relaxed);
    g.deletes.store(st.deletes, relaxed);
    g.update_timeouts.store(st.update_timeouts, relaxed);
    g.modify_failures.store(st.modify_failures + refused_without_codec_, relaxed);
    g.updates_of_deleted.store(st.updates_of_deleted, relaxed);
    g.update_store_failures.store(update_store_failures_, relaxed);
    g.get_failures.store(st.get_failures, relaxed);
    g.delete_timeouts.store(st.delete_timeouts, relaxed);
    g.delete_store_failures.store(delete_store_failures_, relaxed);
    g.deltas_sent.store(st.deltas_sent, relaxed);
    g.gossip_status_sent.store(st.gossip_status_sent, relaxed);
    g.gossip_sent.store(st.gossip_sent, relaxed);
    g.gossip_entries_sent.store(st.gossip_entries_sent, relaxed);
    g.gossip_bytes_sent.store(st.gossip_bytes_sent, relaxed);
    g.type_mismatches.store(st.type_mismatches, relaxed);
    g.decode_failures.store(decode_failures_, relaxed);
    g.durable_store_failures.store(durable_store_failures_, relaxed);
  }

  void send(const peer_envelope& env) {
    actor_ref ref = peer_ref(env.to);
    if (!ref) return;  // no route: the core's timeouts and gossip cover the loss
    visit_addressed(env, [&](auto&& a) { ref.tell(std::move(a), self()); });
  }

  actor_ref peer_ref(const replica_id& node) {
    if (auto it = peer_refs_.find(node); it != peer_refs_.end()) return it->second;
    auto ref = transport_->ref_for(replicator_uri(node));
    if (!ref) return {};
    return peer_refs_.emplace(node, *ref).first->second;
  }

  void reply_to(local_reply r) {
    mark_store_failure(r.message);
    // 1. A subscriber's notification.
    if (auto s = subscribers_.find(r.to); s != subscribers_.end()) {
      std::visit([&](auto&& m) { s->second.ref.tell(std::move(m), self()); }, std::move(r.message));
      return;
    }
    // 2. The answer to a request, once.
    auto h = requests_.extract(r.to);
    if (h.empty() || !h.mapped().to) return;
    const auto& req = h.mapped();
    switch (req.kind) {
      case response_kind::update:
        if (auto v = as_variant<update_response>(std::move(r.message))) return req.to.tell(std::move(*v), self());
        break;
      case response_kind::get:
        if (auto v = as_variant<get_response>(std::move(r.message))) return req.to.tell(std::move(*v), self());
        break;
      case response_kind::remove:
        if (auto v = as_variant<delete_response>(std::move(r.message))) return req.to.tell(std::move(*v), self());
        break;
      case response_kind::none:
        std::visit([&](auto&& m) { req.to.tell(std::move(m), self()); }, std::move(r.message));
        return;
    }
    TROUPE_LOG(log(), error) << "ddata: a reply of an unexpected kind for a request; dropped";
  }

  distributed_data_settings settings_;
  std::shared_ptr<const data_codecs> codecs_;
  std::shared_ptr<durable_store> store_;
  replica_id self_;
  remote::transport* transport_ = nullptr;
  nanoseconds epoch_offset_{0};
  std::unique_ptr<replicator_core> core_;
  requester_id next_id_ = 1;
  std::unordered_map<requester_id, pending_request> requests_;
  std::map<actor_ref, requester_id> subscriber_ids_;
  std::unordered_map<requester_id, subscriber> subscribers_;
  std::map<replica_id, actor_ref> peer_refs_;
  std::set<std::pair<data_key, replica_id>> warned_;  ///< undecodable values logged as warnings
  std::map<data_key, std::string> store_failed_;      ///< durable keys whose last store failed, and why
  std::map<data_key, std::vector<std::uint8_t>> unstored_;  ///< their rows, stored with the next write
  std::shared_ptr<ddata_gauges> gauges_;
  // The driver's own counters for /metrics (the core's are in its stats).
  std::uint64_t refused_without_codec_ = 0;   ///< updates of a type without a codec
  std::uint64_t decode_failures_ = 0;         ///< values from peers that could not be decoded
  std::uint64_t durable_store_failures_ = 0;  ///< failed writes of the durable store, and unencodable values
  std::uint64_t update_store_failures_ = 0, delete_store_failures_ = 0;  ///< answered store_failure
};

}  // namespace

std::uint64_t stable_digest(const replicated_data& d, const data_codecs& codecs) {
  std::uint64_t h = 14695981039346656037ULL;
  const auto mix = [&h](std::uint8_t c) { h = (h ^ c) * 1099511628211ULL; };
  for (char c : d.type_tag()) mix(static_cast<std::uint8_t>(c));
  mix(0);
  if (auto b = codecs.encode(d)) {
    for (std::uint8_t c : *b) mix(c);
  }
  // 0 and 1 mean "no entry" and "deleted" to the core.
  return h <= deleted_digest ? h + 2 : h;
}

props replicator_props(distributed_data_settings settings, std::shared_ptr<const data_codecs> codecs,
                       std::shared_ptr<durable_store> store, std::shared_ptr<ddata_gauges> gauges) {
  return props::of<replicator_actor>(std::move(settings), std::move(codecs), std::move(store), std::move(gauges));
}

}  // namespace troupe::ddata::detail
