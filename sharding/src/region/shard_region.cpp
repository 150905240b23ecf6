// The shard region actor: it extracts each message's entity and shard, asks its
// region_core where the message goes, and carries out what the core decides (starting and
// stopping entities, delivering and forwarding held messages, talking to the coordinator
// and to other regions, the remember-entities store). Every decision is the core's.
#include <unordered_map>
#include <utility>

#include "internal/actors.hpp"
#include "region/front_door.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/membership_state.hpp"
#include "troupe/cluster/model/oldest.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/sharding/remember_entities.hpp"

namespace troupe::sharding::detail {

namespace {

using std::chrono::nanoseconds;
namespace cm = troupe::cluster::model;

struct retry_tick {};
struct passivation_tick {};
/// The store answered (on its own thread; delivered to the region as a message).
struct remembered_loaded {
  std::string shard;
  expected<std::vector<std::string>, std::string> entities;
};
struct remembered_written {
  std::uint64_t request;
  std::optional<std::string> error;
  std::optional<model::write_remembered> retry;  ///< the call, to make again after an error
};
/// A store call to make again after a failure.
struct retry_store {
  std::variant<model::write_remembered, model::load_remembered> call;
};

/// A message waiting in the core under a token.
struct held_message {
  message payload;  ///< what the entity gets, with its sender
  std::string entity;
};

class shard_region final : public actor {
 public:
  explicit shard_region(region_params p)
      : p_(std::move(p)), store_(p_.settings.remember_store ? p_.settings.remember_store
                                                             : in_memory_remember_store::process_wide()) {
    if (p_.proxy) p_.settings.region.proxy = true;
  }

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    self_ = cl.self_unique_address();
    core_ = std::make_unique<model::region_core>(p_.settings.region, self_);
    transport_ = &system().extension<remote::transport>();
    if (!p_.proxy && p_.settings.region.active_entity_limit == 0) {
      door_ = std::make_shared<front_door>(self_.uid);
      if (!transport_->route_inbound(self(), door_)) door_.reset();
    }
    timers().start_periodic_timer("retry", retry_tick{}, p_.settings.region.retry_interval);
    if (p_.settings.region.idle_timeout)
      timers().start_periodic_timer("passivation", passivation_tick{}, *p_.settings.region.idle_timeout / 2);
    // reachability_changed: the resolver's view of the sides depends on every record.
    cl.subscribe(self(), cluster::member_events | cluster::reachability_events | cluster::reachability_changed_events);
    TROUPE_LOG(log(), debug) << "sharding: " << (p_.proxy ? "proxy" : "region") << " of " << p_.type_name
                             << " started";
  }

  void post_stop() override {
    if (door_) {
      door_->shut();
      transport_->route_inbound(self(), nullptr);
    }
    if (auto& cl = cluster::cluster::get(system()); !cl.is_terminated()) cl.unsubscribe(self());
    // Whatever still waits here cannot be delivered any more.
    for (auto& [token, held] : held_) system().publish_dead_letter(std::move(held.payload), self(), "the shard region stopped");
    held_.clear();
    if (p_.shutdown) p_.shutdown->done();
  }

