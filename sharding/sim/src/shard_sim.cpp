#include "troupe/sharding/sim/shard_sim.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace troupe::sharding::sim {

using namespace std::chrono_literals;

namespace {

std::string brief(const region_id& r) { return r.address.host; }

std::string describe(const model::coordinator_input& m) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, model::register_region>) {
          std::string h;
          for (const auto& s : x.hosted) h += s + ",";
          return "register " + brief(x.region) + " hosted [" + h + "]";
        } else if constexpr (std::is_same_v<T, model::get_shard_home>) {
          return "get_shard_home " + x.shard + " from " + brief(x.region);
        } else if constexpr (std::is_same_v<T, model::shard_started>) {
          return "shard_started " + x.shard + " at " + brief(x.region);
        } else if constexpr (std::is_same_v<T, model::begin_handoff_ack>) {
          return "begin_handoff_ack " + x.shard + " from " + brief(x.region);
        } else if constexpr (std::is_same_v<T, model::shard_stopped>) {
          return "shard_stopped " + x.shard + " at " + brief(x.region);
        } else if constexpr (std::is_same_v<T, model::graceful_shutdown_request>) {
          return "graceful_shutdown_request " + brief(x.region);
        } else if constexpr (std::is_same_v<T, model::region_stopped>) {
          return "region_stopped " + brief(x.region);
        } else {
          return "assign_shard " + x.shard;
        }
      },
      m);
}

std::string describe(const model::coordinator_output_message& m) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        const std::string c = brief(x.coordinator.node) + "/" + std::to_string(x.coordinator.incarnation);
        if constexpr (std::is_same_v<T, model::register_ack>) {
          return "register_ack from " + c;
        } else if constexpr (std::is_same_v<T, model::please_register>) {
          return "please_register from " + c;
        } else if constexpr (std::is_same_v<T, model::region_set>) {
          return "region_set v" + std::to_string(x.version) + " from " + c;
        } else if constexpr (std::is_same_v<T, model::shard_home>) {
          return "shard_home " + x.shard + " at " + brief(x.region) + " from " + c;
        } else if constexpr (std::is_same_v<T, model::host_shard>) {
          return "host_shard " + x.shard + " from " + c;
        } else if constexpr (std::is_same_v<T, model::begin_handoff>) {
          return "begin_handoff " + x.shard + " owner " + brief(x.owner) + " #" + std::to_string(x.id) + " from " + c;
        } else if constexpr (std::is_same_v<T, model::graceful_shutdown_ack>) {
          return "graceful_shutdown_ack from " + c;
        } else {
          std::string f;
          for (const auto& r : x.flush_from) f += brief(r) + ",";
          return "handoff " + x.shard + " #" + std::to_string(x.id) + " flush [" + f + "] from " + c;
        }
      },
      m);
}

// Names by variant index, for protocol_messages_by_kind.
constexpr std::array<std::string_view, std::variant_size_v<model::coordinator_input>> input_kinds{
    "register_region", "get_shard_home",           "shard_started", "begin_handoff_ack",
    "shard_stopped",   "graceful_shutdown_request", "region_stopped", "assign_shard"};
constexpr std::array<std::string_view, std::variant_size_v<model::coordinator_output_message>> output_kinds{
    "register_ack", "please_register", "region_set", "shard_home",
    "host_shard",   "begin_handoff",   "handoff",    "graceful_shutdown_ack"};

}  // namespace

struct shard_sim::node {
  struct held {
    std::string entity;
    std::uint32_t sender = 0;
    std::uint64_t seq = 0;
  };
  struct entity {
    std::string id;
    bool stopping = false;
  };
  region_id id;
  std::uint32_t index = 0;
  bool proxy = false;
  bool running = true;   ///< false once crashed or gone after leaving
  bool member = true;    ///< false once removed from the cluster
  bool leaving = false;  ///< its region stopped after handing off its shards; leaving the cluster
  bool unreachable = false;
  std::unique_ptr<model::region_core> core;
  std::uint64_t next_token = 1;
  std::unordered_map<std::uint64_t, held> tokens;
  std::map<std::uint32_t, entity> entities;  ///< by slot
  std::set<model::shard_id> last_local;      ///< the core's local shards at the last check
};

