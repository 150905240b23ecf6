#include "troupe/cluster/sim/simulation.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <utility>

#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/vector_clock.hpp"
#include "troupe/cluster/sim/wire_size.hpp"

namespace troupe::cluster::sim {
namespace {

using model::member_status;
using model::unique_address;

enum timer : std::uint8_t { start_timer, join_timer, gossip_timer, speedup_timer, heartbeat_timer, reaper_timer,
                            leader_timer, downing_timer, exiting_timer };

enum message : std::uint8_t { init_join, init_join_ack, init_join_nack, join_request, welcome,
                              gossip_envelope, gossip_status, heartbeat, heartbeat_rsp,
                              exiting_confirmed, quarantined };

// Heap order: the earliest event on top; equal times in scheduling order.
struct later {
  bool operator()(const sim_event& a, const sim_event& b) const noexcept {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
};

bool is_up_like(member_status s) {
  return s == member_status::up || s == member_status::leaving ||
         s == member_status::preparing_for_shutdown || s == member_status::ready_for_shutdown;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

nanoseconds random_below(std::mt19937_64& rng, nanoseconds bound) {
  if (bound <= nanoseconds::zero()) return nanoseconds::zero();
  return nanoseconds{static_cast<std::int64_t>(
      model::uniform_below(rng, static_cast<std::uint64_t>(bound.count())))};
}

// Members the heartbeat ring covers (as Akka: joining members are not monitored yet).
std::set<unique_address> ring_nodes(const model::gossip& g) {
  std::set<unique_address> out;
  for (const auto& m : g.members())
    if (m.status() != member_status::joining) out.insert(out.end(), m.unique_address());
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// gossip peer pools

namespace {

// Fills the counts and the unseen-valid bits once `members`, `excluded` and `seen` are set.
void finish_pools(gossip_peer_pools& p) {
  const std::size_t n = p.members.size();
  p.member_count = n;
  p.unseen_valid.assign((n + 63) / 64, 0);
  for (std::size_t w = 0; w < p.unseen_valid.size(); ++w) {
    std::uint64_t word = w < p.seen.size() ? ~p.seen[w] : ~std::uint64_t{0};
    if (w == p.unseen_valid.size() - 1 && n % 64 != 0) word &= (std::uint64_t{1} << (n % 64)) - 1;
    p.unseen_valid[w] = word;
  }
  for (const std::uint32_t e : p.excluded) p.unseen_valid[e / 64] &= ~(std::uint64_t{1} << (e % 64));
  p.unseen_count = 0;
  for (const auto w : p.unseen_valid) p.unseen_count += static_cast<std::size_t>(std::popcount(w));
  p.valid_count = n - p.excluded.size();
}

bool test_bit(const std::vector<std::uint64_t>& words, std::size_t i) {
  return i / 64 < words.size() && ((words[i / 64] >> (i % 64)) & 1U) != 0;
}

// Position of the k-th (from 0) set bit.
std::size_t select_bit(const std::vector<std::uint64_t>& words, std::size_t k) {
  for (std::size_t w = 0;; ++w) {
    const auto c = static_cast<std::size_t>(std::popcount(words[w]));
    if (k < c) {
      std::uint64_t word = words[w];
      for (; k > 0; --k) word &= word - 1;
      return w * 64 + static_cast<std::size_t>(std::countr_zero(word));
    }
    k -= c;
  }
}

}  // namespace

gossip_peer_pools make_gossip_peer_pools(const model::gossip_target_input& input) {
  gossip_peer_pools p;
  std::vector<model::member_list::member_ptr> items;
  p.seen.assign((input.members.size() + 63) / 64, 0);
  for (std::size_t i = 0; i < input.members.size(); ++i) {
    const auto& m = input.members[i];
    items.push_back(model::member_list::make(model::member{m}));
    if (m == input.self || input.excluded.contains(m)) p.excluded.push_back(static_cast<std::uint32_t>(i));
    if (input.seen_by.contains(m)) p.seen[i / 64] |= std::uint64_t{1} << (i % 64);
  }
  p.members = model::member_list{std::move(items)};
  finish_pools(p);
  return p;
}

gossip_peer_pools make_gossip_peer_pools(const model::gossip& g, const model::unique_address& self) {
  gossip_peer_pools p;
  p.members = g.members();
  if (const auto i = g.members().index_of(self)) p.excluded.push_back(static_cast<std::uint32_t>(*i));
  for (const auto& r : g.reachability().records_from(self))
    if (r.status != model::reachability_status::reachable)
      if (const auto i = g.members().index_of(r.subject)) p.excluded.push_back(static_cast<std::uint32_t>(*i));
  std::sort(p.excluded.begin(), p.excluded.end());
  p.excluded.erase(std::unique(p.excluded.begin(), p.excluded.end()), p.excluded.end());
  p.seen = g.seen_bits();
  finish_pools(p);
  return p;
}

std::optional<model::gossip_target> select_gossip_target(const model::gossip_target_settings& settings,
                                                         const gossip_peer_pools& pools,
                                                         std::mt19937_64& rng) {
  // The steps and draws of model::select_gossip_target, on precomputed pools.
  if (pools.valid_count == 0) return std::nullopt;
  const double p = model::adjusted_gossip_different_view_probability(settings, pools.member_count);
  const bool prefer_unseen = model::uniform_unit(rng) < p;
  const bool use_unseen = prefer_unseen && pools.unseen_count > 0;
  const auto k = static_cast<std::size_t>(
      model::uniform_below(rng, use_unseen ? pools.unseen_count : pools.valid_count));
  std::size_t at;
  if (use_unseen) {
    at = select_bit(pools.unseen_valid, k);
  } else {
    at = k;  // the k-th position that is not excluded
    for (const std::uint32_t e : pools.excluded)
      if (e <= at) ++at;
  }
  return model::gossip_target{pools.members[at].unique_address(), !use_unseen && test_bit(pools.seen, at)};
}

// ---------------------------------------------------------------------------------------
// node_view

node_view::node_view(model::gossip g, model::unique_address self)
    : state_(std::move(g), std::move(self)) {}

const model::gossip_digest& node_view::digest() const {
  if (!digest_) digest_ = gossip().digest();
  return *digest_;
}

std::size_t node_view::envelope_bytes() const {
  if (envelope_bytes_ == 0) envelope_bytes_ = gossip_envelope_size(gossip());
  return envelope_bytes_;
}

std::size_t node_view::status_bytes() const {
  if (status_bytes_ == 0) status_bytes_ = gossip_status_size(gossip());
  return status_bytes_;
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

const model::gossip_target_input& node_view::target_input() const {
  if (!target_input_) {
    model::gossip_target_input in;
    in.self = state_.self();
    in.members.reserve(gossip().members().size());
    for (const auto& m : gossip().members()) in.members.push_back(m.unique_address());
    in.seen_by = gossip().seen_by();
    for (const auto& r : gossip().reachability().records_from(state_.self()))
      if (r.status != model::reachability_status::reachable) in.excluded.insert(r.subject);
    target_input_ = std::move(in);
  }
  return *target_input_;
}

const gossip_peer_pools& node_view::target_pools() const {
  if (!target_pools_) target_pools_ = make_gossip_peer_pools(gossip(), state_.self());
  return *target_pools_;
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

bool node_view::speedup_needed() const {
  if (!speedup_needed_) {
    const auto& ms = gossip().members();
    const bool any_down = std::any_of(ms.begin(), ms.end(), [](const model::member& m) {
      return m.status() == member_status::down;
    });
    speedup_needed_ = model::gossip_speedup_needed(gossip().seen_count(), ms.size(), any_down);
  }
  return *speedup_needed_;
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

simulation::simulation(sim_settings settings)
    : settings_(std::move(settings)),
      rng_(settings_.seed),
      network_(0, settings_.network),
      detectors_prototype_(settings_.failure_detector) {
  assert(!model::validate(settings_.failure_detector));
  assert(!model::validate(settings_.sbr));
  assert(!model::validate(settings_.gossip_target));
  for (std::size_t i = 0; i < settings_.nodes; ++i) add_slot();
  for (std::size_t i = 0; i < std::min(settings_.seeds, settings_.nodes); ++i) {
    nodes_[i].is_seed = true;
    seed_slots_.push_back(i);
  }
}

simulation::~simulation() = default;

std::size_t simulation::add_slot() {
  const std::size_t i = network_.add_node();
  sim_node n;
  n.index = i;
  // 10.a.b.c: short enough for the small-string buffer, unique up to 2^24 slots.
  n.address = {"troupe-sim",
               "10." + std::to_string((i >> 16) & 0xff) + "." + std::to_string((i >> 8) & 0xff) +
                   "." + std::to_string(i & 0xff),
               2552};
  n.detectors = detectors_prototype_;
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
  if (n.stop_requested && n.life == node_life::running) stop(n);
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
  n.phase = join_phase::seed_process;
  n.started = now_;
  n.seed_process_started = now_;
  n.nacked_by.clear();
  n.view.reset();
  n.exiting_confirmed.clear();
  n.not_converged_since.reset();
  n.exiting_since.reset();
  n.leave_requested = false;
  n.detectors = detectors_prototype_;
  n.has_ring = false;
  n.ring_view.reset();
  n.receivers.clear();
  n.first_unstable.reset();
  n.stable_since = now_;
  n.stop_requested = false;
  n.stash.clear();
  // The daemon's timers, each with its own random phase (as independent schedulers).
  schedule_timer(n, join_timer, nanoseconds::zero());
  schedule_timer(n, gossip_timer, random_below(rng_, settings_.gossip_interval));
  schedule_timer(n, heartbeat_timer, random_below(rng_, settings_.heartbeat_interval));
  schedule_timer(n, reaper_timer, random_below(rng_, settings_.reaper_interval));
  schedule_timer(n, leader_timer, random_below(rng_, settings_.leader_actions_interval));
  schedule_timer(n, downing_timer, random_below(rng_, settings_.downing_interval));
}

void simulation::retire(sim_node& n, node_life life) {
  if (n.life == node_life::running || n.life == node_life::frozen) --running_count_;
  observe_views(n, n.view.get(), nullptr);
  n.life = life;
  n.incarnation++;
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
  if (n.life != node_life::running || !n.view) return;
  if (auto g = n.view->state().leave(n.address)) {
    n.leave_requested = true;
    set_view(n, std::move(*g));
  }
}

void simulation::stop(sim_node& n) {
  // Tell a few peers first, so that the news of this node's end travels on (Akka gossips
  // to a few random members before shutting down).
  if (n.view) {
    const auto peers = model::random_gossip_peers(n.view->target_input(),
                                                   settings_.gossips_before_shutdown, rng_);
    for (const auto& p : peers) gossip_to(n, p);
  }
  retire(n, node_life::stopped);
}

void simulation::fail(std::string invariant, std::string detail) {
  if (violation_) return;
  violation_ = invariant_violation{std::move(invariant), std::move(detail), steps_, now_};
}

// ---------------------------------------------------------------------------------------
// Messages

void simulation::send(const sim_node& from, std::size_t to, std::uint8_t kind,
                      std::uint64_t to_uid, view_ptr payload) {
  switch (kind) {
    case gossip_envelope:
    case welcome: {
      const std::size_t bytes = payload->envelope_bytes();
      ++traffic_.gossip_full;
      traffic_.gossip_bytes += bytes;
      largest_gossip_bytes_ = std::max(largest_gossip_bytes_, bytes);
      break;
    }
    case gossip_status:
      ++traffic_.gossip_status;
      traffic_.gossip_bytes += payload->status_bytes();
      break;
    case heartbeat:
    case heartbeat_rsp:
      ++traffic_.heartbeat;
      traffic_.heartbeat_bytes += heartbeat_size();
      break;
    default:
      ++traffic_.join;
      break;
  }
  const auto delay = network_.draw_delay(from.index, to, rng_);
  if (!delay) {
    ++traffic_.lost;
    return;
  }
  sim_event e;
  e.at = now_ + *delay;
  e.node = static_cast<std::uint32_t>(to);
  e.kind = kind;
  e.from = static_cast<std::uint32_t>(from.index);
  e.from_uid = from.self.uid;
  e.to_uid = to_uid;
  e.payload = std::move(payload);
  schedule(std::move(e));
}

void simulation::gossip_to(sim_node& n, const unique_address& peer) {
  if (!n.view || !n.view->state().valid_node_for_gossip(peer)) return;
  if (const auto slot = slot_of(peer.address)) send(n, *slot, gossip_envelope, peer.uid, n.view);
}

void simulation::status_to(sim_node& n, const unique_address& peer) {
  if (!n.view || !n.view->state().valid_node_for_gossip(peer)) return;
  if (const auto slot = slot_of(peer.address)) send(n, *slot, gossip_status, peer.uid, n.view);
}

void simulation::handle_message(sim_node& n, const sim_event& e) {
  if (e.to_uid != 0 && e.to_uid != n.self.uid) return;  // for an older incarnation: dropped
  const unique_address from = address_of(e.from, e.from_uid);
  // A removed incarnation is quarantined: nothing it sends is taken, and it is told so
  // (as Artery does), which makes it stop.
  if (e.kind != quarantined && n.view && n.view->gossip().tombstones().contains(from)) {
    send(n, e.from, quarantined, e.from_uid);
    return;
  }
  switch (e.kind) {
    case init_join: {
      const bool ok = n.phase == join_phase::member &&
                      n.view->state().self_member().status() != member_status::down &&
                      n.view->state().self_member().status() != member_status::exiting;
      send(n, e.from, ok ? init_join_ack : init_join_nack, e.from_uid);
      break;
    }
    case init_join_ack:
      if (n.phase == join_phase::seed_process) {
        n.phase = join_phase::awaiting_welcome;
        n.join_target = e.from;
        n.join_deadline = now_ + settings_.retry_unsuccessful_join_after;
        send(n, e.from, join_request, e.from_uid);
      }
      break;
    case init_join_nack:
      if (n.phase == join_phase::seed_process && !seed_slots_.empty() &&
          seed_slots_.front() == n.index) {
        n.nacked_by.insert(e.from);
        if (n.nacked_by.size() + 1 >= seed_slots_.size()) join_self(n);
      }
      break;
    case join_request:
      on_join(n, from);
      break;
    case welcome:
      if (n.phase == join_phase::awaiting_welcome && e.from == n.join_target &&
          e.payload->gossip().has_member(n.self)) {
        become_member(n, e.payload->gossip().seen(n.self));
        gossip_to(n, from);
      }
      break;
    case gossip_envelope:
      on_gossip(n, from, e.payload);
      break;
    case gossip_status:
      on_status(n, from, e.payload);
      break;
    case heartbeat:
      send(n, e.from, heartbeat_rsp, e.from_uid);
      break;
    case heartbeat_rsp:
      if (n.receivers.contains(from)) n.detectors.heartbeat(from, now_);
      break;
    case exiting_confirmed:
      if (n.view && n.view->gossip().has_member(from)) n.exiting_confirmed.insert(from);
      break;
    case quarantined:
      if (n.phase == join_phase::member) n.stop_requested = true;
      break;
    default:
      break;
  }
}

void simulation::handle_timer(sim_node& n, const sim_event& e) {
  switch (e.kind) {
    case join_timer: join_tick(n); break;
    case gossip_timer:
      gossip_tick(n, false);
      schedule_timer(n, gossip_timer, settings_.gossip_interval);
      break;
    case speedup_timer: gossip_tick(n, true); break;
    case heartbeat_timer:
      heartbeat_tick(n);
      schedule_timer(n, heartbeat_timer, settings_.heartbeat_interval);
      break;
    case reaper_timer:
      reaper_tick(n);
      schedule_timer(n, reaper_timer, settings_.reaper_interval);
      break;
    case leader_timer:
      leader_tick(n);
      schedule_timer(n, leader_timer, settings_.leader_actions_interval);
      break;
    case downing_timer:
      downing_tick(n);
      schedule_timer(n, downing_timer, settings_.downing_interval);
      break;
    case exiting_timer: n.stop_requested = true; break;
    default: break;
  }
}

// ---------------------------------------------------------------------------------------
// Joining (Akka's FirstSeedNodeProcess, JoinSeedNodeProcess, join and welcome)

void simulation::join_tick(sim_node& n) {
  if (n.phase == join_phase::member) return;
  if (n.phase == join_phase::awaiting_welcome) {
    if (now_ < n.join_deadline) {
      schedule_timer(n, join_timer, settings_.join_retry_interval);
      return;
    }
    n.phase = join_phase::seed_process;  // no Welcome in time: start over
    n.seed_process_started = now_;
    n.nacked_by.clear();
  }
  const bool first_seed = !seed_slots_.empty() && seed_slots_.front() == n.index;
  if (first_seed && (seed_slots_.size() == 1 ||
                     now_ - n.seed_process_started >= settings_.seed_node_timeout)) {
    join_self(n);
    return;
  }
  for (const std::size_t s : seed_slots_)
    if (s != n.index && !n.nacked_by.contains(s)) send(n, s, init_join, 0);
  schedule_timer(n, join_timer, settings_.join_retry_interval);
}

void simulation::join_self(sim_node& n) {
  const model::membership_state empty{model::gossip{}, n.self};
  const auto r = empty.join(model::member{n.self});
  become_member(n, r.gossip);
  leader_tick(n);  // a new cluster's first member is moved up at once (as Akka does)
}

void simulation::become_member(sim_node& n, model::gossip g) {
  n.phase = join_phase::member;
  set_view(n, std::move(g));
}

void simulation::on_join(sim_node& n, const unique_address& from) {
  if (n.phase != join_phase::member) return;
  auto r = n.view->state().join(model::member{from});
  switch (r.outcome) {
    case model::join_outcome::added:
      set_view(n, std::move(r.gossip));
      [[fallthrough]];
    case model::join_outcome::already_member:
      if (const auto slot = slot_of(from.address)) send(n, *slot, welcome, from.uid, n.view);
      break;
    case model::join_outcome::old_incarnation_downed:
      set_view(n, std::move(r.gossip));
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------
// Gossip (Akka's ClusterCoreDaemon: gossipTick, receiveGossip, receiveGossipStatus)

void simulation::gossip_tick(sim_node& n, bool speedup) {
  if (n.phase != join_phase::member || n.view->gossip().is_singleton_cluster()) return;
  // An extra round only happens if the speedup is still needed (Akka's gossipSpeedupTick).
  if (speedup && !n.view->speedup_needed()) return;
  if (auto target = select_gossip_target(settings_.gossip_target, n.view->target_pools(), rng_)) {
    if (target->peer_has_seen)
      status_to(n, target->peer);
    else
      gossip_to(n, target->peer);
  }
  if (!speedup && n.view->speedup_needed()) {
    const nanoseconds third = settings_.gossip_interval / model::gossip_speedup_factor;
    for (int k = 1; k < model::gossip_speedup_factor; ++k) schedule_timer(n, speedup_timer, third * k);
  }
}

void simulation::on_gossip(sim_node& n, const unique_address& from, const view_ptr& remote) {
  if (n.phase != join_phase::member) return;
  const model::gossip& theirs = remote->gossip();
  if (theirs.tombstones().contains(n.self)) {  // the cluster has removed this node
    n.stop_requested = true;
    return;
  }
  auto r = n.view->state().receive_gossip(from, theirs);
  const model::gossip& mine = n.view->gossip();
  switch (r.receipt) {
    case model::gossip_receipt::ignored: return;
    case model::gossip_receipt::older:
    case model::gossip_receipt::same:
      // Only the seen set can differ: keep the current view when it does not.
      if (r.gossip.seen_count() != mine.seen_count()) set_view(n, std::move(r.gossip));
      break;
    default:
      set_view(n, std::move(r.gossip));
      break;
  }
  if (r.talk_back && n.life == node_life::running && !n.stop_requested) gossip_to(n, from);
}

void simulation::on_status(sim_node& n, const unique_address& from, const view_ptr& remote) {
  if (n.phase != join_phase::member) return;
  const model::gossip& mine = n.view->gossip();
  if (!mine.has_member(from) || !mine.is_reachable(n.self, from)) return;
  switch (model::compare(remote->digest(), n.view->digest())) {
    case model::gossip_ordering::same: break;
    case model::gossip_ordering::newer: status_to(n, from); break;  // theirs is newer: ask
    case model::gossip_ordering::older:
    case model::gossip_ordering::concurrent: gossip_to(n, from); break;
  }
}

// ---------------------------------------------------------------------------------------
// Failure detection (Akka's ClusterHeartbeatSender and reapUnreachableMembers)

void simulation::update_ring(sim_node& n) {
  if (n.ring_view == n.view) return;
  n.ring_view = n.view;
  const auto& g = n.view->gossip();
  const auto& reach = g.reachability();
  std::uint64_t key = 0;
  for (const auto& m : g.members())
    if (m.status() != member_status::joining) key = mix(key, m.unique_address().uid);
  key = mix(key, 0xfeed);
  const bool all_reachable = reach.is_all_reachable();
  if (!all_reachable)
    for (const auto& a : reach.all_unreachable_or_terminated()) key = mix(key, a.uid);
  if (n.has_ring && key == n.ring_key) return;
  n.has_ring = true;
  n.ring_key = key;
  // 1. The ring of these members and unreachable ones, shared by every node that has them.
  auto cached = std::find_if(rings_.begin(), rings_.end(), [&](const auto& e) { return e.first == key; });
  std::shared_ptr<const model::heartbeat_ring> ring;
  if (cached != rings_.end()) {
    ring = cached->second;
    std::rotate(rings_.begin(), cached, cached + 1);
  } else {
    const auto nodes = ring_nodes(g);
    if (!nodes.empty())
      ring = std::make_shared<const model::heartbeat_ring>(
          *nodes.begin(), nodes,
          all_reachable ? std::set<unique_address>{} : reach.all_unreachable_or_terminated(),
          settings_.monitored_by_nr_of_members);
    rings_.insert(rings_.begin(), {key, ring});
    if (rings_.size() > 16) rings_.pop_back();
  }
  // 2. Receivers no longer on the list are forgotten; new ones are expected to answer soon.
  const std::set<unique_address> wanted = ring ? ring->receivers_from_place(n.self) : std::set<unique_address>{};
  for (auto it = n.receivers.begin(); it != n.receivers.end();) {
    if (!wanted.contains(it->first)) {
      n.detectors.remove(it->first);
      it = n.receivers.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& r : wanted) n.receivers.try_emplace(r, now_);
}

void simulation::heartbeat_tick(sim_node& n) {
  if (n.phase != join_phase::member) return;
  update_ring(n);
  for (const auto& [r, added] : n.receivers) {
    // A receiver that never answered still gets a detector after `expected_response_after`,
    // so a node that dies before its first answer is detected too (Akka's
    // triggerFirstHeartbeat).
    if (!n.detectors.is_monitoring(r) && now_ - added >= settings_.expected_response_after)
      n.detectors.heartbeat(r, now_);
    if (const auto slot = slot_of(r.address)) send(n, *slot, heartbeat, r.uid);
  }
}

void simulation::reaper_tick(sim_node& n) {
  if (n.phase != join_phase::member) return;
  const model::gossip& g = n.view->gossip();
  const model::reachability& before = g.reachability();
  model::reachability after = before;
  bool changed = false;
  // 1. Monitored members whose detector gave up, and that self still finds reachable.
  for (const auto& [r, added] : n.receivers) {
    if (!g.has_member(r) || before.status(n.self, r) != model::reachability_status::reachable) continue;
    if (n.detectors.is_available(r, now_)) continue;
    after = after.unreachable(n.self, r);
    changed = true;
    ++unreachable_records_;
    const auto slot = slot_of(r.address);
    if (slot) {
      const sim_node& subject = nodes_[*slot];
      if (subject.self == r && subject.life == node_life::running &&
          network_.connected(n.index, *slot) && network_.connected(*slot, n.index))
        ++false_unreachable_;
    }
    for (auto& v : victims_)
      if (v.node == r && !v.unreachable_at) v.unreachable_at = now_;
  }
  // 2. Members self marked unreachable that answer again.
  for (const auto& r : before.all_unreachable_from(n.self)) {
    if (!n.detectors.is_available(r, now_)) continue;
    after = after.reachable(n.self, r);
    changed = true;
  }
  if (changed) set_view(n, g.with_reachability(std::move(after)).increment(n.self).only_seen(n.self));
}

// ---------------------------------------------------------------------------------------
// Leader actions and downing

void simulation::leader_tick(sim_node& n) {
  if (n.phase != join_phase::member) return;
  if (n.view->leader() != n.self) {
    n.not_converged_since.reset();
    return;
  }
  // Exiting confirmations of nodes that are gone are of no use any more.
  std::erase_if(n.exiting_confirmed,
                [&](const unique_address& a) { return !n.view->gossip().has_member(a); });
  model::membership_settings ms = settings_.membership;
  ms.allow_weakly_up = n.not_converged_since &&
                       now_ - *n.not_converged_since >= settings_.weakly_up_after;
  auto r = n.view->state().leader_actions(ms, now_, n.exiting_confirmed);
  if (r.converged)
    n.not_converged_since.reset();
  else if (!n.not_converged_since)
    n.not_converged_since = now_;
  if (r.gossip.version() != n.view->gossip().version()) set_view(n, std::move(r.gossip));
}

// The split brain resolver's bookkeeping, on every view change (Akka's SplitBrainResolver
// reacting to cluster events): member up, downed or exited and any change of the set of
// unreachable members restart the stable-after period; joining, leaving and removal do
// not. Every change of the reachability table counts towards instability, which ends when
// every unreachable member is down or exiting.
void simulation::sbr_observe(sim_node& n, const node_view* before, const node_view& after) {
  const model::gossip& g = after.gossip();
  // Akka's MemberUp, MemberDowned and MemberExited; not MemberJoined, MemberWeaklyUp,
  // MemberLeft or MemberRemoved.
  auto resets = [](std::optional<member_status> from, member_status to) {
    const bool event = to == member_status::up || to == member_status::down || to == member_status::exiting;
    return event && from != to;
  };
  bool reset_stable = false;
  // 1. Member events.
  static const model::member_list none;
  const auto& was = before ? before->gossip().members() : none;
  const auto& is = g.members();
  const bool same_members = before && was.shares_items_with(is);
  for (std::size_t i = 0, j = 0; j < is.size() && !reset_stable && !same_members;) {
    if (i < was.size() && &was[i] == &is[j]) {  // one shared member: unchanged
      ++i;
      ++j;
    } else if (i < was.size() && was[i].unique_address() < is[j].unique_address()) {
      ++i;
    } else if (i < was.size() && was[i].unique_address() == is[j].unique_address()) {
      reset_stable = resets(was[i].status(), is[j].status());
      ++i;
      ++j;
    } else {
      reset_stable = resets(std::nullopt, is[j].status());
      ++j;
    }
  }
  // 2. Unreachable and reachable events (observations of downed members do not count).
  const bool reach_changed = before ? before->gossip().reachability() != g.reachability()
                                    : !g.reachability().is_all_reachable();
  auto unreachable_of = [&](const model::gossip& x) {
    std::set<unique_address> out;
    if (!x.reachability().is_all_reachable())
      for (const auto& u : x.reachability_excluding_downed_observers().all_unreachable_or_terminated())
        if (u != n.self) out.insert(u);
    return out;
  };
  if (reach_changed && !reset_stable)
    reset_stable = !before || unreachable_of(before->gossip()) != unreachable_of(g);
  if (reset_stable) n.stable_since = now_;
  // 3. Instability statistics.
  if (reach_changed) {
    if (!n.first_unstable) n.first_unstable = now_;
    n.last_unstable = now_;
  }
  if (n.first_unstable) {
    bool any_downable = false;
    for (const auto& u : unreachable_of(g)) {
      const model::member* m = g.find(u);
      if (m && m->status() != member_status::down && m->status() != member_status::exiting) any_downable = true;
    }
    if (!any_downable) n.first_unstable.reset();
  }
}

void simulation::downing_tick(sim_node& n) {
  if (n.phase != join_phase::member) return;
  const model::gossip& g = n.view->gossip();

  // 1. Instability statistics expire after twice stable-after without any change.
  if (n.first_unstable && now_ - n.last_unstable > 2 * settings_.sbr.stable_after) n.first_unstable.reset();

  // 2. Nothing to decide while every member is reachable.
  if (g.reachability().is_all_reachable()) return;

  // 3. The resolver's decision on this node's view. Its first steps need no snapshot: a
  //    node that is not the leader only acts on down-all-when-unstable, and the leader only
  //    once stable for `stable_after`; skip building the snapshot when neither can happen.
  const nanoseconds stable_for = now_ - n.stable_since;
  const nanoseconds unstable_for = n.first_unstable ? now_ - *n.first_unstable : nanoseconds::zero();
  const nanoseconds grace = model::effective_down_all_when_unstable(settings_.sbr);
  const bool may_down_all = grace > nanoseconds::zero() && unstable_for > settings_.sbr.stable_after + grace;
  const bool is_leader = n.view->leader() == n.self;
  if (!may_down_all && (!is_leader || stable_for < settings_.sbr.stable_after)) return;
  const model::sbr_decision d =
      model::resolve_split_brain(settings_.sbr, model::sbr_snapshot_of(g, n.self, stable_for, unstable_for));

  // 4. The leader acts on a decision; every node acts when unstable for too long. Self is
  //    downed last, after the others.
  const bool act = (d.outcome == model::sbr_outcome::decided && is_leader) ||
                   d.outcome == model::sbr_outcome::down_all_unstable;
  if (!act || d.to_down.empty()) return;
  model::gossip next = g;
  for (const auto& node : d.to_down)
    if (node != n.self) next = next.mark_as_down(node);
  if (d.to_down.contains(n.self)) next = next.mark_as_down(n.self);
  ++sbr_decisions_;
  if (d.outcome == model::sbr_outcome::down_all_unstable) ++sbr_down_all_;
  n.first_unstable.reset();
  n.stable_since = now_;
  set_view(n, next.increment(n.self).only_seen(n.self));
  // 5. Optionally spread the decision at once instead of at the next gossip ticks.
  if (d.outcome == model::sbr_outcome::decided && settings_.gossips_on_downing > 0 && !n.stop_requested)
    for (const auto& p : model::random_gossip_peers(n.view->target_input(), settings_.gossips_on_downing, rng_))
      gossip_to(n, p);
}

// ---------------------------------------------------------------------------------------
// View changes

void simulation::set_view(sim_node& n, model::gossip g) {
  view_ptr before = std::move(n.view);
  n.view = std::make_shared<const node_view>(std::move(g), n.self);
  if (before) n.view->inherit(*before);
  after_view_change(n, before);
}

void simulation::after_view_change(sim_node& n, const view_ptr& before) {
  if (settings_.check_invariants) check_view_change(n, before.get(), *n.view);
  sbr_observe(n, before.get(), *n.view);
  observe_views(n, before.get(), n.view.get());

  // A node that sees itself down stops; an exiting one confirms to the leader and stops
  // once removed, or after `exiting_timeout`.
  const member_status self_status = n.view->state().self_member().status();
  if (self_status == member_status::down || self_status == member_status::removed) {
    n.stop_requested = true;
  } else if (self_status == member_status::exiting && !n.exiting_since) {
    n.exiting_since = now_;
    if (const auto& leader = n.view->leader(); leader && *leader != n.self)
      if (const auto slot = slot_of(leader->address)) send(n, *slot, exiting_confirmed, leader->uid);
    schedule_timer(n, exiting_timer, settings_.exiting_timeout);
  }
}

// ---------------------------------------------------------------------------------------
// Observation

bool simulation::settled() const {
  if (violation_) return false;
  std::optional<std::uint64_t> version;
  for (const auto& n : nodes_) {
    if (n.life == node_life::idle || n.life == node_life::crashed || n.life == node_life::stopped)
      continue;
    if (n.life != node_life::running || n.phase != join_phase::member) return false;
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
    if (n.phase != join_phase::member) return who + " has not joined";
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
    if (n.life == node_life::running && n.phase == join_phase::member) ++count;
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