  behavior make_behavior() override {
    return {
        // Messages for entities.
        [this](detail::entity_message& m) { on_entity_message(m); },
        [this](region_forward& f) { on_forward(f); },
        // The coordinator.
        [this](const model::register_ack& m) { from_coordinator(m); },
        [this](const model::please_register& m) { from_coordinator(m); },
        [this](const model::region_set& m) { from_coordinator(m); },
        [this](const model::shard_home& m) { from_coordinator(m); },
        [this](const model::host_shard& m) { from_coordinator(m); },
        [this](const model::begin_handoff& m) { from_coordinator(m); },
        [this](const model::handoff& m) { from_coordinator(m); },
        [this](const model::graceful_shutdown_ack& m) { from_coordinator(m); },
        [this](const model::handoff_marker& m) {
          core_->receive(m, now());
          carry_out();
        },
        // Entities.
        [this](const terminated& t) { on_terminated(t); },
        [this](passivate& p) { on_passivate(p); },
        // The cluster.
        [this](const cluster::current_cluster_state&) { on_cluster_change(); },
        [this](const cluster::member_joined&) { on_cluster_change(); },
        [this](const cluster::member_weakly_up&) { on_cluster_change(); },
        [this](const cluster::member_up&) { on_cluster_change(); },
        [this](const cluster::member_left&) { on_cluster_change(); },
        [this](const cluster::member_exited&) { on_cluster_change(); },
        [this](const cluster::member_downed&) { on_cluster_change(); },
        [this](const cluster::member_removed&) { on_cluster_change(); },
        [this](const cluster::unreachable_member&) { on_cluster_change(); },
        [this](const cluster::reachable_member&) { on_cluster_change(); },
        [this](const cluster::reachability_changed&) { on_cluster_change(); },
        // Timers, the store, queries, shutdown.
        [this](const retry_tick&) {
          core_->on_tick(model::region_tick::retry, now());
          carry_out();
        },
        [this](const passivation_tick&) {
          // What the front door handed over counts as use, as if the region had routed it.
          if (door_)
            for (const auto& id : door_->take_touched()) (void)core_->running_slot(id, true);
          core_->on_tick(model::region_tick::passivation, now());
          carry_out();
        },
        [this](remembered_loaded& m) { on_loaded(m); },
        [this](const remembered_written& m) { on_written(m); },
        [this](retry_store& r) { std::visit([this](auto& call) { store_call(std::move(call)); }, r.call); },
        [this](const get_region_state&) { reply(state()); },
        [this](const get_region_stats&) { reply(stats()); },
        [this](const begin_region_shutdown&) {
          core_->begin_shutdown(now());
          carry_out();
        },
        // Anything else is a message for an entity, mapped by the extractor.
        [this](message& m) { on_user(std::move(m)); },
    };
  }

 private:
  nanoseconds now() const { return system().scheduler().now().time_since_epoch(); }

  // ---- messages for entities ----

  void on_user(message m) {
    const actor_ref sender = m.sender();
    std::optional<std::string> id;
    try {
      id = p_.extractor.entity_id(m);
    } catch (const std::exception& e) {
      return unmapped(std::move(m), std::string("the extractor threw: ") + e.what());
    }
    if (!id) return unmapped(std::move(m), "the message extractor maps no entity id from a " + m.type_name());
    if (id->empty()) return unmapped(std::move(m), "empty entity id");
    message payload = p_.extractor.unwrap(std::move(m));
    if (payload.get()) payload.get()->sender = sender;
    route(std::move(*id), std::move(payload), false);
  }

  void on_entity_message(detail::entity_message& m) {
    if (m.entity_id.empty()) return unmapped(std::move(m.payload), "empty entity id");
    if (m.payload.get()) m.payload.get()->sender = sender();
    route(std::move(m.entity_id), std::move(m.payload), false);
  }

  void on_forward(region_forward& f) {
    if (f.to_uid != self_.uid) {
      return unmapped(std::move(f.payload), "forwarded to an earlier incarnation of this node");
    }
    if (f.payload.get()) f.payload.get()->sender = sender();
    if (!f.through_door || !door_) {
      route(std::move(f.entity_id), std::move(f.payload), true);
      return;
    }
    // The door counted it: once routed, tell the door whether the entity may now get
    // forwarded messages straight from it.
    const std::string entity = f.entity_id;
    route(std::move(f.entity_id), std::move(f.payload), true);
    const auto slot = core_->deliverable_slot(entity, true);
    door_->settle(entity, slot && *slot < entities_.size() ? &entities_[*slot] : nullptr);
  }

  /// Messages for the entity in `slot` go through the region from now on (before it is
  /// told to stop, so what the door handed over comes first).
  void close_door(std::uint32_t slot) {
    if (!door_) return;
    if (const model::entity_id* id = core_->entity_at(slot)) door_->close(*id);
  }

  void unmapped(message m, const std::string& why) {
    ++unmapped_;
    TROUPE_LOG(log(), warning) << "sharding " << p_.type_name << ": dead letter: " << why;
    system().publish_dead_letter(std::move(m), self(), why.c_str());
  }

