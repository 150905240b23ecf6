#include "troupe/sharding/model/region_core.hpp"

#include "troupe/sharding/model/id_table.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

namespace troupe::sharding::model {

std::string_view to_string(stop_cause c) noexcept {
  switch (c) {
    case stop_cause::idle: return "idle";
    case stop_cause::limit: return "limit";
    case stop_cause::requested: return "requested";
    case stop_cause::handoff: return "handoff";
    case stop_cause::fence: return "fence";
  }
  return "?";
}

std::string_view to_string(drop_reason r) noexcept {
  switch (r) {
    case drop_reason::buffer_full: return "the shard region's buffer is full";
    case drop_reason::proxy_host: return "a proxy region cannot host shards";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------
// State

struct region_core::entity {
  enum class state : std::uint8_t {
    starting,  ///< remember-entities: waiting for the store to record it
    running,
    stopping,  ///< sent its stop message (or stopped by force); waiting for it to end
    backoff,   ///< remember-entities: stopped by itself, restarts at `restart_at`
  };
  entity_id id;
  shard* home = nullptr;
  std::uint32_t slot = 0;
  state st = state::running;
  stop_cause cause = stop_cause::idle;
  std::uint32_t last_epoch = 0;
  entity* prev = nullptr;  ///< LRU links (running entities, with an active-entity limit)
  entity* next = nullptr;
  std::vector<std::pair<std::uint64_t, bool>> waiting;  ///< (token, from a region) while not running
  nanoseconds restart_at{0};
  bool in_use = false;  ///< the record holds an entity (else its slot is free)
};

// The entity records by slot, indexed by entity id (open addressing; see id_table.hpp).
class region_core::entity_table : public id_table<entity> {};

struct region_core::shard {
  enum class where_t : std::uint8_t { unknown, remote, local };
  enum class phase_t : std::uint8_t {
    active,
    handoff_pending,  ///< begin_handoff seen: local senders wait, forwarded messages go in
    stopping,         ///< markers in: its entities are stopping
  };
  const shard_id* id = nullptr;  ///< the map's key
  where_t where = where_t::unknown;
  phase_t phase = phase_t::active;
  bool loading = false;       ///< remember-entities: its entities are being read
  bool asked = false;         ///< get_shard_home sent since the home became unknown
  std::uint32_t region = 0;   ///< remote: the home's index
  std::size_t entities = 0;   ///< local: entity records of this shard
  std::vector<waiting_message> waiting;  ///< messages held at the shard, in arrival order
  /// How many of `waiting` came from local senders [0] and from other regions [1]. A
  /// sender's messages all take one path, so only its own class must keep its order.
  std::array<std::size_t, 2> held{};
  // The hand-off of a local shard.
  coordinator_id handoff_coordinator;
  std::uint64_t handoff_id = 0;
  bool handoff_ordered = false;  ///< `handoff` arrived: stop once the markers are in
  std::set<region_id> markers_missing;
  nanoseconds deadline{0};
  bool forced = false;
  // Remember-entities writes: one in flight, the next batch collecting.
  std::vector<entity_id> pending_started;
  std::vector<entity_id> pending_stopped;
  std::uint64_t write_in_flight = 0;
  std::vector<entity_id> in_flight_started;
};

std::size_t region_core::string_hash::operator()(std::string_view s) const noexcept {
  return std::hash<std::string_view>{}(s);
}

region_core::region_core(region_settings settings, region_id self)
    : settings_(settings), self_(std::move(self)), entities_(std::make_unique<entity_table>()) {
  self_index_ = region_index(self_);
}

region_core::~region_core() = default;

std::uint32_t region_core::region_index(const region_id& r) {
  const auto [it, added] = region_indices_.try_emplace(r, static_cast<std::uint32_t>(regions_.size()));
  if (added) regions_.push_back(r);
  return it->second;
}

bool region_core::accepts(const shard& sh, bool from_region) const noexcept {
  if (sh.where != shard::where_t::local || sh.loading || fenced_) return false;
  return sh.phase == shard::phase_t::active || (sh.phase == shard::phase_t::handoff_pending && from_region);
}

region_core::shard& region_core::shard_for(std::string_view s) {
  auto it = shards_.find(s);
  if (it == shards_.end()) {
    it = shards_.emplace(shard_id(s), shard{}).first;
    it->second.id = &it->first;
  }
  return it->second;
}

const entity_id* region_core::entity_at(std::uint32_t slot) const {
  const entity* en = entities_->at(slot);
  return en ? &en->id : nullptr;
}

std::optional<std::uint32_t> region_core::slot_of(std::string_view e) const noexcept {
  const entity* en = entities_->find(e);
  if (!en) return std::nullopt;
  return en->slot;
}

std::size_t region_core::entity_count() const noexcept { return entities_->size(); }

// ---------------------------------------------------------------------------------------
// Messages for entities

std::optional<std::uint32_t> region_core::running_slot(std::string_view e, bool from_region) noexcept {
  entity* const found = entities_->find(e);
  if (!found) return std::nullopt;
  entity& en = *found;
  if (en.st != entity::state::running || !accepts(*en.home, from_region) || en.home->held[from_region] != 0)
    return std::nullopt;
  touch(en);
  return en.slot;
}

std::optional<std::uint32_t> region_core::deliverable_slot(std::string_view e, bool from_region) const noexcept {
  const entity* const found = std::as_const(*entities_).find(e);
  if (!found || found->st != entity::state::running || !found->waiting.empty() || !accepts(*found->home, from_region) ||
      found->home->held[from_region] != 0)
    return std::nullopt;
  return found->slot;
}

route_decision region_core::route(std::string_view e, std::string_view s, bool from_region) {
  // 1. The hot path: the entity runs here and its shard takes this sender's messages.
  if (entity* const found = entities_->find(e)) {
    entity& en = *found;
    if (en.st == entity::state::running && accepts(*en.home, from_region) && en.home->held[from_region] == 0) {
      touch(en);
      return {route_kind::deliver, en.slot, 0};
    }
    return {route_kind::buffer, 0, 0};
  }
  // 2. The shard's home.
  shard& sh = shard_for(s);
  switch (sh.where) {
    case shard::where_t::remote:
      ++stats_.forwarded;
      return {route_kind::forward, 0, sh.region};
    case shard::where_t::unknown:
      request_home(sh);
      return {route_kind::buffer, 0, 0};
    case shard::where_t::local:
      break;
  }
  if (!accepts(sh, from_region) || sh.held[from_region] != 0 || settings_.remember_entities)
    return {route_kind::buffer, 0, 0};  // with remember-entities, `buffer` records the new entity first
  // 3. A new entity, started here and now.
  entity& en = new_entity(sh, e);
  en.st = entity::state::running;
  ++running_;
  touch(en);
  ++stats_.started;
  passivate_for_limit(&en);
  return {route_kind::start, en.slot, 0};
}

bool region_core::buffer(std::string_view e, std::string_view s, std::uint64_t token, bool from_region) {
  if (buffered_total_ >= settings_.buffer_size) {
    ++stats_.dropped;
    return false;
  }
  ++stats_.buffered;
  shard& sh = shard_for(s);
  if (sh.where == shard::where_t::remote) {  // cannot happen right after route; stay correct anyway
    ++stats_.forwarded;
    effects_.push_back(forward_buffered{token, sh.region});
    return true;
  }
  if (sh.where == shard::where_t::unknown || !accepts(sh, from_region) || sh.held[from_region] != 0) {
    hold(sh, {token, entity_id(e), from_region});
    ++buffered_total_;
    if (sh.where == shard::where_t::unknown) request_home(sh);
    return true;
  }
  ++buffered_total_;  // deliver_or_keep accounts for what it delivers at once
  deliver_or_keep(sh, e, token, from_region);
  return true;
}

region_core::entity& region_core::new_entity(shard& sh, std::string_view e) {
  entity& en = entities_->add(e);
  en.home = &sh;
  en.last_epoch = epoch_;
  ++sh.entities;
  return en;
}

// The shard accepts the message: give it to the entity, starting it if needed, or keep it
// with the entity while that starts or stops. `token` is counted in `buffered_total_`.
void region_core::deliver_or_keep(shard& sh, std::string_view e, std::uint64_t token, bool from_region) {
  entity* const found = entities_->find(e);
  if (!found) {
    entity& en = new_entity(sh, e);
    if (settings_.remember_entities) {
      en.st = entity::state::starting;
      en.waiting.emplace_back(token, from_region);
      sh.pending_started.push_back(en.id);
      write_if_needed(sh);
      return;
    }
    effects_.push_back(start_entity{en.slot, en.id, *sh.id});
    en.st = entity::state::running;
    ++running_;
    ++stats_.started;
    touch(en);
    passivate_for_limit(&en);
    --buffered_total_;
    effects_.push_back(deliver_buffered{token, en.slot});
    return;
  }
  entity& en = *found;
  if (en.st == entity::state::running) {
    touch(en);
    --buffered_total_;
    effects_.push_back(deliver_buffered{token, en.slot});
  } else {
    en.waiting.emplace_back(token, from_region);
  }
}

// Starts (again) an entity that has a record, delivering what waited for it in order; in a
// shard that is stopping, the stop message follows at once.
void region_core::run(entity& en, shard& sh) {
  effects_.push_back(start_entity{en.slot, en.id, *sh.id});
  en.st = entity::state::running;
  ++running_;
  ++stats_.started;
  touch(en);
  for (const auto& [token, from_region] : en.waiting) {
    --buffered_total_;
    effects_.push_back(deliver_buffered{token, en.slot});
  }
  en.waiting.clear();
  if (sh.phase == shard::phase_t::stopping)
    stop(en, stop_cause::handoff);
  else
    passivate_for_limit(&en);
}

void region_core::hold(shard& sh, waiting_message w) {
  ++sh.held[w.from_region];
  sh.waiting.push_back(std::move(w));
}

void region_core::flush_waiting(shard& sh) {
  if (sh.waiting.empty()) return;
  std::vector<waiting_message> pending;
  pending.swap(sh.waiting);
  sh.held = {};
  for (auto& w : pending) {
    if (sh.where == shard::where_t::remote) {
      --buffered_total_;
      ++stats_.forwarded;
      effects_.push_back(forward_buffered{w.token, sh.region});
    } else if (sh.where == shard::where_t::local && sh.held[w.from_region] == 0 && accepts(sh, w.from_region)) {
      deliver_or_keep(sh, w.entity, w.token, w.from_region);
    } else {
      hold(sh, std::move(w));  // still waiting, after any of its class kept before it
    }
  }
}

// ---------------------------------------------------------------------------------------
// Homes

void region_core::request_home(shard& sh) {
  if (sh.asked || !coordinator_) return;
  sh.asked = true;
  to_coordinator(get_shard_home{self_, *sh.id});
}

void region_core::make_local(shard& sh) {
  sh.where = shard::where_t::local;
  local_.insert(*sh.id);
  sh.phase = shard::phase_t::active;
  sh.asked = false;
  sh.markers_missing.clear();
  sh.handoff_ordered = false;
  sh.forced = false;
  if (settings_.remember_entities) {
    sh.loading = true;
    effects_.push_back(load_remembered{*sh.id});
    return;
  }
  loaded(sh);
}

void region_core::loaded(shard& sh) {
  sh.loading = false;
  to_coordinator(shard_started{self_, *sh.id});
  flush_waiting(sh);
  maybe_start_stopping(sh, now_);
}

void region_core::make_remote(shard& sh, std::uint32_t region) {
  if (sh.where == shard::where_t::local) local_.erase(*sh.id);
  sh.where = shard::where_t::remote;
  sh.region = region;
  sh.asked = false;
  flush_waiting(sh);
}

void region_core::make_unknown(shard& sh) {
  if (sh.where == shard::where_t::local) local_.erase(*sh.id);
  sh.where = shard::where_t::unknown;
  sh.phase = shard::phase_t::active;
  sh.asked = false;
  sh.loading = false;
  if (!sh.waiting.empty()) request_home(sh);
}

// ---------------------------------------------------------------------------------------
// The coordinator

void region_core::set_coordinator(const std::optional<region_id>& node, nanoseconds now) {
  now_ = now;
  if (node == coordinator_node_) return;
  coordinator_node_ = node;
  coordinator_.reset();
  shutdown_acked_ = false;  // the new coordinator must say it again
  if (node && !shutdown_done_) send_register(now);
}

void region_core::send_register(nanoseconds now) {
  last_register_ = now;
  register_region m;
  m.region = self_;
  m.proxy = settings_.proxy;
  for (const auto& [id, sh] : shards_) {
    if (sh.where == shard::where_t::local && sh.phase != shard::phase_t::stopping)
      m.hosted.push_back(id);
    else if (sh.where == shard::where_t::remote)
      m.known_homes.push_back({id, regions_[sh.region]});
  }
  std::sort(m.hosted.begin(), m.hosted.end());
  std::sort(m.known_homes.begin(), m.known_homes.end(),
            [](const shard_location& a, const shard_location& b) { return a.shard < b.shard; });
  m.regions_version = regions_version_;
  m.known_regions = known_regions_;
  if (coordinator_node_) effects_.push_back(send_to_coordinator{*coordinator_node_, std::move(m)});
}

void region_core::to_coordinator(coordinator_input m) {
  if (coordinator_node_) effects_.push_back(send_to_coordinator{*coordinator_node_, std::move(m)});
}

bool region_core::accept(const coordinator_id& c) {
  if (coordinator_ && *coordinator_ == c) return true;
  ++stats_.rejected;
  return false;
}

void region_core::receive(const coordinator_output_message& m, nanoseconds now) {
  now_ = now;
  const region_id& to = std::visit([](const auto& x) -> const region_id& { return x.to; }, m);
  if (to != region_id{} && to != self_) {
    ++stats_.rejected;  // for an earlier incarnation of this node
    return;
  }
  std::visit(
      [&](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, register_ack>) {
          on_register_ack(msg);
        } else if constexpr (std::is_same_v<T, please_register>) {
          if (coordinator_node_ && msg.coordinator.node == *coordinator_node_ && !shutdown_done_) {
            coordinator_.reset();
            send_register(now);
          }
        } else if constexpr (std::is_same_v<T, region_set>) {
          if (accept(msg.coordinator)) on_region_set(msg);
        } else if constexpr (std::is_same_v<T, shard_home>) {
          if (accept(msg.coordinator)) on_shard_home(msg);
        } else if constexpr (std::is_same_v<T, host_shard>) {
          if (accept(msg.coordinator)) on_host(msg.shard);
        } else if constexpr (std::is_same_v<T, begin_handoff>) {
          if (accept(msg.coordinator)) on_begin_handoff(msg);
        } else if constexpr (std::is_same_v<T, handoff>) {
          if (accept(msg.coordinator)) on_handoff(msg, now);
        } else if constexpr (std::is_same_v<T, graceful_shutdown_ack>) {
          if (accept(msg.coordinator) && shutting_down_) shutdown_acked_ = true;
        }
      },
      m);
  check_shutdown();
}

void region_core::on_register_ack(const register_ack& m) {
  if (!coordinator_node_ || m.coordinator.node != *coordinator_node_) {
    ++stats_.rejected;
    return;
  }
  coordinator_ = m.coordinator;
  // 1. A hand-off announced by another coordinator will not be finished by this one.
  if (last_acked_ && *last_acked_ != m.coordinator) abandon_handoffs();
  last_acked_ = m.coordinator;
  // 2. Ask again for every shard whose messages wait for a home.
  for (auto& [id, sh] : shards_) {
    if (sh.where == shard::where_t::unknown) {
      sh.asked = false;
      if (!sh.waiting.empty()) request_home(sh);
    }
  }
  if (shutting_down_ && !shutdown_done_) to_coordinator(graceful_shutdown_request{self_});
}

void region_core::on_region_set(const region_set& m) {
  if (m.version <= regions_version_) return;
  regions_version_ = m.version;
  known_regions_ = m.regions;
  // A region that is no longer in the set is gone: its shards have no home now.
  const std::set<region_id> alive(m.regions.begin(), m.regions.end());
  for (auto& [id, sh] : shards_)
    if (sh.where == shard::where_t::remote && !alive.contains(regions_[sh.region])) make_unknown(sh);
}

void region_core::on_host(const shard_id& s) {
  if (settings_.proxy || shutdown_done_) {
    ++stats_.rejected;
    return;
  }
  shard& sh = shard_for(s);
  if (sh.where == shard::where_t::local) {
    if (!sh.loading) to_coordinator(shard_started{self_, s});
    return;
  }
  make_local(sh);
}

void region_core::on_shard_home(const shard_home& m) {
  if (m.region == self_) {
    on_host(m.shard);
    return;
  }
  shard& sh = shard_for(m.shard);
  if (sh.where == shard::where_t::local) {
    ++stats_.rejected;  // the coordinator places a shard hosted here elsewhere: keep it
    return;
  }
  make_remote(sh, region_index(m.region));
}

void region_core::on_begin_handoff(const begin_handoff& m) {
  shard& sh = shard_for(m.shard);
  if (m.owner == self_) {
    if (sh.where == shard::where_t::local && sh.phase == shard::phase_t::active) {
      sh.phase = shard::phase_t::handoff_pending;
      sh.handoff_coordinator = m.coordinator;
      sh.handoff_id = m.id;
    }
  } else {
    // The marker follows everything this region forwarded to the owner.
    effects_.push_back(
        send_marker{region_index(m.owner), handoff_marker{self_, m.shard, m.coordinator, m.id, m.owner}});
    if (sh.where == shard::where_t::remote) make_unknown(sh);
  }
  to_coordinator(begin_handoff_ack{self_, m.shard});
}

void region_core::on_handoff(const handoff& m, nanoseconds now) {
  const auto it = shards_.find(m.shard);
  if (it == shards_.end() || it->second.where != shard::where_t::local) {
    // The table names this region the owner. Messages that other regions sent here for the
    // shard before it was hosted must reach its entities before it moves, or a sender's
    // later messages, sent straight to the new home, could overtake them: so host what
    // waits, then hand it off. With nothing waiting, it is stopped already.
    if (it == shards_.end() || it->second.waiting.empty() || settings_.proxy) {
      to_coordinator(shard_stopped{self_, m.shard});
      return;
    }
    make_local(it->second);
  }
  shard& sh = it->second;
  if (sh.phase == shard::phase_t::stopping) return;  // a resend: the stop is under way
  sh.phase = shard::phase_t::handoff_pending;
  sh.handoff_ordered = true;
  sh.handoff_coordinator = m.coordinator;
  sh.handoff_id = m.id;
  sh.deadline = now + settings_.handoff_timeout;
  sh.markers_missing.clear();
  for (const auto& r : m.flush_from)
    if (r != self_) sh.markers_missing.insert(r);
  count_marker(sh);
  maybe_start_stopping(sh, now);
}

// The owner stops the shard once ordered to, every marker is in, and (remember-entities)
// its entities are loaded, so what waited for them is delivered first.
void region_core::maybe_start_stopping(shard& sh, nanoseconds now) {
  if (sh.where == shard::where_t::local && sh.phase == shard::phase_t::handoff_pending && sh.handoff_ordered &&
      sh.markers_missing.empty() && !sh.loading)
    start_stopping(sh, now);
}

void region_core::receive(const handoff_marker& m, nanoseconds now) {
  now_ = now;
  if (m.to != region_id{} && m.to != self_) {
    ++stats_.rejected;
    return;
  }
  markers_[m.shard].insert_or_assign(marker_key{m.from, m.coordinator, m.id}, now);
  const auto it = shards_.find(m.shard);
  if (it == shards_.end()) return;
  shard& sh = it->second;
  if (sh.where != shard::where_t::local || sh.phase != shard::phase_t::handoff_pending || sh.markers_missing.empty())
    return;
  count_marker(sh);
  maybe_start_stopping(sh, now);
  check_shutdown();
}

// Strikes from `markers_missing` every region whose marker for this hand-off has arrived.
void region_core::count_marker(shard& sh) {
  const auto it = markers_.find(*sh.id);
  if (it == markers_.end()) return;
  for (const auto& [key, at] : it->second)
    if (key.coordinator == sh.handoff_coordinator && key.id == sh.handoff_id) sh.markers_missing.erase(key.from);
}

void region_core::start_stopping(shard& sh, nanoseconds now) {
  sh.phase = shard::phase_t::stopping;
  sh.markers_missing.clear();
  sh.deadline = now + settings_.handoff_timeout;
  std::vector<entity*> mine = entities_->all();
  std::erase_if(mine, [&](const entity* en) { return en->home != &sh; });
  for (entity* en : mine) {
    if (en->st == entity::state::running)
      stop(*en, stop_cause::handoff);
    else if (en->st == entity::state::backoff)
      erase_entity(*en);
  }
  maybe_finish_handoff(sh);
}

void region_core::maybe_finish_handoff(shard& sh) {
  if (sh.where != shard::where_t::local || sh.phase != shard::phase_t::stopping || sh.entities != 0 ||
      sh.write_in_flight != 0)
    return;
  ++stats_.handoffs;
  markers_.erase(*sh.id);
  sh.pending_started.clear();
  sh.pending_stopped.clear();
  to_coordinator(shard_stopped{self_, *sh.id});
  make_unknown(sh);  // what waits here goes to the new home once it is known
  check_shutdown();
}

void region_core::abandon_handoffs() {
  for (auto& [id, sh] : shards_) {
    if (sh.where == shard::where_t::local && sh.phase == shard::phase_t::handoff_pending) {
      sh.phase = shard::phase_t::active;
      sh.handoff_ordered = false;
      sh.markers_missing.clear();
      markers_.erase(id);
      flush_waiting(sh);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Entities

void region_core::stop(entity& en, stop_cause cause) {
  if (en.st != entity::state::running) return;
  unlink(en);
  --running_;
  en.st = entity::state::stopping;
  en.cause = cause;
  if (cause == stop_cause::idle || cause == stop_cause::limit || cause == stop_cause::requested) ++stats_.passivated;
  effects_.push_back(stop_entity{en.slot, cause, false});
}

bool region_core::passivate(std::uint32_t slot, nanoseconds now) {
  now_ = now;
  entity* const found = entities_->at(slot);
  if (!found) return false;
  entity& en = *found;
  if (en.st != entity::state::running) return false;
  unlink(en);
  --running_;
  en.st = entity::state::stopping;
  en.cause = stop_cause::requested;
  ++stats_.passivated;
  return true;
}

void region_core::passivate_for_limit(const entity* except) {
  if (settings_.active_entity_limit == 0) return;
  while (running_ > settings_.active_entity_limit && lru_tail_ && lru_tail_ != except) stop(*lru_tail_, stop_cause::limit);
}

void region_core::touch(entity& en) noexcept {
  en.last_epoch = epoch_;
  if (settings_.active_entity_limit == 0 || lru_head_ == &en) return;
  unlink(en);
  link_front(en);
}

void region_core::link_front(entity& en) noexcept {
  en.prev = nullptr;
  en.next = lru_head_;
  if (lru_head_) lru_head_->prev = &en;
  lru_head_ = &en;
  if (!lru_tail_) lru_tail_ = &en;
}

void region_core::unlink(entity& en) noexcept {
  if (en.prev) en.prev->next = en.next;
  if (en.next) en.next->prev = en.prev;
  if (lru_head_ == &en) lru_head_ = en.next;
  if (lru_tail_ == &en) lru_tail_ = en.prev;
  en.prev = en.next = nullptr;
}

// Moves the messages waiting for `en` to the front of its shard's queue (they are older
// than anything queued there for it), for a shard that does not run entities now.
void region_core::park_on_shard(entity& en, shard& sh) {
  std::vector<waiting_message> queued;
  queued.swap(sh.waiting);
  sh.held = {};
  for (const auto& [token, from_region] : en.waiting) hold(sh, {token, en.id, from_region});
  for (auto& w : queued) hold(sh, std::move(w));
  en.waiting.clear();
}

void region_core::erase_entity(entity& en) {
  shard& sh = *en.home;
  if (!en.waiting.empty()) park_on_shard(en, sh);
  unlink(en);
  if (en.st == entity::state::running) --running_;
  --sh.entities;
  entities_->remove(en);
}

void region_core::entity_terminated(std::uint32_t slot, nanoseconds now) {
  now_ = now;
  entity* const found = entities_->at(slot);
  if (!found) return;
  entity& en = *found;
  shard& sh = *en.home;
  const auto was = en.st;
  const auto cause = en.cause;
  if (was == entity::state::running) {
    unlink(en);
    --running_;
  }
  en.st = entity::state::stopping;
  // 1. Messages arrived while it stopped: start it again so they are delivered, in order
  //    and before a hand-off moves the shard (the stop message follows them then).
  if (!en.waiting.empty() && !fenced_ && sh.where == shard::where_t::local) {
    run(en, sh);
    return;
  }
  // 2. A remembered entity that stopped by itself comes back after the backoff.
  if (was == entity::state::running && settings_.remember_entities && sh.phase == shard::phase_t::active && !fenced_) {
    en.st = entity::state::backoff;
    en.restart_at = now + settings_.entity_restart_backoff;
    return;
  }
  // 3. A passivated remembered entity is forgotten by the store.
  if (settings_.remember_entities && was == entity::state::stopping &&
      (cause == stop_cause::idle || cause == stop_cause::limit || cause == stop_cause::requested)) {
    sh.pending_stopped.push_back(en.id);
    write_if_needed(sh);
  }
  erase_entity(en);
  maybe_finish_handoff(sh);
  check_shutdown();
}

void region_core::write_if_needed(shard& sh) {
  if (sh.write_in_flight != 0 || (sh.pending_started.empty() && sh.pending_stopped.empty())) return;
  const std::uint64_t request = next_request_++;
  sh.write_in_flight = request;
  sh.in_flight_started = sh.pending_started;
  writes_in_flight_.emplace(request, *sh.id);
  effects_.push_back(write_remembered{request, *sh.id, std::move(sh.pending_started), std::move(sh.pending_stopped)});
  sh.pending_started.clear();
  sh.pending_stopped.clear();
}

void region_core::remembered_written(std::uint64_t request, nanoseconds now) {
  now_ = now;
  const auto it = writes_in_flight_.find(request);
  if (it == writes_in_flight_.end()) return;
  const auto s = shards_.find(it->second);
  writes_in_flight_.erase(it);
  if (s == shards_.end()) return;
  shard& sh = s->second;
  sh.write_in_flight = 0;
  for (const auto& id : std::exchange(sh.in_flight_started, {})) {
    entity* const e = entities_->find(id);
    if (!e || e->st != entity::state::starting) continue;
    entity& en = *e;
    if (fenced_ || sh.where != shard::where_t::local) {
      erase_entity(en);  // its messages wait at the shard
    } else {
      run(en, sh);
    }
  }
  write_if_needed(sh);
  maybe_finish_handoff(sh);
}

void region_core::remembered_loaded(const shard_id& s, const std::vector<entity_id>& ids, nanoseconds now) {
  now_ = now;
  const auto it = shards_.find(s);
  if (it == shards_.end() || it->second.where != shard::where_t::local || !it->second.loading) return;
  shard& sh = it->second;
  if (!fenced_) {
    for (const auto& id : ids) {
      if (id.empty() || entities_->find(id)) continue;
      entity& en = new_entity(sh, id);
      run(en, sh);
    }
  }
  loaded(sh);
}

// ---------------------------------------------------------------------------------------
// Fencing and shutdown

void region_core::set_fenced(bool fenced, nanoseconds now) {
  now_ = now;
  if (fenced == fenced_) return;
  fenced_ = fenced;
  if (fenced) {
    for (entity* en : entities_->all()) {
      if (en->st == entity::state::running)
        stop(*en, stop_cause::fence);
      else if (en->st == entity::state::backoff)
        erase_entity(*en);
    }
    return;
  }
  for (auto& [id, sh] : shards_) {
    if (sh.where != shard::where_t::local) continue;
    if (settings_.remember_entities && !sh.loading) {
      sh.loading = true;  // its remembered entities start again
      effects_.push_back(load_remembered{id});
    } else {
      flush_waiting(sh);
    }
  }
}

void region_core::begin_shutdown(nanoseconds now) {
  now_ = now;
  if (shutting_down_) return;
  shutting_down_ = true;
  last_shutdown_request_ = now;
  to_coordinator(graceful_shutdown_request{self_});
  check_shutdown();
}

void region_core::check_shutdown() {
  if (!shutting_down_ || shutdown_done_ || !shutdown_acked_ || !local_.empty() || buffered_total_ != 0) return;
  shutdown_done_ = true;
  to_coordinator(region_stopped{self_});
  effects_.push_back(shutdown_complete{});
}

// ---------------------------------------------------------------------------------------
// Ticks

void region_core::on_tick(region_tick t, nanoseconds now) {
  now_ = now;
  if (t == region_tick::passivation) {
    ++epoch_;
    if (!settings_.idle_timeout) return;
    std::vector<entity*> idle = entities_->all();
    std::erase_if(idle, [&](const entity* en) { return en->st != entity::state::running || epoch_ - en->last_epoch < 3; });
    for (entity* en : idle) stop(*en, stop_cause::idle);
    return;
  }
  // 1. Registration and homes.
  if (coordinator_node_ && !coordinator_ && !shutdown_done_ && now - last_register_ >= settings_.retry_interval)
    send_register(now);
  if (coordinator_) {
    for (auto& [id, sh] : shards_) {
      if (sh.where == shard::where_t::unknown && !sh.waiting.empty()) {
        sh.asked = false;
        request_home(sh);
      }
    }
  }
  if (shutting_down_ && !shutdown_done_ && now - last_shutdown_request_ >= settings_.retry_interval) {
    last_shutdown_request_ = now;
    to_coordinator(graceful_shutdown_request{self_});
  }
  // 2. Hand-offs past their deadline: go on without the missing markers; stop by force.
  for (auto& [id, sh] : shards_) {
    if (sh.where != shard::where_t::local || now < sh.deadline) continue;
    if (sh.phase == shard::phase_t::handoff_pending && sh.handoff_ordered) {
      if (!sh.markers_missing.empty()) ++stats_.marker_timeouts;
      start_stopping(sh, now);  // what is still missing (markers, a slow load) is given up
    } else if (sh.phase == shard::phase_t::stopping && !sh.forced) {
      sh.forced = true;
      entities_->for_each([&](const entity& en) {
        if (en.home == &sh && en.st == entity::state::stopping) {
          ++stats_.forced_stops;
          effects_.push_back(stop_entity{en.slot, en.cause, true});
        }
      });
    }
  }
  // 3. Remembered entities due to restart.
  if (settings_.remember_entities) {
    std::vector<entity*> due = entities_->all();
    std::erase_if(due, [&](const entity* en) { return en->st != entity::state::backoff || en->restart_at > now; });
    for (entity* en : due) run(*en, *en->home);
  }
  // 4. Markers nobody used within a hand-off timeout are forgotten.
  for (auto it = markers_.begin(); it != markers_.end();) {
    std::erase_if(it->second, [&](const auto& kv) { return now - kv.second > settings_.handoff_timeout; });
    it = it->second.empty() ? markers_.erase(it) : std::next(it);
  }
  check_shutdown();
}

std::vector<region_effect> region_core::take_effects() { return std::exchange(effects_, {}); }

// ---------------------------------------------------------------------------------------
// Queries

std::vector<shard_entities> region_core::local_shards() const {
  std::map<shard_id, std::vector<entity_id>> by_shard;
  for (const auto& [id, sh] : shards_)
    if (sh.where == shard::where_t::local) by_shard[id];
  entities_->for_each([&](const entity& en) { by_shard[*en.home->id].push_back(en.id); });
  std::vector<shard_entities> out;
  for (auto& [s, es] : by_shard) {
    std::sort(es.begin(), es.end());
    out.push_back({s, std::move(es)});
  }
  return out;
}

std::optional<region_id> region_core::cached_home(std::string_view s) const {
  const auto it = shards_.find(s);
  if (it == shards_.end()) return std::nullopt;
  switch (it->second.where) {
    case shard::where_t::local: return self_;
    case shard::where_t::remote: return regions_[it->second.region];
    case shard::where_t::unknown: break;
  }
  return std::nullopt;
}

}  // namespace troupe::sharding::model