shard_sim::shard_sim(shard_sim_settings settings)
    : settings_(std::move(settings)),
      rng_(settings_.seed),
      to_coordinator_by_kind_(input_kinds.size()),
      from_coordinator_by_kind_(output_kinds.size()) {}
shard_sim::~shard_sim() = default;

// ---------------------------------------------------------------------------------------
// Events and the network

namespace {

// The heap's order: the earliest event on top, ties in scheduling order.
template <class Event>
bool later(const Event& a, const Event& b) {
  return a.at != b.at ? a.at > b.at : a.seq > b.seq;
}

}  // namespace

void shard_sim::schedule(nanoseconds at, std::function<void()> fn) {
  events_.push_back({std::max(at, now_), next_event_++, std::move(fn)});
  std::push_heap(events_.begin(), events_.end(), later<event>);
}

// Runs the earliest event if it is due by `until`; false if none is.
bool shard_sim::run_next(nanoseconds until) {
  if (events_.empty() || events_.front().at > until) return false;
  std::pop_heap(events_.begin(), events_.end(), later<event>);
  event e = std::move(events_.back());
  events_.pop_back();
  now_ = e.at;
  ++events_run_;
  e.fn();
  return true;
}

// To the incarnation that runs at `to`'s address now (its core refuses what was meant for
// an earlier one), over the FIFO channel of the two nodes; lost if either does not run.
template <class Deliver>
void shard_sim::send(const node& from, const region_id& to, Deliver&& deliver, bool protocol) {
  node* dst = at_address(to);
  if (!dst || !from.running) return;
  if (protocol) ++protocol_messages_;
  // One FIFO channel per ordered pair of nodes, as the transport's lane.
  nanoseconds delay = settings_.latency;
  if (settings_.jitter.count() > 0)
    delay += nanoseconds{std::uniform_int_distribution<std::int64_t>(0, settings_.jitter.count())(rng_)};
  auto& tail = channel_tail_[(std::uint64_t{from.index} << 32) | dst->index];
  const nanoseconds at = std::max(now_ + delay, tail + 1ns);
  tail = at;
  const std::uint32_t target = dst->index;
  schedule(at, [this, target, deliver = std::forward<Deliver>(deliver)] {
    node& n = *nodes_[target];
    if (!n.running) return;  // lost with the node
    deliver(n);
  });
}

void shard_sim::run_until(nanoseconds until) {
  while (run_next(until)) {
  }
  now_ = std::max(now_, until);
}

bool shard_sim::run_until(const std::function<bool()>& done, nanoseconds deadline) {
  if (done()) return true;
  while (run_next(deadline))
    if (done()) return true;
  now_ = std::max(now_, deadline);
  return done();
}

shard_sim::node* shard_sim::find(const region_id& r) {
  const auto it = by_id_.find(r);
  return it == by_id_.end() ? nullptr : nodes_[it->second].get();
}

const shard_sim::node* shard_sim::find(const region_id& r) const {
  const auto it = by_id_.find(r);
  return it == by_id_.end() ? nullptr : nodes_[it->second].get();
}

shard_sim::node* shard_sim::at_address(const region_id& r) {
  const auto it = by_address_.find(r.address);
  return it == by_address_.end() ? nullptr : nodes_[it->second].get();
}

model::shard_id shard_sim::shard_of(const std::string& entity) const {
  return model::default_shard_of(entity, settings_.number_of_shards);
}

// ---------------------------------------------------------------------------------------
// Nodes

shard_sim::node& shard_sim::add_node(const cluster::model::address& at, bool proxy) {
  auto n = std::make_unique<node>();
  n->index = static_cast<std::uint32_t>(nodes_.size());
  n->id = region_id{at, rng_() | 1};
  n->proxy = proxy;
  auto rs = settings_.region;
  rs.proxy = proxy;
  n->core = std::make_unique<model::region_core>(rs, n->id);
  node& ref = *n;
  nodes_.push_back(std::move(n));
  by_id_[ref.id] = ref.index;
  by_address_[ref.id.address] = ref.index;
  return ref;
}