  // The shard is computed only when the entity does not run here already (the hot path).
  void route(std::string entity, message payload, bool from_region) {
    if (const auto slot = core_->running_slot(entity, from_region)) {
      deliver(*slot, std::move(payload));
      return;
    }
    std::string shard = p_.extractor.shard_id(entity);
    const auto d = core_->route(entity, shard, from_region);
    if (core_->has_effects()) carry_out();  // what the core decided first goes first
    switch (d.kind) {
      case model::route_kind::deliver:
        deliver(d.slot, std::move(payload));
        break;
      case model::route_kind::start:
        start_entity(d.slot, entity);
        deliver(d.slot, std::move(payload));
        break;
      case model::route_kind::forward:
        forward_to(d.region, std::move(entity), std::move(payload));
        break;
      case model::route_kind::buffer: {
        const std::uint64_t token = next_token_++;
        if (core_->buffer(entity, shard, token, from_region)) {
          held_.emplace(token, held_message{std::move(payload), std::move(entity)});
        } else {
          system().publish_dead_letter(std::move(payload), self(), "the shard region's buffer is full");
        }
        break;
      }
    }
    if (core_->has_effects()) carry_out();
  }

  void deliver(std::uint32_t slot, message payload) {
    if (slot < entities_.size() && entities_[slot]) {
      entities_[slot].tell_envelope(payload.release());
    } else {
      system().publish_dead_letter(std::move(payload), self(), "the entity could not be started");
    }
  }

  void forward_to(std::uint32_t region, std::string entity, message payload) {
    const auto& to = core_->region_at(region);
    // By the core's index of the region, which names one region for the core's life: no
    // comparison of addresses per message.
    if (region >= region_refs_by_index_.size()) region_refs_by_index_.resize(region + 1);
    actor_ref& ref = region_refs_by_index_[region];
    if (!ref) ref = region_ref(to);
    if (!ref) {
      system().publish_dead_letter(std::move(payload), self(), "no route to the shard's region");
      return;
    }
    const actor_ref sender = payload.sender();
    ref.tell(region_forward{to.uid, std::move(entity), std::move(payload), false}, sender);
  }

  void start_entity(std::uint32_t slot, const std::string& entity) {
    if (slot >= entities_.size()) entities_.resize(slot + 1);
    actor_ref ref;
    try {
      ref = spawn(p_.entity_props(entity), entity_actor_name(entity));
    } catch (const std::exception& e) {
      TROUPE_LOG(log(), error) << "sharding " << p_.type_name << ": cannot start entity \"" << entity
                               << "\": " << e.what();
    }
    entities_[slot] = ref;
    if (!ref) {
      // It never ran: for the core it stopped at once (its messages go to dead letters).
      pending_failed_.push_back(slot);
      return;
    }
    watch(ref);
  }

  // ---- effects ----

  void carry_out() {
    for (;;) {
      auto effects = core_->take_effects();
      if (effects.empty() && pending_failed_.empty()) return publish_gauges();
      for (auto& e : effects) std::visit([this](auto& x) { apply(x); }, e);
      for (const auto slot : std::exchange(pending_failed_, {})) core_->entity_terminated(slot, now());
    }
  }

  void apply(model::start_entity& e) { start_entity(e.slot, e.entity); }

  void apply(model::stop_entity& e) {
    if (e.slot >= entities_.size() || !entities_[e.slot]) return;
    close_door(e.slot);
    if (e.force) {
      TROUPE_LOG(log(), warning) << "sharding " << p_.type_name << ": entity " << entities_[e.slot].name()
                                 << " did not stop within the hand-off timeout; stopping it";
      stop(entities_[e.slot]);
      return;
    }
    entities_[e.slot].tell(stop_message());
  }

  void apply(model::deliver_buffered& e) {
    auto h = held_.extract(e.token);
    if (!h.empty()) deliver(e.slot, std::move(h.mapped().payload));
  }

  void apply(model::forward_buffered& e) {
    auto h = held_.extract(e.token);
    if (h.empty()) return;
    auto& held = h.mapped();
    forward_to(e.region, std::move(held.entity), std::move(held.payload));
  }

  void apply(model::drop_buffered& e) {
    auto h = held_.extract(e.token);
    if (!h.empty()) system().publish_dead_letter(std::move(h.mapped().payload), self(), model::to_string(e.reason).data());
  }

