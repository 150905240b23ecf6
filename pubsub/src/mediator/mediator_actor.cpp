// The mediator actor: it hands commands, peers' gossip, member events, deaths of local
// actors and ticks to its mediator_core, and carries out what the core returns (gossip to
// peers' mediators, deliveries to the targets it routes to, dead letters). Every decision is
// the core's; this file maps URIs to refs.
#include "mediator_actor.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actor.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/actor_uri.hpp"
#include "troupe/pubsub/mediator_codec.hpp"
#include "troupe/remote/transport.hpp"

namespace troupe::pubsub::detail {

namespace {

using std::chrono::nanoseconds;

/// The gossip duty of the core.
struct gossip_tick {};

/// The mediator of `node` as a URI.
std::string mediator_uri(const node_id& node) {
  return cluster::model::actor_uri(node.address, mediator_path);
}

class mediator_actor final : public actor {
 public:
  mediator_actor(distributed_pubsub_settings settings, std::shared_ptr<pubsub_gauges> gauges)
      : settings_(std::move(settings)), gauges_(std::move(gauges)) {}

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    self_ = cl.self_unique_address();
    transport_ = &system().extension<remote::transport>();
    core_ = std::make_unique<mediator_core>(settings_.mediator, self_, settings_.seed != 0 ? settings_.seed : self_.uid);
    timers().start_periodic_timer("gossip", gossip_tick{}, settings_.mediator.gossip_interval);
    on_state(cl.state());
    cl.subscribe(self(), cluster::member_events | cluster::reachability_events);
    publish_registry_gauges();
    publish_counters();
    TROUPE_LOG(log(), debug) << "pubsub: mediator of " << cluster::model::to_string(self_) << " started";
  }

  void post_stop() override {
    if (auto& cl = cluster::cluster::get(system()); !cl.is_terminated()) cl.unsubscribe(self());
  }

  behavior make_behavior() override {
    return {
        // Local commands.
        [this](pubsub::subscribe& s) { on_subscribe(s); },
        [this](pubsub::unsubscribe& u) { on_unsubscribe(u); },
        [this](pubsub::publish& p) { on_publish(p); },
        [this](pubsub::put& p) { on_put(p); },
        [this](pubsub::remove& r) {
          core_->remove(r.path, now());
          forget_unused_refs();
          publish_registry_gauges();
        },
        [this](pubsub::send& s) {
          if (auto t = core_->send(s.path, s.local_affinity)) {
            deliver(*t, std::move(s.msg));
          } else {
            system().publish_dead_letter(std::move(s.msg), self(), "pubsub: nothing is put under the path");
          }
          publish_counters();
        },
        [this](pubsub::send_to_all& s) {
          const auto targets = core_->send_to_all(s.path, s.all_but_self);
          if (targets.empty()) {
            system().publish_dead_letter(std::move(s.msg), self(), "pubsub: nothing is put under the path");
          } else {
            deliver_all(targets, std::move(s.msg));
          }
          publish_counters();
        },
        [this](const terminated& t) { on_terminated(t); },
        // Queries.
        [this](const get_topics&) { return current_topics{core_->topics()}; },
        [this](const count_subscribers& c) { return subscriber_count{c.topic, core_->subscriber_count(c.topic)}; },
        [this](const count_registered& c) { return registered_count{c.path, core_->registered_count(c.path)}; },
        [this](const get_stats&) { return pubsub_stats{core_->stats(), core_->live_entries(), core_->versions()}; },
        // Peers.
        [this](addressed<status>& m) { from_peer(m); },
        [this](addressed<delta>& m) { from_peer(m); },
        // The cluster.
        [this](const cluster::current_cluster_state& s) { on_state(s); },
        [this](const cluster::member_up& e) { up(e.member); },
        [this](const cluster::member_removed& e) {
          core_->member_removed(e.member.unique_address());
          peer_refs_.erase(e.member.unique_address());
          remote_refs_.erase(e.member.unique_address());
          publish_registry_gauges();
        },
        [this](const cluster::unreachable_member& e) { core_->member_unreachable(e.member.unique_address()); },
        [this](const cluster::reachable_member& e) { core_->member_reachable(e.member.unique_address()); },
        [](const cluster::member_joined&) {},
        [](const cluster::member_weakly_up&) {},
        [](const cluster::member_left&) {},
        [](const cluster::member_exited&) {},
        [](const cluster::member_downed&) {},
        // Ticks.
        [this](const gossip_tick&) {
          core_->on_tick(now());
          flush();
        },
    };
  }

