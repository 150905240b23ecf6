#include "troupe/cluster/sim/simulation.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <utility>

#include <type_traits>
#include <variant>

#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/vector_clock.hpp"
#include "troupe/cluster/sim/wire_size.hpp"

namespace troupe::cluster::sim {
namespace {

using model::member_status;
using model::unique_address;

// The daemon's timers (cluster/src/daemon/cluster.cpp), and the simulation's start event.
enum timer : std::uint8_t {
  start_timer,
  join_timer,
  gossip_timer,
  speedup_timer,
  heartbeat_timer,
  reaper_timer,
  leader_timer,
  downing_timer,
  downing_due_timer
};

enum message : std::uint8_t { protocol_message_kind, quarantined_notice };

// Heap order: the earliest event on top; equal times in scheduling order.
struct later {
  bool operator()(const sim_event& a, const sim_event& b) const noexcept {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
};

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

nanoseconds random_below(std::mt19937_64& rng, nanoseconds bound) {
  if (bound <= nanoseconds::zero()) return nanoseconds::zero();
  return nanoseconds{static_cast<std::int64_t>(
      model::uniform_below(rng, static_cast<std::uint64_t>(bound.count())))};
}

}  // namespace

bool is_up_like(member_status s) {
  return s == member_status::up || s == member_status::leaving ||
         s == member_status::preparing_for_shutdown || s == member_status::ready_for_shutdown;
}

// ---------------------------------------------------------------------------------------
// node_view

node_view::node_view(model::gossip g, model::unique_address self)
    : state_(std::move(g), std::move(self)) {}

std::size_t node_view::envelope_bytes() const {
  if (envelope_bytes_ == 0) envelope_bytes_ = gossip_envelope_size(gossip());
  return envelope_bytes_;
}

bool node_view::converged() const {
  if (!converged_) {
    // Cheap necessary condition first: every up-like member must have seen the version.
    std::size_t up_like = 0;
    for (const auto& m : gossip().members()) up_like += is_up_like(m.status()) ? 1 : 0;
    converged_ = up_like <= gossip().seen_count() && state_.convergence();
  }
  return *converged_;
}

const std::optional<model::unique_address>& node_view::leader() const {
  if (!leader_) leader_ = state_.leader();
  return *leader_;
}

void node_view::inherit(const node_view& earlier) const {
  // Same version: same members and reachability, so the same leader.
  if (earlier.leader_ && !leader_ && earlier.gossip().version() == gossip().version())
    leader_ = earlier.leader_;
}

std::uint64_t node_view::version_hash() const {
  if (!version_hash_) {
    std::uint64_t h = 0x84222325cbf29ce4ULL;
    for (const auto& [node, counter] : gossip().version().versions()) h = mix(mix(h, node), counter);
    version_hash_ = h;
  }
  return *version_hash_;
}

bool node_view::all_up() const {
  if (!all_up_) {
    const auto& ms = gossip().members();
    all_up_ = std::all_of(ms.begin(), ms.end(),
                          [](const model::member& m) { return m.status() == member_status::up; });
  }
  return *all_up_;
}

// ---------------------------------------------------------------------------------------
// simulation: world and event loop

core_settings core_settings_of(const sim_settings& s, std::size_t slot) {
  core_settings c;
  if (slot < s.roles.size()) c.roles = s.roles[slot];
  c.gossip_interval = s.gossip_interval;
  c.seed_node_timeout = s.seed_node_timeout;
  c.first_seed_forms_cluster_when_alone = s.first_seed_forms_cluster_when_alone;
  c.join_retry_interval = s.join_retry_interval;
  c.retry_unsuccessful_join_after = s.retry_unsuccessful_join_after;
  c.weakly_up_after = s.weakly_up_after;
  c.expected_response_after = s.expected_response_after;
  c.gossips_before_shutdown = s.gossips_before_shutdown;
  c.gossips_on_downing = s.gossips_on_downing;
  c.monitored_by_nr_of_members = s.monitored_by_nr_of_members;
  c.failure_detector = s.failure_detector;
  c.membership = s.membership;
  c.gossip_target = s.gossip_target;
  c.downing = s.sbr;
  return c;
}

simulation::simulation(sim_settings settings)
    : settings_(std::move(settings)),
      rng_(settings_.seed),
      network_(0, settings_.network),
      rings_(std::make_shared<model::heartbeat_ring_cache>(16)) {
  assert(!model::validate(settings_.failure_detector));
  assert(!model::validate(settings_.sbr));
  assert(!model::validate(settings_.gossip_target));
  for (std::size_t i = 0; i < settings_.nodes; ++i) add_slot();
  for (std::size_t i = 0; i < std::min(settings_.seeds, settings_.nodes); ++i) {
    nodes_[i].is_seed = true;
    seed_slots_.push_back(i);
    seed_addresses_.push_back(nodes_[i].address);
  }
}

simulation::~simulation() = default;

std::size_t simulation::add_slot() {
  const std::size_t i = network_.add_node();
  sim_node n;
  n.index = i;
  // 10.a.b.c: short enough for the small-string buffer, unique up to 2^24 slots.
  n.address = {
      "troupe-sim",
      "10." + std::to_string((i >> 16) & 0xff) + "." + std::to_string((i >> 8) & 0xff) + "." + std::to_string(i & 0xff),
      2552};
  slot_by_host_.emplace(n.address.host, i);
  nodes_.push_back(std::move(n));
  return i;
}

std::optional<std::size_t> simulation::slot_of(const model::address& a) const {
  const auto it = slot_by_host_.find(a.host);
  if (it == slot_by_host_.end()) return std::nullopt;
  return it->second;
}

model::unique_address simulation::address_of(std::size_t slot, std::uint64_t uid) const {
  return {nodes_[slot].address, uid};
}

void simulation::schedule(sim_event e) {
  e.seq = next_seq_++;
  queue_.push_back(std::move(e));
  std::push_heap(queue_.begin(), queue_.end(), later{});
}

void simulation::schedule_timer(sim_node& n, std::uint8_t kind, nanoseconds delay) {
  sim_event e;
  e.at = now_ + delay;
  e.node = static_cast<std::uint32_t>(n.index);
  e.incarnation = n.incarnation;
  e.is_timer = true;
  e.kind = kind;
  if (kind == downing_due_timer) e.from_uid = n.downing_arming;
  schedule(std::move(e));
}

void simulation::advance_to(nanoseconds t) {
  if (t <= now_) return;
  node_seconds_ += static_cast<double>(running_count_) * std::chrono::duration<double>(t - now_).count();
  now_ = t;
}

double simulation::node_seconds() const { return node_seconds_; }

void simulation::run_until(nanoseconds t) {
  while (!violation_ && !interrupted_ && !queue_.empty() && queue_.front().at <= t) {
    if ((steps_ & 1023) == 0 && interrupt_ && interrupt_()) {
      interrupted_ = true;
      return;
    }
    std::pop_heap(queue_.begin(), queue_.end(), later{});
    sim_event e = std::move(queue_.back());
    queue_.pop_back();
    advance_to(e.at);
    ++steps_;
    dispatch(e);
  }
  if (!violation_ && !interrupted_) advance_to(t);
}

bool simulation::run_until(const std::function<bool()>& done, nanoseconds deadline,
                           nanoseconds poll) {
  while (!violation_ && !interrupted_) {
    if (done()) return true;
    if (now_ >= deadline) return false;
    run_until(std::min(deadline, now_ + poll));
  }
  return false;
}

bool simulation::run_until_settled(nanoseconds deadline) {
  return run_until([this] { return settled(); }, deadline);
}

void simulation::dispatch(sim_event& e) {
  sim_node& n = nodes_[e.node];
  if (e.is_timer && e.incarnation != n.incarnation) return;  // set by a dead incarnation
  if (e.is_timer && e.kind == start_timer) {
    if (n.life == node_life::idle) start(n.index);
    return;
  }
  if (n.life == node_life::frozen) {
    n.stash.push_back(std::move(e));
    return;
  }
  if (n.life != node_life::running) return;
  if (e.is_timer)
    handle_timer(n, e);
  else
    handle_message(n, e);
}

// ---------------------------------------------------------------------------------------
// Faults and commands

void simulation::start_all(nanoseconds spread) {
  // Each idle slot starts at a random offset within `spread`, through a start event.
  for (const auto& n : nodes_) {
    if (n.life != node_life::idle) continue;
    sim_event e;
    e.at = now_ + random_below(rng_, spread);
    e.node = static_cast<std::uint32_t>(n.index);
    e.incarnation = n.incarnation;
    e.is_timer = true;
    e.kind = start_timer;
    schedule(std::move(e));
  }
}

void simulation::start(std::size_t i) {
  sim_node& n = nodes_[i];
  assert(n.life != node_life::running && n.life != node_life::frozen);
  ++running_count_;
  n.incarnation++;
  std::uint64_t uid = 0;
  while (uid == 0) uid = rng_();
  n.self = {n.address, uid};
  n.life = node_life::running;
  n.started = now_;
  n.view.reset();
  n.view_changes = 0;
  n.quarantined.clear();
  n.downing_due.reset();
  n.stash.clear();
  n.core = std::make_unique<node_core>(core_settings_of(settings_, i), n.self, rng_(), rings_);
  // The daemon's timers, each with its own random phase (as independent schedulers).
  schedule_timer(n, gossip_timer, random_below(rng_, settings_.gossip_interval));
  schedule_timer(n, heartbeat_timer, random_below(rng_, settings_.heartbeat_interval));
  schedule_timer(n, reaper_timer, random_below(rng_, settings_.reaper_interval));
  schedule_timer(n, leader_timer, random_below(rng_, settings_.leader_actions_interval));
  schedule_timer(n, downing_timer, random_below(rng_, settings_.downing_interval));
  n.core->join_seed_nodes(seed_addresses_, now_);
  if (!n.member()) schedule_timer(n, join_timer, settings_.join_retry_interval);
  flush(n);
}

void simulation::retire(sim_node& n, node_life life) {
  if (n.life == node_life::running || n.life == node_life::frozen) --running_count_;
  observe_views(n, n.view.get(), nullptr);
  n.life = life;
  n.incarnation++;
  n.downing_due.reset();
  n.stash.clear();
}

void simulation::crash(std::size_t i) {
  sim_node& n = nodes_[i];
  if (n.life == node_life::running || n.life == node_life::frozen) retire(n, node_life::crashed);
}

void simulation::freeze(std::size_t i) {
  if (nodes_[i].life == node_life::running) nodes_[i].life = node_life::frozen;
}

void simulation::thaw(std::size_t i) {
  sim_node& n = nodes_[i];
  if (n.life != node_life::frozen) return;
  n.life = node_life::running;
  // Messages that waited in the socket buffers first, then the overdue timers.
  std::vector<sim_event> held = std::move(n.stash);
  n.stash.clear();
  std::stable_partition(held.begin(), held.end(), [](const sim_event& e) { return !e.is_timer; });
  for (auto& e : held) {
    e.at = now_;
    schedule(std::move(e));
  }
}

void simulation::leave(std::size_t i) {
  sim_node& n = nodes_[i];
  if (n.life != node_life::running || !n.member()) return;
  n.core->leave(n.address, now_);
  flush(n);
}

void simulation::fail(std::string invariant, std::string detail) {
  if (violation_) return;
  violation_ = invariant_violation{std::move(invariant), std::move(detail), steps_, now_};
}

// ---------------------------------------------------------------------------------------
// The daemon around each core (cluster/src/daemon/cluster.cpp) and the transport

void simulation::handle_timer(sim_node& n, const sim_event& e) {
  node_core& core = *n.core;
  switch (e.kind) {
    case join_timer:
      core.on_tick(tick::join, now_);
      if (!n.member() && !core.stop_requested()) schedule_timer(n, join_timer, settings_.join_retry_interval);
      break;
    case gossip_timer:
      core.on_tick(tick::gossip, now_);
      if (core.speedup_needed()) {
        const nanoseconds third = settings_.gossip_interval / model::gossip_speedup_factor;
        for (int k = 1; k < model::gossip_speedup_factor; ++k) schedule_timer(n, speedup_timer, third * k);
      }
      schedule_timer(n, gossip_timer, settings_.gossip_interval);
      break;
    case speedup_timer:
      core.on_tick(tick::speedup, now_);
      break;
    case heartbeat_timer:
      core.on_tick(tick::heartbeat, now_);
      schedule_timer(n, heartbeat_timer, settings_.heartbeat_interval);
      break;
    case reaper_timer:
      core.on_tick(tick::reaper, now_);
      schedule_timer(n, reaper_timer, settings_.reaper_interval);
      break;
    case leader_timer:
      core.on_tick(tick::leader, now_);
      schedule_timer(n, leader_timer, settings_.leader_actions_interval);
      break;
    case downing_timer:
    case downing_due_timer: {
      if (e.kind == downing_due_timer && e.from_uid != n.downing_arming) return;  // re-armed since
      // The resolver's tick changes the view only when it acts on a decision.
      const std::uint64_t views = core.stats().view_changes;
      core.on_tick(tick::downing, now_);
      if (core.stats().view_changes != views) {
        ++sbr_decisions_;
        const auto& ms = core.latest_gossip().members();
        if (std::all_of(ms.begin(), ms.end(), [](const model::member& m) { return m.status() == member_status::down; }))
          ++sbr_down_all_;
      }
      if (e.kind == downing_timer) schedule_timer(n, downing_timer, settings_.downing_interval);
      break;
    }
    default:
      return;
  }
  flush(n);
}

void simulation::handle_message(sim_node& n, const sim_event& e) {
  const unique_address from = address_of(e.from, e.from_uid);
  if (!e.message) {
    // The transport's quarantine notice: a member of this view will never talk to this
    // incarnation again, so it cannot stay a member (the daemon's on_quarantined).
    if (e.to_uid != n.self.uid || !n.member() || !n.core->latest_gossip().has_member(from)) return;
    n.core->down(n.self.address, now_);
    flush(n);
    return;
  }
  // A quarantined incarnation is refused, and told so again (as the transport does).
  if (n.quarantined.contains(e.from_uid)) {
    notify_quarantined(n, e.from, e.from_uid);
    return;
  }
  if (std::holds_alternative<protocol::init_join>(*e.message)) {
    std::visit([&](auto&& answer) { send(n, outgoing{from.address, 0, answer}); }, n.core->answer_init_join());
    return;
  }
  n.core->receive(*e.message, now_);
  flush(n);
}

// Carries out what the core decided, as the daemon's flush(): the resolver's one-off tick,
// the outbox, the quarantines; then the simulation observes the view and stops a node
// that asked to.
void simulation::flush(sim_node& n) {
  node_core& core = *n.core;
  // 1. The resolver's decision falls due between two of its one-second ticks: one tick then.
  if (const auto due = core.downing_due(); due != n.downing_due) {
    n.downing_due = due;
    if (due && *due > now_) {
      ++n.downing_arming;
      schedule_timer(n, downing_due_timer, *due - now_);
    }
  }
  // 2. The view, for the invariants and figures (before sending: the envelopes' sizes).
  observe_view_change(n);
  // 3. Messages, then quarantines.
  for (const auto& out : core.take_outbox()) send(n, out);
  for (const auto& q : core.take_quarantines()) {
    n.quarantined.insert(q.uid);
    if (const auto slot = slot_of(q.address)) notify_quarantined(n, *slot, q.uid);
  }
  (void)core.take_events();
  (void)core.take_seed_wait_notices();
  // 4. A node that saw itself down, removed or exited takes no more part.
  if (core.stop_requested() && n.life == node_life::running) retire(n, node_life::stopped);
}

void simulation::observe_view_change(sim_node& n) {
  const node_core& core = *n.core;
  if (core.stats().view_changes == n.view_changes) return;
  n.view_changes = core.stats().view_changes;
  const model::gossip& g = core.latest_gossip();
  if (!n.view && g.members().empty()) return;
  view_ptr before = std::move(n.view);
  n.view = std::make_shared<const node_view>(g, n.self);
  if (before) n.view->inherit(*before);
  // Unreachable records self made (its reaper's verdicts), and those that were false.
  const model::reachability& after_reach = g.reachability();
  if (!after_reach.is_all_reachable() && (!before || before->gossip().reachability() != after_reach)) {
    for (const auto& r : after_reach.records_from(n.self)) {
      if (r.status != model::reachability_status::unreachable) continue;
      if (before && before->gossip().reachability().status(n.self, r.subject) != model::reachability_status::reachable)
        continue;
      ++unreachable_records_;
      if (const auto slot = slot_of(r.subject.address)) {
        const sim_node& subject = nodes_[*slot];
        if (subject.self == r.subject && subject.life == node_life::running && network_.connected(n.index, *slot) &&
            network_.connected(*slot, n.index))
          ++false_unreachable_;
      }
    }
  }
  if (settings_.check_invariants) check_view_change(n, before.get(), *n.view);
  observe_views(n, before.get(), n.view.get());
}

void simulation::send(const sim_node& from, const outgoing& out) {
  const auto to = slot_of(out.to);
  if (!to) return;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, protocol::gossip_envelope> || std::is_same_v<T, protocol::welcome>) {
          // The envelope of the sender's current view has its size cached.
          const model::gossip& g = m.gossip;
          const model::gossip* v = from.view ? &from.view->gossip() : nullptr;
          const bool current = v && v->members().shares_items_with(g.members()) && v->seen_count() == g.seen_count() &&
                               v->version() == g.version() && v->tombstones().size() == g.tombstones().size() &&
                               v->reachability() == g.reachability();
          const std::size_t bytes = current ? from.view->envelope_bytes() : gossip_envelope_size(g);
          ++traffic_.gossip_full;
          traffic_.gossip_bytes += bytes;
          largest_gossip_bytes_ = std::max(largest_gossip_bytes_, bytes);
        } else if constexpr (std::is_same_v<T, protocol::gossip_status>) {
          ++traffic_.gossip_status;
          traffic_.gossip_bytes += gossip_status_size(m.digest);
        } else if constexpr (std::is_same_v<T, protocol::heartbeat> || std::is_same_v<T, protocol::heartbeat_rsp>) {
          ++traffic_.heartbeat;
          traffic_.heartbeat_bytes += heartbeat_size();
        } else {
          ++traffic_.join;
        }
      },
      out.message);
  const auto delay = network_.draw_delay(from.index, *to, rng_);
  if (!delay) {
    ++traffic_.lost;
    return;
  }
  sim_event e;
  e.at = now_ + *delay;
  e.node = static_cast<std::uint32_t>(*to);
  e.kind = protocol_message_kind;
  e.from = static_cast<std::uint32_t>(from.index);
  e.from_uid = from.self.uid;
  e.message = std::make_shared<const protocol_message>(out.message);
  schedule(std::move(e));
}