  void apply(model::send_to_coordinator& e) {
    actor_ref ref = coordinator_ref(e.node);
    if (!ref) return;  // not there (yet): the core asks again
    std::visit([&](auto& m) { ref.tell(std::move(m), self()); }, e.message);
  }

  void apply(model::send_marker& e) {
    // The same ref, hence the same connection and lane, as the messages forwarded before it.
    if (actor_ref ref = region_ref(core_->region_at(e.region))) ref.tell(e.marker, self());
  }

  void apply(model::write_remembered& e) { store_call(std::move(e)); }
  void apply(model::load_remembered& e) { store_call(std::move(e)); }

  void apply(model::shutdown_complete&) {
    TROUPE_LOG(log(), info) << "sharding " << p_.type_name << ": every shard handed off; the region stops";
    if (p_.shutdown) p_.shutdown->done();
    stop_self();
  }

  message stop_message() const {
    if (p_.settings.stop_message) {
      if (message m = p_.settings.stop_message()) return m;
    }
    return make_message(poison_pill{});
  }

  // ---- entities ----

  /// The slot of the entity actor `ref` (named after its id), if it is one of this region's.
  std::optional<std::uint32_t> slot_of(const actor_ref& ref) const {
    if (!ref) return std::nullopt;
    const auto slot = core_->slot_of(entity_id_of_actor_name(ref.name()));
    if (!slot || *slot >= entities_.size() || entities_[*slot] != ref) return std::nullopt;
    return slot;
  }

  void on_terminated(const terminated& t) {
    const auto slot = slot_of(t.actor);
    if (!slot) return;
    close_door(*slot);
    entities_[*slot] = actor_ref{};
    core_->entity_terminated(*slot, now());
    carry_out();
  }

  void on_passivate(passivate& p) {
    const auto slot = slot_of(sender());
    if (!slot) return;  // not one of its entities
    if (!core_->passivate(*slot, now())) return;
    close_door(*slot);
    entities_[*slot].tell(p.stop_message ? std::move(p.stop_message) : stop_message());
    carry_out();
  }

  // ---- the cluster ----

  void on_cluster_change() {
    auto& cl = cluster::cluster::get(system());
    const auto g = cl.latest_gossip();
    const auto oldest = cm::oldest_member(g, p_.settings.role);
    core_->set_coordinator(oldest ? std::optional<model::region_id>(oldest->unique_address()) : std::nullopt, now());
    // A node seen down or removed is done for good: its entities never start again here,
    // whatever a later view of its own side says (once this node is down, its resolver no
    // longer counts it on the losing side, which would lift the fence while the survivors
    // already run its remembered entities).
    const cluster::model::member* me = g.find(self_);
    if (me) was_member_ = true;
    if ((me && me->status() == cluster::model::member_status::down) || (!me && was_member_)) retired_ = true;
    const auto& downing = cl.settings().downing;
    partition_fenced_ = downing && me && cm::fenced_after(partition_fenced_, g, self_, *downing);
    core_->set_fenced(retired_ || partition_fenced_, now());
    carry_out();
  }

  template <class T>
  void from_coordinator(const T& m) {
    core_->receive(model::coordinator_output_message{m}, now());
    carry_out();
  }

  // The coordinator on `node` (for this node: resolved each time, since it may restart).
  actor_ref coordinator_ref(const model::region_id& node) {
    const std::string path = coordinator_path(p_.type_name);
    if (node.address == transport_->local_address()) return system().resolve(path).value_or(actor_ref{});
    auto it = coordinator_refs_.find(node);
    if (it != coordinator_refs_.end()) return it->second;
    auto ref = transport_->ref_for(node_uri(node.address) + path);
    if (!ref) return {};
    if (coordinator_refs_.size() > 64) coordinator_refs_.clear();
    return coordinator_refs_.emplace(node, *ref).first->second;
  }

  actor_ref region_ref(const model::region_id& r) {
    auto it = region_refs_.find(r);
    if (it != region_refs_.end()) return it->second;
    auto ref = transport_->ref_for(node_uri(r.address) + region_path(p_.type_name));
    if (!ref) return {};
    return region_refs_.emplace(r, *ref).first->second;
  }