 private:
  /// Only local time: tombstones' ages are measured where they are kept.
  nanoseconds now() const { return system().scheduler().now().time_since_epoch(); }

  // ---- local commands ----

  /// The requester, or `fallback` when the command came from outside an actor.
  actor_ref reply_target(const actor_ref& fallback) const { return sender() ? sender() : fallback; }

  /// The URI of a local actor, watched until it has no entry left; empty for a remote one.
  std::string local_uri(const actor_ref& ref) {
    if (!ref || !ref.get()->is_local()) return {};
    std::string uri = transport_->uri_of(ref);
    if (local_refs_.emplace(uri, ref).second) watch(ref);
    return uri;
  }

  void on_subscribe(pubsub::subscribe& s) {
    const std::string uri = local_uri(s.ref);
    if (uri.empty()) {
      TROUPE_LOG(log(), warning) << "pubsub: subscribe of " << s.ref.path() << " to \"" << s.topic
                                 << "\" refused: subscribers must be local actors";
      return;
    }
    core_->subscribe(s.topic, s.group, uri, s.ref.uid(), now());
    publish_registry_gauges();
    const actor_ref to = reply_target(s.ref);
    to.tell(subscribe_ack{std::move(s)}, self());
  }

  void on_unsubscribe(pubsub::unsubscribe& u) {
    if (u.ref) core_->unsubscribe(u.topic, u.group, transport_->uri_of(u.ref), now());
    forget_unused_refs();
    publish_registry_gauges();
    const actor_ref to = reply_target(u.ref);
    to.tell(unsubscribe_ack{std::move(u)}, self());
  }

  void on_put(pubsub::put& p) {
    const std::string uri = local_uri(p.ref);
    if (uri.empty()) {
      TROUPE_LOG(log(), warning) << "pubsub: put of " << p.ref.path() << " refused: only local actors can be put";
      return;
    }
    core_->put(path_of(uri), uri, p.ref.uid(), now());
    forget_unused_refs();
    publish_registry_gauges();
  }

  void on_publish(pubsub::publish& p) {
    const auto targets = core_->publish(p.topic);
    if (targets.empty()) {
      system().publish_dead_letter(std::move(p.msg), self(), "pubsub: no subscriber for the topic");
    } else {
      deliver_all(targets, std::move(p.msg));
    }
    publish_counters();
  }

  void on_terminated(const terminated& t) {
    const std::string uri = transport_->uri_of(t.actor);
    core_->remove_ref(uri, now());
    local_refs_.erase(uri);
    publish_registry_gauges();
  }

  /// Stops watching local actors with no live entry left in this node's bucket.
  void forget_unused_refs() {
    std::set<std::string_view> used;
    if (const auto own = core_->registry().find(self_); own != core_->registry().end()) {
      for (const auto& [k, v] : own->second.entries)
        if (!v.removed) used.insert(k.ref);
    }
    for (auto it = local_refs_.begin(); it != local_refs_.end();) {
      if (used.contains(it->first)) {
        ++it;
      } else {
        unwatch(it->second);
        it = local_refs_.erase(it);
      }
    }
  }

  // ---- delivery ----

  /// Copies of `m` to every target but the last, which gets `m` itself; the current
  /// sender (the publisher) stays the sender.
  void deliver_all(const std::vector<target>& targets, message m) {
    for (std::size_t i = 0; i + 1 < targets.size(); ++i) {
      message copy = m.copy();
      if (!copy) {
        TROUPE_LOG(log(), warning) << "pubsub: a " << m.type_name()
                                   << " cannot be copied: delivered to one subscriber only";
        break;
      }
      deliver(targets[i], std::move(copy));
    }
    deliver(targets.back(), std::move(m));
  }

  void deliver(const target& t, message m) {
    actor_ref ref = ref_of(t);
    if (!ref) {
      ++no_route_;
      system().publish_dead_letter(std::move(m), self(), "pubsub: no route to the subscriber");
      return;
    }
    ++(t.local ? delivered_local_ : delivered_remote_);
    ref.tell(std::move(m), sender());
  }