region_id shard_sim::start_node(bool proxy) {
  const auto i = nodes_.size();
  node& n = add_node({"sim", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), 2552}, proxy);
  start_ticks(n);
  update_views();
  return n.id;
}

region_id shard_sim::restart_node(const region_id& old) {
  node* o = find(old);
  assert(o && !o->running);
  if (o->member) {
    o->member = false;
    if (coordinator_ && coordinator_node_ == o->id) coordinator_.reset();
  }
  node& n = add_node(o->id.address, o->proxy);
  start_ticks(n);
  update_views();
  return n.id;
}

void shard_sim::start_ticks(node& n) {
  const auto retry = settings_.region.retry_interval;
  // Periodic timers start at a random phase, as real ones do.
  const auto phase = [&](nanoseconds every) {
    return nanoseconds{std::uniform_int_distribution<std::int64_t>(1, every.count())(rng_)};
  };
  region_timer(n.index, model::region_tick::retry, retry, phase(retry));
  if (settings_.region.idle_timeout) {
    const auto half = *settings_.region.idle_timeout / 2;
    region_timer(n.index, model::region_tick::passivation, half, phase(half));
  }
}

// One periodic timer of node i's region: each firing schedules the next, until the node
// stops. The event holds only values, so nothing outlives the simulation.
void shard_sim::region_timer(std::uint32_t i, model::region_tick t, nanoseconds every, nanoseconds in) {
  schedule(now_ + in, [this, i, t, every] {
    node& m = *nodes_[i];
    if (!m.running || m.leaving) return;
    m.core->on_tick(t, now_);
    carry_out(m);
    check(m);
    region_timer(i, t, every, every);
  });
}

void shard_sim::leave(const region_id& r) {
  node* n = find(r);
  if (!n || !n->running || n->leaving) return;
  n->core->begin_shutdown(now_);
  carry_out(*n);
  check(*n);
}

void shard_sim::crash(const region_id& r) {
  node* n = find(r);
  if (!n || !n->running) return;
  n->running = false;
  if (!n->last_local.empty()) {
    for (const auto& s : n->last_local)
      if (const auto it = local_at_.find(s); it != local_at_.end() && it->second == r) local_at_.erase(it);
    n->last_local.clear();
    ++placement_changes_;
    last_placement_change_ = now_;
  }
  if (coordinator_ && coordinator_node_ == r) coordinator_.reset();
  const std::uint32_t i = n->index;
  schedule(now_ + std::min(settings_.failure_detection, nanoseconds{5s}), [this, i] {
    nodes_[i]->unreachable = true;
    update_views();
  });
  schedule(now_ + settings_.failure_detection, [this, i] {
    nodes_[i]->member = false;
    update_views();
  });
}

void shard_sim::tell(const region_id& via, const std::string& entity, std::uint32_t sender, std::uint64_t seq) {
  sent_[{entity, sender}].insert(seq);
  node* n = find(via);
  if (!n || !n->running) {
    ++dead_letters_;
    return;
  }
  process(*n, entity, sender, seq, false);
}

// ---------------------------------------------------------------------------------------
// The region actor's part

