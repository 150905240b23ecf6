#include "troupe/cluster/node_core.hpp"

#include <algorithm>
#include <utility>

namespace troupe::cluster {
namespace {

using model::member_status;
using model::unique_address;

}  // namespace

node_core::node_core(core_settings settings, model::unique_address self, std::uint64_t seed,
                     std::shared_ptr<model::heartbeat_ring_cache> rings)
    : settings_(std::move(settings)),
      self_(std::move(self)),
      rng_(seed),
      state_(model::gossip{}, self_),
      detectors_(settings_.failure_detector),
      rings_(rings ? std::move(rings) : std::make_shared<model::heartbeat_ring_cache>(1)) {}

// ---------------------------------------------------------------------------------------
// Commands

void node_core::join_seed_nodes(std::vector<model::address> seeds, nanoseconds now,
                                std::vector<model::address> known_members) {
  if (phase_ != core_phase::idle) return;
  seeds_ = std::move(seeds);
  known_members_ = std::move(known_members);
  if (seeds_.empty()) return;
  phase_ = core_phase::seed_process;
  seed_process_ = model::seed_process{self_.address, seeds_, known_members_, now};
  join_tick(now);
}

void node_core::join(const model::address& node, nanoseconds now) {
  if (phase_ == core_phase::member || phase_ == core_phase::stopped) return;
  if (node == self_.address) {
    join_self(now);
    return;
  }
  seeds_.clear();
  phase_ = core_phase::awaiting_welcome;
  join_target_ = node;
  join_deadline_ = now + settings_.retry_unsuccessful_join_after;
  outbox_.push_back({node, 0, protocol::join{self_, settings_.roles, settings_.app_version}});
}

void node_core::leave(const model::address& where, nanoseconds now) {
  if (phase_ != core_phase::member) return;
  if (auto g = state_.leave(where)) set_view(std::move(*g), now);
}

void node_core::down(const model::address& where, nanoseconds now) {
  if (phase_ != core_phase::member) return;
  if (auto g = state_.down(where)) set_view(std::move(*g), now);
}

// ---------------------------------------------------------------------------------------
// Messages

std::variant<protocol::init_join_ack, protocol::init_join_nack> node_core::answer_init_join() const {
  const member_status s = state_.self_member().status();
  if (phase_ == core_phase::member && s != member_status::down && s != member_status::exiting &&
      s != member_status::removed)
    return protocol::init_join_ack{self_.address};
  return protocol::init_join_nack{self_.address};
}

void node_core::receive(const protocol_message& m, nanoseconds now) {
  if (phase_ == core_phase::stopped) return;
  std::visit(
      [&](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, protocol::init_join_ack>) {
          if (phase_ != core_phase::seed_process) return;
          phase_ = core_phase::awaiting_welcome;
          join_target_ = msg.address;
          join_deadline_ = now + settings_.retry_unsuccessful_join_after;
          outbox_.push_back({msg.address, 0, protocol::join{self_, settings_.roles, settings_.app_version}});
        } else if constexpr (std::is_same_v<T, protocol::init_join_nack>) {
          // Only the first seed acts on nacks: when every other seed is not a member yet,
          // it forms the cluster at once instead of waiting for the timeout.
          if (phase_ != core_phase::seed_process) return;
          seed_process_.nacked(msg.address);
          seed_step(now);
        } else if constexpr (std::is_same_v<T, protocol::join>) {
          on_join(msg, now);
        } else if constexpr (std::is_same_v<T, protocol::welcome>) {
          if (phase_ != core_phase::awaiting_welcome || msg.from.address != join_target_ ||
              !msg.gossip.has_member(self_))
            return;
          if (msg.gossip.invariant_violation()) {
            ++stats_.rejected;
            return;
          }
          become_member(msg.gossip.seen(self_), now);
          gossip_to(msg.from);
        } else if constexpr (std::is_same_v<T, protocol::gossip_envelope>) {
          if (msg.to != self_) {
            ++stats_.rejected;
            return;
          }
          on_gossip(msg, now);
        } else if constexpr (std::is_same_v<T, protocol::gossip_status>) {
          if (msg.to != self_) {
            ++stats_.rejected;
            return;
          }
          on_status(msg);
        } else if constexpr (std::is_same_v<T, protocol::heartbeat>) {
          outbox_.push_back({msg.from, 0, protocol::heartbeat_rsp{self_, msg.sequence_nr, msg.creation_time}});
        } else if constexpr (std::is_same_v<T, protocol::heartbeat_rsp>) {
          if (receivers_.contains(msg.from)) detectors_.heartbeat(msg.from, now);
        } else if constexpr (std::is_same_v<T, protocol::exiting_confirmed>) {
          if (phase_ == core_phase::member && latest_gossip().has_member(msg.node)) exiting_confirmed_.insert(msg.node);
        } else if constexpr (std::is_same_v<T, protocol::leave>) {
          leave(msg.address, now);
        } else if constexpr (std::is_same_v<T, protocol::down>) {
          down(msg.address, now);
        } else {
          static_assert(std::is_same_v<T, protocol::init_join>);  // answered by answer_init_join
        }
      },
      m);
}