void simulation::notify_quarantined(const sim_node& by, std::size_t slot, std::uint64_t uid) {
  const auto delay = network_.draw_delay(by.index, slot, rng_);
  if (!delay) return;
  sim_event e;
  e.at = now_ + *delay;
  e.node = static_cast<std::uint32_t>(slot);
  e.kind = quarantined_notice;
  e.from = static_cast<std::uint32_t>(by.index);
  e.from_uid = by.self.uid;
  e.to_uid = uid;
  schedule(std::move(e));
}

// ---------------------------------------------------------------------------------------
// Observation

bool simulation::settled() const {
  if (violation_) return false;
  std::optional<std::uint64_t> version;
  for (const auto& n : nodes_) {
    if (n.life == node_life::idle || n.life == node_life::crashed || n.life == node_life::stopped)
      continue;
    if (n.life != node_life::running || !n.member() || !n.view) return false;
    const node_view& v = *n.view;
    if (v.gossip().members().size() != running_count_ || !v.all_up() || !v.converged()) return false;
    if (version && *version != v.version_hash()) return false;
    version = v.version_hash();
  }
  return version.has_value();
}

std::string simulation::unsettled_reason() const {
  std::optional<std::uint64_t> version;
  for (const auto& n : nodes_) {
    if (n.life == node_life::idle || n.life == node_life::crashed || n.life == node_life::stopped)
      continue;
    const std::string who = to_string(n.self);
    if (n.life != node_life::running) return who + " is frozen";
    if (!n.member() || !n.view) return who + " has not joined";
    const node_view& v = *n.view;
    const auto& ms = v.gossip().members();
    if (ms.size() != running_count_)
      return who + " sees " + std::to_string(ms.size()) + " members, " + std::to_string(running_count_) +
             " nodes run: " + model::to_string(v.gossip());
    if (!v.all_up()) return who + " sees members not up: " + model::to_string(v.gossip());
    if (!v.converged()) return who + " has not converged: " + model::to_string(v.gossip());
    if (version && *version != v.version_hash()) return who + " holds another version";
    version = v.version_hash();
  }
  return version ? "" : "no running member";
}

std::size_t simulation::running_members() const {
  std::size_t count = 0;
  for (const auto& n : nodes_)
    if (n.life == node_life::running && n.member()) ++count;
  return count;
}

std::optional<model::unique_address> simulation::leader_of(std::size_t i) const {
  const sim_node& n = nodes_[i];
  if (!n.view || (n.life != node_life::running && n.life != node_life::frozen)) return std::nullopt;
  return n.view->leader();
}

void simulation::watch_victim(std::size_t i) {
  victim_watch v;
  v.node = nodes_[i].self;
  v.fault_at = now_;
  for (const auto& n : nodes_)
    if ((n.life == node_life::running || n.life == node_life::frozen) && n.view &&
        n.view->gossip().has_member(v.node))
      ++v.views_holding;
  victims_.push_back(std::move(v));
}

}  // namespace troupe::cluster::sim