  actor_ref ref_of(const target& t) {
    if (t.local) {
      const auto it = local_refs_.find(t.ref);
      return it == local_refs_.end() ? actor_ref{} : it->second;
    }
    auto& refs = remote_refs_[t.node];
    const std::string key = t.ref + "#" + std::to_string(t.uid);
    if (auto it = refs.find(key); it != refs.end()) return it->second;
    auto ref = transport_->ref_for(t.ref, t.uid);
    if (!ref) return {};
    return refs.emplace(key, *ref).first->second;
  }

  // ---- peers ----

  template <class M>
  void from_peer(addressed<M>& m) {
    core_->receive(peer_envelope{std::move(m.from), std::move(m.to), std::move(m.message)}, now());
    flush();
    // Only deltas change the registry; statuses come every gossip interval and change nothing.
    if constexpr (std::is_same_v<M, delta>) publish_registry_gauges();
  }

  void flush() {
    for (auto& env : core_->take_outbox()) {
      actor_ref ref = peer_ref(env.to);
      if (!ref) continue;  // no route: the next gossip round covers the loss
      visit_addressed(env, [&](auto&& a) { ref.tell(std::move(a), self()); });
    }
    publish_counters();
  }

  // ---- /metrics ----

  /// The counters `/metrics` shows (see `pubsub_gauges`).
  void publish_counters() const {
    auto& g = *gauges_;
    const auto& st = core_->stats();
    constexpr auto relaxed = std::memory_order_relaxed;
    g.published.store(st.published, relaxed);
    g.sent.store(st.sent, relaxed);
    g.sent_to_all.store(st.sent_to_all, relaxed);
    g.dead_letters.store(st.dead_letters, relaxed);
    g.delivered_local.store(delivered_local_, relaxed);
    g.delivered_remote.store(delivered_remote_, relaxed);
    g.no_route.store(no_route_, relaxed);
    g.statuses_sent.store(st.statuses_sent, relaxed);
    g.deltas_sent.store(st.deltas_sent, relaxed);
    g.entries_merged.store(st.entries_merged, relaxed);
  }

  /// The registry's sizes `/metrics` shows: a walk of the registry, so only after changes.
  void publish_registry_gauges() const {
    std::size_t topics = 0;
    std::size_t subscribers = 0;
    if (const auto own = core_->registry().find(self_); own != core_->registry().end()) {
      const std::string* last_topic = nullptr;  // entries are in (kind, name, ...) order
      for (const auto& [k, v] : own->second.entries) {
        if (k.kind != entry_kind::topic || v.removed) continue;
        ++subscribers;
        if (last_topic == nullptr || *last_topic != k.name) ++topics;
        last_topic = &k.name;
      }
    }
    auto& g = *gauges_;
    constexpr auto relaxed = std::memory_order_relaxed;
    g.topics.store(topics, relaxed);
    g.local_subscribers.store(subscribers, relaxed);
    g.registry_entries.store(core_->live_entries(), relaxed);
  }

  actor_ref peer_ref(const node_id& node) {
    if (auto it = peer_refs_.find(node); it != peer_refs_.end()) return it->second;
    auto ref = transport_->ref_for(mediator_uri(node));
    if (!ref) return {};
    return peer_refs_.emplace(node, *ref).first->second;
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
  }

  void up(const cluster::model::member& m) { core_->member_up(m.unique_address(), m.roles()); }

  distributed_pubsub_settings settings_;
  node_id self_;
  remote::transport* transport_ = nullptr;
  std::unique_ptr<mediator_core> core_;
  std::map<std::string, actor_ref> local_refs_;  ///< watched local actors by URI
  std::map<node_id, std::map<std::string, actor_ref>> remote_refs_;  ///< by node, then "URI#uid"
  std::map<node_id, actor_ref> peer_refs_;
  std::shared_ptr<pubsub_gauges> gauges_;
  // The driver's own counters for /metrics (the core's are in its stats).
  std::uint64_t delivered_local_ = 0, delivered_remote_ = 0, no_route_ = 0;
};

}  // namespace

std::string path_of(const std::string& uri) {
  const auto scheme = uri.find("://");
  const auto start = scheme == std::string::npos ? 0 : scheme + 3;
  const auto slash = uri.find('/', start);
  return slash == std::string::npos ? std::string("/") : uri.substr(slash);
}

props mediator_props(distributed_pubsub_settings settings, std::shared_ptr<pubsub_gauges> gauges) {
  return props::of<mediator_actor>(std::move(settings), std::move(gauges));
}

}  // namespace troupe::pubsub::detail