void shard_sim::process(node& n, const std::string& entity, std::uint32_t sender, std::uint64_t seq,
                        bool from_region) {
  if (n.leaving) {  // its region has stopped: dead letters, as for a stopped actor
    ++dead_letters_;
    return;
  }
  const auto shard = shard_of(entity);
  const auto d = n.core->route(entity, shard, from_region);
  if (settings_.trace) {
    static const char* kinds[] = {"deliver", "start", "forward", "buffer"};
    settings_.trace(std::to_string(now_.count() / 1'000'000) + " " + brief(n.id) + " route " + entity + "/" + shard +
                    " " + std::to_string(sender) + ":" + std::to_string(seq) + (from_region ? " (forwarded)" : "") +
                    " -> " + kinds[static_cast<int>(d.kind)] +
                    (d.kind == model::route_kind::forward ? " " + brief(n.core->region_at(d.region)) : ""));
  }
  carry_out(n);  // what the core decided first (a request, a passivation) goes first
  auto deliver = [&](std::uint32_t slot) {
    const auto it = n.entities.find(slot);
    if (it == n.entities.end() || it->second.id != entity || it->second.stopping)
      fail("delivered to " + entity + " in slot " + std::to_string(slot) + " at " + cluster::model::to_string(n.id) +
           ", which is not running");
    deliveries_[entity].push_back({n.id, sender, seq, now_});
  };
  switch (d.kind) {
    case model::route_kind::start:
      n.entities[d.slot] = {entity, false};
      deliver(d.slot);
      break;
    case model::route_kind::deliver:
      deliver(d.slot);
      break;
    case model::route_kind::forward: {
      const auto to = n.core->region_at(d.region);
      send(n, to, [this, entity, sender, seq](node& m) { process(m, entity, sender, seq, true); }, false);
      break;
    }
    case model::route_kind::buffer: {
      const auto token = n.next_token++;
      n.tokens.emplace(token, node::held{entity, sender, seq});
      if (!n.core->buffer(entity, shard, token, from_region)) {
        n.tokens.erase(token);
        ++dead_letters_;
      }
      break;
    }
  }
  carry_out(n);
  check(n);
}