// ---------------------------------------------------------------------------------------
// Timers

void node_core::on_tick(tick t, nanoseconds now) {
  if (phase_ == core_phase::stopped) return;
  switch (t) {
    case tick::join: join_tick(now); break;
    case tick::gossip: gossip_tick(false); break;
    case tick::speedup: gossip_tick(true); break;
    case tick::heartbeat: heartbeat_tick(now); break;
    case tick::reaper: reaper_tick(now); break;
    case tick::leader: leader_tick(now); break;
    case tick::downing: downing_tick(now); break;
  }
}

bool node_core::any_down() const {
  if (!cache_.any_down) {
    const auto& ms = latest_gossip().members();
    cache_.any_down =
        std::any_of(ms.begin(), ms.end(), [](const model::member& m) { return m.status() == member_status::down; });
  }
  return *cache_.any_down;
}

const std::optional<unique_address>& node_core::leader() const {
  if (!cache_.leader) cache_.leader = state_.leader();
  return *cache_.leader;
}

bool node_core::speedup_needed() const {
  if (phase_ != core_phase::member) return false;
  return model::gossip_speedup_needed(latest_gossip().seen_count(), latest_gossip().members().size(), any_down());
}

std::optional<nanoseconds> node_core::downing_due() const {
  if (phase_ != core_phase::member || !settings_.downing || leader() != self_) return std::nullopt;
  if (latest_gossip().reachability().is_all_reachable()) return std::nullopt;
  return stable_since_ + settings_.downing->stable_after;
}

// ---------------------------------------------------------------------------------------
// Joining (Akka's FirstSeedNodeProcess, JoinSeedNodeProcess, join and welcome)

void node_core::join_tick(nanoseconds now) {
  if (phase_ == core_phase::member || phase_ == core_phase::idle) return;
  if (phase_ == core_phase::awaiting_welcome) {
    if (now < join_deadline_) return;
    if (seeds_.empty()) {  // joined one node by hand: ask it again
      join(join_target_, now);
      return;
    }
    phase_ = core_phase::seed_process;  // no Welcome in time: start over
    seed_process_ = model::seed_process{self_.address, seeds_, known_members_, now};
  }
  if (seed_step(now)) return;
  for (const auto& a : seed_process_.probe_targets()) outbox_.push_back({a, 0, protocol::init_join{}});
}

// The seed process's decision at `now`: a wait notice when one is due; true when this node
// formed a new cluster.
bool node_core::seed_step(nanoseconds now) {
  const model::seed_process_settings s{settings_.seed_node_timeout, settings_.first_seed_forms_cluster_when_alone,
                                       settings_.seed_wait_report_interval};
  const model::seed_decision d = seed_process_.step(s, now);
  if (d.report) seed_wait_notices_.push_back(seed_process_.wait_notice(s, now));
  if (d.step != model::seed_step::form_cluster) return false;
  join_self(now);
  return true;
}