  // ---- the remember-entities store ----

  void store_call(model::write_remembered w) {
    actor_ref me = self();
    const std::uint64_t request = w.request;
    auto call = std::make_shared<model::write_remembered>(w);
    store_->update(p_.type_name, w.shard, std::move(w.started), std::move(w.stopped),
                   [me, request, call](std::optional<std::string> error) {
                     std::optional<model::write_remembered> retry;
                     if (error) retry = *call;
                     me.tell(remembered_written{request, std::move(error), std::move(retry)});
                   });
  }

  void store_call(model::load_remembered l) {
    actor_ref me = self();
    store_->load(p_.type_name, l.shard, [me, shard = l.shard](expected<std::vector<std::string>, std::string> r) {
      me.tell(remembered_loaded{shard, std::move(r)});
    });
  }

  void on_loaded(remembered_loaded& m) {
    if (!m.entities) {
      TROUPE_LOG(log(), error) << "sharding " << p_.type_name << ": cannot load the entities of shard " << m.shard
                               << ": " << m.entities.error() << "; trying again";
      timers().start_single_timer("load-" + m.shard, retry_store{model::load_remembered{m.shard}},
                                  p_.settings.region.retry_interval);
      return;
    }
    core_->remembered_loaded(m.shard, m.entities.value(), now());
    carry_out();
  }

  void on_written(const remembered_written& m) {
    if (m.error) {
      TROUPE_LOG(log(), error) << "sharding " << p_.type_name << ": cannot record entities: " << *m.error
                               << "; trying again";
      if (m.retry)
        timers().start_single_timer("write-" + std::to_string(m.request), retry_store{*m.retry},
                                    p_.settings.region.retry_interval);
      return;
    }
    core_->remembered_written(m.request, now());
    carry_out();
  }

  // ---- queries ----

  region_state state() const {
    region_state s;
    s.type_name = p_.type_name;
    s.region = self_;
    s.proxy = p_.proxy;
    s.shards = core_->local_shards();
    s.buffered = core_->buffered_count();
    s.stats = core_->stats();
    s.unmapped = unmapped_;
    s.handed_over = door_ ? door_->handed_over() : 0;
    return s;
  }

  /// What `/metrics` shows of this region (see `sharding_gauges`).
  void publish_gauges() const {
    auto& g = *p_.gauges;
    const auto st = core_->stats();
    constexpr auto relaxed = std::memory_order_relaxed;
    g.shards.store(core_->local_shard_count(), relaxed);
    g.entities.store(core_->entity_count(), relaxed);
    g.buffered.store(core_->buffered_count(), relaxed);
    g.started.store(st.started, relaxed);
    g.passivated.store(st.passivated, relaxed);
    g.handoffs.store(st.handoffs, relaxed);
    g.dropped.store(st.dropped, relaxed);
  }

  shard_region_stats stats() const {
    shard_region_stats s;
    s.region = self_;
    for (const auto& sh : core_->local_shards()) s.shards[sh.shard] = sh.entities.size();
    return s;
  }

  region_params p_;
  std::shared_ptr<remember_entities_store> store_;
  model::region_id self_;
  bool was_member_ = false;  ///< this node has been in a view
  bool retired_ = false;     ///< and was then seen down or removed: fenced for good
  bool partition_fenced_ = false;  ///< on the losing side, until nobody is unreachable
  std::unique_ptr<model::region_core> core_;
  remote::transport* transport_ = nullptr;
  std::shared_ptr<front_door> door_;                             ///< hosting regions without an active-entity limit
  std::vector<actor_ref> entities_;                              ///< by slot
  std::vector<std::uint32_t> pending_failed_;                    ///< slots whose entity did not start
  std::unordered_map<std::uint64_t, held_message> held_;         ///< by token
  std::uint64_t next_token_ = 1;
  std::map<model::region_id, actor_ref> region_refs_;
  std::vector<actor_ref> region_refs_by_index_;  ///< region_refs_ by the core's index
  std::map<model::region_id, actor_ref> coordinator_refs_;
  std::uint64_t unmapped_ = 0;
};

}  // namespace

props region_props(region_params p) { return props::of<shard_region>(std::move(p)); }

}  // namespace troupe::sharding::detail