void shard_sim::carry_out(node& n) {
  for (;;) {
    auto effects = n.core->take_effects();
    if (effects.empty()) return;
    for (auto& e : effects) {
      std::visit(
          [&](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, model::start_entity>) {
              n.entities[x.slot] = {x.entity, false};
            } else if constexpr (std::is_same_v<T, model::stop_entity>) {
              auto it = n.entities.find(x.slot);
              if (it == n.entities.end()) return;
              if (it->second.stopping && !x.force) return;
              it->second.stopping = true;
              const std::uint32_t i = n.index;
              const std::uint32_t slot = x.slot;
              const std::string id = it->second.id;
              schedule(now_ + settings_.entity_stop_delay, [this, i, slot, id] {
                node& m = *nodes_[i];
                if (!m.running) return;
                const auto e2 = m.entities.find(slot);
                if (e2 == m.entities.end() || e2->second.id != id || !e2->second.stopping) return;
                m.entities.erase(e2);
                m.core->entity_terminated(slot, now_);
                carry_out(m);
                check(m);
              });
            } else if constexpr (std::is_same_v<T, model::deliver_buffered>) {
              auto h = n.tokens.extract(x.token);
              if (h.empty()) return fail("delivered an unknown token");
              if (settings_.trace)
                settings_.trace(std::to_string(now_.count() / 1'000'000) + " " + brief(n.id) + " delivers buffered " +
                                h.mapped().entity + " " + std::to_string(h.mapped().sender) + ":" +
                                std::to_string(h.mapped().seq));
              const auto it = n.entities.find(x.slot);
              if (it == n.entities.end() || it->second.id != h.mapped().entity || it->second.stopping)
                fail("delivered a buffered message to " + h.mapped().entity + ", which is not running");
              deliveries_[h.mapped().entity].push_back({n.id, h.mapped().sender, h.mapped().seq, now_});
            } else if constexpr (std::is_same_v<T, model::forward_buffered>) {
              auto h = n.tokens.extract(x.token);
              if (h.empty()) return fail("forwarded an unknown token");
              const auto to = n.core->region_at(x.region);
              if (settings_.trace)
                settings_.trace(std::to_string(now_.count() / 1'000'000) + " " + brief(n.id) + " forwards buffered " +
                                h.mapped().entity + " " + std::to_string(h.mapped().sender) + ":" +
                                std::to_string(h.mapped().seq) + " to " + brief(to));
              auto m = h.mapped();
              send(n, to, [this, m](node& dst) { process(dst, m.entity, m.sender, m.seq, true); }, false);
            } else if constexpr (std::is_same_v<T, model::drop_buffered>) {
              n.tokens.erase(x.token);
              ++dead_letters_;
            } else if constexpr (std::is_same_v<T, model::send_to_coordinator>) {
              to_coordinator(n, x.node, std::move(x.message));
            } else if constexpr (std::is_same_v<T, model::send_marker>) {
              const auto to = n.core->region_at(x.region);
              const auto sent = protocol_messages_;
              send(n, to,
                   [this, marker = std::move(x.marker)](node& dst) {
                     if (dst.leaving) return;
                     if (settings_.trace)
                       settings_.trace(std::to_string(now_.count() / 1'000'000) + " " + brief(dst.id) + " <- marker " +
                                       marker.shard + " #" + std::to_string(marker.id) + " from " + brief(marker.from));
                     dst.core->receive(marker, now_);
                     carry_out(dst);
                     check(dst);
                   },
                   true);
              markers_sent_ += protocol_messages_ - sent;
            } else if constexpr (std::is_same_v<T, model::write_remembered>) {
              const std::uint32_t i = n.index;
              schedule(now_ + settings_.store_latency, [this, i, w = std::move(x)] {
                auto& set = store_[w.shard];
                set.insert(w.started.begin(), w.started.end());
                for (const auto& e2 : w.stopped) set.erase(e2);
                node& m = *nodes_[i];
                if (!m.running) return;
                m.core->remembered_written(w.request, now_);
                carry_out(m);
                check(m);
              });
            } else if constexpr (std::is_same_v<T, model::load_remembered>) {
              const std::uint32_t i = n.index;
              schedule(now_ + settings_.store_latency, [this, i, s = x.shard] {
                node& m = *nodes_[i];
                if (!m.running) return;
                const auto& set = store_[s];
                m.core->remembered_loaded(s, std::vector<model::entity_id>(set.begin(), set.end()), now_);
                carry_out(m);
                check(m);
              });
            } else if constexpr (std::is_same_v<T, model::shutdown_complete>) {
              n.leaving = true;
              update_views();
              const std::uint32_t i = n.index;
              schedule(now_ + settings_.leave_duration, [this, i] {
                node& m = *nodes_[i];
                m.running = false;
                m.member = false;
                if (coordinator_ && coordinator_node_ == m.id) coordinator_.reset();
                update_views();
              });
            }
          },
          e);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The coordinator, where the singleton would run it

void shard_sim::to_coordinator(const node& from, const region_id& coordinator_node, model::coordinator_input m) {
  const auto kind = m.index();
  const auto sent = protocol_messages_;
  send(from, coordinator_node,
       [this, m = std::move(m)](node& dst) {
         if (!coordinator_ || coordinator_node_ != dst.id) return;  // nothing lives at that path now
         if (settings_.trace) settings_.trace(std::to_string(now_.count() / 1'000'000) + " coordinator <- " + describe(m));
         coordinator_->receive(m, now_);
         flush_coordinator();
       },
       true);
  to_coordinator_by_kind_[kind] += protocol_messages_ - sent;
}

void shard_sim::check_table() {
  if (!coordinator_) return;
  ++table_checks_;
  const auto& st = coordinator_->stats();
  const auto& t = coordinator_->table();
  checked_table_ = table_figures{coordinator_->self().incarnation, st.allocations, st.handoffs_completed, st.conflicts,
                                 t.shard_count(), t.regions().size(), t.proxies().size()};
  if (auto why = t.invariant_violation()) fail("coordinator table: " + *why);
}

void shard_sim::flush_coordinator() {
  if (!coordinator_) return;
  if (settings_.check_invariants) {
    if (settings_.table == table_check::every_step) {
      check_table();
    } else {
      const auto& st = coordinator_->stats();
      const auto& t = coordinator_->table();
      const table_figures now{coordinator_->self().incarnation, st.allocations, st.handoffs_completed, st.conflicts,
                              t.shard_count(), t.regions().size(), t.proxies().size()};
      if (!checked_table_ || !(*checked_table_ == now)) check_table();
    }
  }
  const node* from = find(coordinator_node_);  // runs: the coordinator stops with its node
  assert(from);
  auto deliver = [this](node& dst, const model::coordinator_output_message& m) {
    if (dst.leaving) return;
    if (settings_.trace)
      settings_.trace(std::to_string(now_.count() / 1'000'000) + " " + brief(dst.id) + " <- " + describe(m));
    dst.core->receive(m, now_);
    carry_out(dst);
    check(dst);
  };
  // A region set goes to every region at once and names them all (O(regions) each): one
  // copy travels, with `to` cleared, which the core reads as "for this incarnation". An
  // incarnation it was not meant for gets it with its `to`, and refuses it.
  std::shared_ptr<const model::coordinator_output_message> shared_set;
  for (auto& out : coordinator_->take_outbox()) {
    const auto kind = out.message.index();
    const auto sent = protocol_messages_;
    if (const auto* set = std::get_if<model::region_set>(&out.message)) {
      const auto* last = shared_set ? std::get_if<model::region_set>(shared_set.get()) : nullptr;
      if (!last || last->coordinator != set->coordinator || last->version != set->version ||
          last->regions != set->regions) {
        auto copy = *set;
        copy.to = region_id{};
        shared_set = std::make_shared<const model::coordinator_output_message>(std::move(copy));
      }
      send(*from, out.to,
           [deliver, m = shared_set, to = set->to](node& dst) {
             if (to == dst.id) return deliver(dst, *m);
             auto addressed = std::get<model::region_set>(*m);
             addressed.to = to;
             deliver(dst, model::coordinator_output_message{std::move(addressed)});
           },
           true);
    } else {
      send(*from, out.to, [deliver, m = std::move(out.message)](node& dst) { deliver(dst, m); }, true);
    }
    from_coordinator_by_kind_[kind] += protocol_messages_ - sent;
  }
}

void shard_sim::update_views() {
  place_coordinator();
  model::member_view v;
  for (const auto& n : nodes_) {
    if (!n->member) continue;
    v.members.insert(n->id);
    if (!n->leaving) v.up.insert(n->id);
    if (n->unreachable) v.unreachable.insert(n->id);
  }
  if (coordinator_) {
    coordinator_->on_view(v, now_);
    flush_coordinator();
  }
  std::optional<region_id> oldest;
  for (const auto& n : nodes_)
    if (n->member && !n->proxy) {
      oldest = n->id;
      break;
    }
  for (auto& n : nodes_) {
    if (!n->running) continue;
    n->core->set_coordinator(oldest, now_);
    carry_out(*n);
    check(*n);
  }
}

void shard_sim::place_coordinator() {
  const node* oldest = nullptr;
  for (const auto& n : nodes_)
    if (n->member && !n->proxy) {
      oldest = n.get();
      break;
    }
  if (!oldest || !oldest->running) {
    coordinator_.reset();  // its node crashed and is not removed yet: nothing runs it
    return;
  }
  if (coordinator_ && coordinator_node_ == oldest->id) return;
  coordinator_node_ = oldest->id;
  auto strategy = model::make_strategy(settings_.strategy, settings_.virtual_nodes, settings_.limits);
  coordinator_ = std::make_unique<model::coordinator_core>(
      settings_.coordinator, model::coordinator_id{oldest->id, ++coordinator_epoch_}, std::move(strategy), now_);
  // Its timers.
  const std::uint64_t epoch = coordinator_epoch_;
  coordinator_timer(epoch, model::coordinator_tick::rebalance, settings_.coordinator.rebalance_interval);
  coordinator_timer(epoch, model::coordinator_tick::timers, 1s);
}

// One periodic timer of the coordinator of `epoch`; it ends when that coordinator does.
void shard_sim::coordinator_timer(std::uint64_t epoch, model::coordinator_tick t, nanoseconds every) {
  schedule(now_ + every, [this, epoch, t, every] {
    if (!coordinator_ || coordinator_->self().incarnation != epoch) return;
    const auto started = coordinator_->stats().rebalances_started;
    coordinator_->on_tick(t, now_);
    if (const auto more = coordinator_->stats().rebalances_started - started; more > 0)
      rounds_.push_back({now_, static_cast<std::size_t>(more)});
    flush_coordinator();
    coordinator_timer(epoch, t, every);
  });
}

// ---------------------------------------------------------------------------------------
// Checks and observations

void shard_sim::fail(const std::string& what) {
  if (!violation_) violation_ = "at " + std::to_string(now_.count() / 1'000'000) + " ms: " + what;
}

// Compares the node's local shards with those at its last check: a shard that became local
// here must not be local anywhere else.
void shard_sim::check(node& n) {
  const auto& after = n.core->local_shard_ids();
  if (after == n.last_local) return;
  ++placement_changes_;
  last_placement_change_ = now_;
  for (const auto& s : n.last_local)
    if (!after.contains(s)) {
      const auto it = local_at_.find(s);
      if (it != local_at_.end() && it->second == n.id) local_at_.erase(it);
    }
  for (const auto& s : after) {
    if (n.last_local.contains(s)) continue;
    const auto [it, added] = local_at_.try_emplace(s, n.id);
    if (!added && it->second != n.id && settings_.check_invariants)
      fail("shard " + s + " is local at " + cluster::model::to_string(n.id) + " while still local at " +
           cluster::model::to_string(it->second));
    it->second = n.id;
    if (!ever_hosted_.insert(s).second) ++moved_;
  }
  n.last_local = after;
}

const model::region_core* shard_sim::region(const region_id& r) const {
  const node* n = find(r);
  return n && n->running && !n->leaving ? n->core.get() : nullptr;
}

std::vector<region_id> shard_sim::running_nodes() const {
  std::vector<region_id> out;
  for (const auto& n : nodes_)
    if (n->running && !n->leaving) out.push_back(n->id);
  return out;
}

std::vector<region_id> shard_sim::member_nodes() const {
  std::vector<region_id> out;
  for (const auto& n : nodes_)
    if (n->member) out.push_back(n->id);
  return out;
}

bool shard_sim::is_member(const region_id& r) const {
  const node* n = find(r);
  return n && n->member;
}

std::optional<region_id> shard_sim::local_at(const model::shard_id& shard) const {
  const auto it = local_at_.find(shard);
  if (it == local_at_.end()) return std::nullopt;
  return it->second;
}

std::vector<model::entity_id> shard_sim::entity_per_shard() const {
  std::vector<model::entity_id> out(settings_.number_of_shards);
  std::uint32_t found = 0;
  for (std::uint64_t k = 0; found < settings_.number_of_shards; ++k) {
    std::string e = "e" + std::to_string(k);
    auto& slot = out[std::stoul(shard_of(e))];
    if (slot.empty()) {
      slot = std::move(e);
      ++found;
    }
  }
  return out;
}

std::map<std::string, std::uint64_t> shard_sim::protocol_messages_by_kind() const {
  std::map<std::string, std::uint64_t> out;
  for (std::size_t i = 0; i < input_kinds.size(); ++i)
    if (to_coordinator_by_kind_[i] > 0) out[std::string{input_kinds[i]}] = to_coordinator_by_kind_[i];
  for (std::size_t i = 0; i < output_kinds.size(); ++i)
    if (from_coordinator_by_kind_[i] > 0) out[std::string{output_kinds[i]}] = from_coordinator_by_kind_[i];
  if (markers_sent_ > 0) out["handoff_marker"] = markers_sent_;
  return out;
}

std::map<region_id, std::set<model::shard_id>> shard_sim::hosted() const {
  std::map<region_id, std::set<model::shard_id>> out;
  for (const auto& n : nodes_)
    if (n->running && !n->leaving && !n->proxy) out[n->id] = n->core->local_shard_ids();
  return out;
}

delivery_report shard_sim::check_deliveries() const {
  delivery_report r;
  r.dead_letters = dead_letters_;
  for (const auto& [key, seqs] : sent_) {
    r.sent += seqs.size();
    std::set<std::uint64_t> seen;
    std::uint64_t highest = 0;
    const auto it = deliveries_.find(key.first);
    if (it != deliveries_.end()) {
      for (const auto& d : it->second) {
        if (d.sender != key.second) continue;
        if (!seen.insert(d.seq).second) ++r.duplicated;
        if (d.seq < highest) ++r.reordered;
        highest = std::max(highest, d.seq);
      }
    }
    for (const auto s : seqs) (seen.contains(s) ? r.delivered : r.lost) += 1;
  }
  return r;
}

}  // namespace troupe::sharding::sim