void node_core::join_self(nanoseconds now) {
  const model::membership_state empty{model::gossip{}, self_};
  become_member(empty.join(model::member{self_, settings_.roles, settings_.app_version}).gossip, now);
  leader_tick(now);  // a new cluster's first member is moved up at once (as Akka does)
}

void node_core::become_member(model::gossip g, nanoseconds now) {
  phase_ = core_phase::member;
  stable_since_ = now;
  set_view(std::move(g), now);
}

void node_core::on_join(const protocol::join& j, nanoseconds now) {
  if (phase_ != core_phase::member) return;
  auto r = state_.join(model::member{j.node, j.roles, j.app_version});
  switch (r.outcome) {
    case model::join_outcome::added:
      set_view(std::move(r.gossip), now);
      [[fallthrough]];
    case model::join_outcome::already_member:
      outbox_.push_back({j.node.address, j.node.uid, protocol::welcome{self_, latest_gossip()}});
      break;
    case model::join_outcome::old_incarnation_downed:
      set_view(std::move(r.gossip), now);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------
// Gossip (Akka's ClusterCoreDaemon: gossipTick, receiveGossip, receiveGossipStatus)

model::gossip_target_input node_core::target_input() const {
  model::gossip_target_input in;
  in.self = self_;
  for (const auto& m : latest_gossip().members()) in.members.push_back(m.unique_address());
  in.seen_by = latest_gossip().seen_by();
  for (const auto& r : latest_gossip().reachability().records_from(self_))
    if (r.status != model::reachability_status::reachable) in.excluded.insert(r.subject);
  return in;
}

const model::gossip_digest& node_core::digest() const {
  if (!cache_.digest) cache_.digest = latest_gossip().digest();
  return *cache_.digest;
}

const model::gossip_peer_pools& node_core::peer_pools() const {
  if (!cache_.pools) cache_.pools = model::make_gossip_peer_pools(latest_gossip(), self_);
  return *cache_.pools;
}

void node_core::gossip_tick(bool speedup) {
  if (phase_ != core_phase::member || latest_gossip().is_singleton_cluster()) return;
  if (speedup && !speedup_needed()) return;  // an extra round re-checks (Akka's gossipSpeedupTick)
  if (auto target = model::select_gossip_target(settings_.gossip_target, peer_pools(), rng_)) {
    if (target->peer_has_seen)
      status_to(target->peer);
    else
      gossip_to(target->peer);
  }
}

void node_core::gossip_to(const unique_address& peer) {
  if (!state_.valid_node_for_gossip(peer)) return;
  ++stats_.gossip_sent;
  outbox_.push_back({peer.address, peer.uid, protocol::gossip_envelope{self_, peer, latest_gossip()}});
}

void node_core::status_to(const unique_address& peer) {
  if (!state_.valid_node_for_gossip(peer)) return;
  ++stats_.gossip_status_sent;
  outbox_.push_back({peer.address, peer.uid, protocol::gossip_status{self_, peer, digest()}});
}

void node_core::gossip_random(std::size_t n) {
  if (phase_ != core_phase::member && phase_ != core_phase::stopped) return;
  for (const auto& p : model::random_gossip_peers(target_input(), n, rng_)) gossip_to(p);
}

// The leader's downing or removal, to peers at once: in a small cluster to every reachable
// member, which then marks it seen and answers (the leader's convergence in one round trip).
void node_core::gossip_decision() {
  const std::size_t members = latest_gossip().members().size();
  gossip_random(settings_.gossips_on_downing.value_or(members <= small_cluster_members ? members : 0));
}

void node_core::on_gossip(const protocol::gossip_envelope& env, nanoseconds now) {
  if (phase_ != core_phase::member) return;
  ++stats_.gossip_received;
  const model::gossip& theirs = env.gossip;
  if (theirs.tombstones().contains(self_)) {
    stop(stop_cause::removed);
    return;
  }
  if (latest_gossip().tombstones().contains(env.from)) {
    quarantines_.push_back(env.from);  // a removed incarnation still talks: cut it off
    return;
  }
  // A member list already checked (this view's, or the last one accepted) is not walked again.
  const model::member_list& checked =
      theirs.members().shares_items_with(latest_gossip().members()) ? latest_gossip().members() : checked_members_;
  if (auto why = theirs.invariant_violation(checked)) {
    ++stats_.rejected;
    return;
  }
  checked_members_ = theirs.members();
  auto r = state_.receive_gossip(env.from, theirs);
  switch (r.receipt) {
    case model::gossip_receipt::ignored: return;
    case model::gossip_receipt::older:
    case model::gossip_receipt::same:
      if (r.gossip.seen_count() != latest_gossip().seen_count()) set_view(std::move(r.gossip), now);
      break;
    default:
      set_view(std::move(r.gossip), now);
      break;
  }
  if (r.talk_back && phase_ == core_phase::member) gossip_to(env.from);
  // A downed member waits for the seen marks of every reachable member; the leader removes
  // it as soon as the last mark arrives rather than at its next leader tick.
  if (phase_ == core_phase::member && any_down() && leader() == self_) leader_tick(now);
}

void node_core::on_status(const protocol::gossip_status& st) {
  if (phase_ != core_phase::member) return;
  const model::gossip& mine = latest_gossip();
  if (!mine.has_member(st.from) || !mine.is_reachable(self_, st.from)) return;
  switch (model::compare(st.digest, digest())) {
    case model::gossip_ordering::same: break;
    case model::gossip_ordering::newer: status_to(st.from); break;  // theirs is newer: ask
    case model::gossip_ordering::older:
    case model::gossip_ordering::concurrent: gossip_to(st.from); break;
  }
}

// ---------------------------------------------------------------------------------------
// Failure detection (Akka's ClusterHeartbeatSender and reapUnreachableMembers)

// 1. The ring depends on the members that are not joining (as Akka, joining members are
//    not monitored yet) and the unreachable ones: rebuilt only when they change, from the
//    shared cache. 2. Receivers no longer on it are forgotten; new ones are expected soon.
void node_core::update_ring(nanoseconds now) {
  if (cache_.ring_checked) return;
  cache_.ring_checked = true;
  const auto& g = latest_gossip();
  const std::uint64_t key = model::ring_key(g, settings_.monitored_by_nr_of_members);
  if (has_ring_ && key == ring_key_) return;
  has_ring_ = true;
  ring_key_ = key;
  const auto ring = rings_->ring_of(g, settings_.monitored_by_nr_of_members, key);
  const std::set<unique_address> wanted = ring ? ring->receivers_from_place(self_) : std::set<unique_address>{};
  for (auto it = receivers_.begin(); it != receivers_.end();) {
    if (!wanted.contains(it->first)) {
      detectors_.remove(it->first);
      it = receivers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& r : wanted) receivers_.try_emplace(r, now);
}

void node_core::heartbeat_tick(nanoseconds now) {
  if (phase_ != core_phase::member) return;
  update_ring(now);
  for (const auto& [r, added] : receivers_) {
    // A receiver that never answered still gets a detector after `expected_response_after`,
    // so a node that dies before its first answer is detected too (triggerFirstHeartbeat).
    if (!detectors_.is_monitoring(r) && now - added >= settings_.expected_response_after) detectors_.heartbeat(r, now);
    ++stats_.heartbeats_sent;
    outbox_.push_back({r.address, r.uid, protocol::heartbeat{self_.address, ++heartbeat_seq_, now}});
  }
}

void node_core::reaper_tick(nanoseconds now) {
  if (phase_ != core_phase::member) return;
  const model::gossip& g = latest_gossip();
  const model::reachability& before = g.reachability();
  model::reachability after = before;
  bool changed = false;
  bool lost = false;
  for (const auto& [r, added] : receivers_) {
    if (!g.has_member(r) || before.status(self_, r) != model::reachability_status::reachable) continue;
    if (detectors_.is_available(r, now)) continue;
    after = after.unreachable(self_, r);
    changed = lost = true;
  }
  for (const auto& r : before.all_unreachable_from(self_)) {
    if (!detectors_.is_available(r, now)) continue;
    after = after.reachable(self_, r);
    changed = true;
  }
  if (!changed) return;
  set_view(g.with_reachability(std::move(after)).increment(self_).only_seen(self_), now);
  // The split brain resolver's stable-after period starts when the leader learns of the
  // loss: tell it now rather than when a gossip round happens to pick it.
  if (const auto leader = this->leader(); lost && phase_ == core_phase::member && leader && *leader != self_)
    gossip_to(*leader);
}

// ---------------------------------------------------------------------------------------
// Leader actions and downing

void node_core::leader_tick(nanoseconds now) {
  if (phase_ != core_phase::member) return;
  if (leader() != self_) {
    not_converged_since_.reset();
    return;
  }
  std::erase_if(exiting_confirmed_, [&](const unique_address& a) { return !latest_gossip().has_member(a); });
  model::membership_settings ms = settings_.membership;
  ms.allow_weakly_up =
      settings_.membership.allow_weakly_up && not_converged_since_ && now - *not_converged_since_ >= settings_.weakly_up_after;
  auto r = state_.leader_actions(ms, now, exiting_confirmed_);
  if (r.converged)
    not_converged_since_.reset();
  else if (!not_converged_since_)
    not_converged_since_ = now;
  if (r.gossip.version() == latest_gossip().version()) return;
  const bool removes =
      std::any_of(r.changes.begin(), r.changes.end(), [](const auto& c) { return c.to == member_status::removed; });
  set_view(std::move(r.gossip), now);
  if (removes) gossip_decision();
}

// The split brain resolver's bookkeeping (Akka's SplitBrainResolver reacting to cluster events):
// member up, downed or exited and any change of the set of unreachable members restart
// the stable-after period; every change of the reachability table counts towards
// instability, which ends when every unreachable member is down or exiting.
void node_core::sbr_observe(const model::gossip& before, const model::gossip& after, nanoseconds now) {
  auto resets = [](std::optional<member_status> from, member_status to) {
    const bool event = to == member_status::up || to == member_status::down || to == member_status::exiting;
    return event && from != to;
  };
  // 1. Member events: a walk of both sorted lists, skipping the members they share.
  bool reset_stable = false;
  const auto& was = before.members();
  const auto& is = after.members();
  for (std::size_t i = 0, j = 0; j < is.size() && !reset_stable && !was.shares_items_with(is);) {
    if (i < was.size() && &was[i] == &is[j]) {
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
  const bool reach_changed = before.reachability() != after.reachability();
  auto unreachable_of = [&](const model::gossip& x) {
    std::set<unique_address> out;
    if (!x.reachability().is_all_reachable())
      for (const auto& u : x.reachability_excluding_downed_observers().all_unreachable_or_terminated())
        if (u != self_) out.insert(u);
    return out;
  };
  if (reach_changed && !reset_stable) reset_stable = unreachable_of(before) != unreachable_of(after);
  if (reset_stable) stable_since_ = now;
  if (reach_changed) {
    if (!first_unstable_) first_unstable_ = now;
    last_unstable_ = now;
  }
  if (first_unstable_) {
    bool any_downable = false;
    for (const auto& u : unreachable_of(after)) {
      const model::member* m = after.find(u);
      if (m && m->status() != member_status::down && m->status() != member_status::exiting) any_downable = true;
    }
    if (!any_downable) first_unstable_.reset();
  }
}

void node_core::downing_tick(nanoseconds now) {
  if (phase_ != core_phase::member || !settings_.downing) return;
  const model::sbr_settings& sbr = *settings_.downing;
  const model::gossip& g = latest_gossip();
  if (first_unstable_ && now - last_unstable_ > 2 * sbr.stable_after) first_unstable_.reset();
  if (g.reachability().is_all_reachable()) return;
  const nanoseconds stable_for = now - stable_since_;
  const nanoseconds unstable_for = first_unstable_ ? now - *first_unstable_ : nanoseconds::zero();
  const nanoseconds grace = model::effective_down_all_when_unstable(sbr);
  const bool may_down_all = grace > nanoseconds::zero() && unstable_for > sbr.stable_after + grace;
  const bool is_leader = leader() == self_;
  if (!may_down_all && (!is_leader || stable_for < sbr.stable_after)) return;
  const model::sbr_decision d = model::resolve_split_brain(sbr, model::sbr_snapshot_of(g, self_, stable_for, unstable_for));
  const bool act = (d.outcome == model::sbr_outcome::decided && is_leader) ||
                   d.outcome == model::sbr_outcome::down_all_unstable;
  if (!act || d.to_down.empty()) return;
  model::gossip next = g;
  for (const auto& node : d.to_down)
    if (node != self_) next = next.mark_as_down(node);
  if (d.to_down.contains(self_)) next = next.mark_as_down(self_);  // self last
  first_unstable_.reset();
  stable_since_ = now;
  set_view(next.increment(self_).only_seen(self_), now);
  if (phase_ == core_phase::member) gossip_decision();
}

// ---------------------------------------------------------------------------------------
// View changes

void node_core::set_view(model::gossip g, nanoseconds now) {
  const model::membership_state previous = std::exchange(state_, model::membership_state{std::move(g), self_});
  cache_ = view_cache{};
  ++stats_.view_changes;
  const model::gossip& before = previous.latest_gossip();
  const model::gossip& after = latest_gossip();
  sbr_observe(before, after, now);
  for (auto& e : diff_events(before, after, self_)) {
    if (const auto* removed = std::get_if<member_removed>(&e))
      if (removed->previous_status == member_status::down && removed->member.unique_address() != self_)
        quarantines_.push_back(removed->member.unique_address());
    events_.push_back(std::move(e));
  }
  const member_status self_status = state_.self_member().status();
  if (self_status == member_status::down) {
    stop(stop_cause::downed);
  } else if (self_status == member_status::removed && phase_ == core_phase::member) {
    stop(stop_cause::removed);
  } else if (self_status == member_status::exiting && phase_ == core_phase::member) {
    // Akka's exitingCompleted: tell a few peers (so they see the exiting without waiting
    // for the failure detector), confirm to the two members that may lead next, and stop.
    gossip_random(settings_.gossips_when_exiting);
    std::vector<model::member> others;
    for (const auto& m : after.members())
      if (m.unique_address() != self_) others.push_back(m);
    for (int k = 0; k < 2; ++k) {
      const auto next = state_.leader_of(others);
      if (!next) break;
      outbox_.push_back({next->address, next->uid, protocol::exiting_confirmed{self_}});
      std::erase_if(others, [&](const model::member& m) { return m.unique_address() == *next; });
    }
    stop(stop_cause::left);
  }
}

void node_core::stop(stop_cause cause) {
  if (phase_ == core_phase::stopped) return;
  // Spread the news before going (Akka's gossipRandomN before shutting down); an exiting
  // node has just done so.
  if (phase_ == core_phase::member && cause != stop_cause::left) gossip_random(settings_.gossips_before_shutdown);
  phase_ = core_phase::stopped;
  stop_cause_ = cause;
}

std::string_view to_string(stop_cause c) noexcept {
  switch (c) {
    case stop_cause::downed: return "downed";
    case stop_cause::removed: return "removed from the cluster";
    case stop_cause::left: return "left the cluster";
  }
  return "stopped";
}

std::vector<outgoing> node_core::take_outbox() { return std::exchange(outbox_, {}); }
std::vector<cluster_event> node_core::take_events() { return std::exchange(events_, {}); }
std::vector<unique_address> node_core::take_quarantines() { return std::exchange(quarantines_, {}); }
std::vector<model::seed_wait_notice> node_core::take_seed_wait_notices() {
  return std::exchange(seed_wait_notices_, {});
}

}  // namespace troupe::cluster
