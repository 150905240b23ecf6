#include "troupe/sharding/model/coordinator_core.hpp"

#include <algorithm>
#include <utility>

namespace troupe::sharding::model {

using cluster::model::member_status;

member_view view_of(const cluster::model::gossip& g, const std::string& role) {
  member_view v;
  for (const auto& m : g.members()) {
    if (m.status() == member_status::removed) continue;
    v.members.insert(m.unique_address());
    if (m.status() == member_status::up && (role.empty() || m.has_role(role))) v.up.insert(m.unique_address());
  }
  for (const auto& u : g.reachability_excluding_downed_observers().all_unreachable_or_terminated())
    if (v.members.contains(u)) v.unreachable.insert(u);
  return v;
}

coordinator_core::coordinator_core(coordinator_settings settings, coordinator_id self,
                                   std::unique_ptr<allocation_strategy> strategy, nanoseconds now)
    : settings_(settings), self_(std::move(self)), strategy_(std::move(strategy)), started_(now) {}

// ---------------------------------------------------------------------------------------
// Inputs

void coordinator_core::on_view(const member_view& view, nanoseconds now) {
  if (has_view_ && view == view_) return;
  view_ = view;
  has_view_ = true;
  active_dirty_ = true;
  // 1. A registered region whose node left the cluster is forgotten after the margin.
  auto schedule = [&](const region_id& r) {
    if (!view_.members.contains(r) && !removing_.contains(r)) removing_.emplace(r, now + settings_.removal_margin);
  };
  for (const auto& [r, shards] : table_.regions()) schedule(r);
  for (const auto& r : table_.proxies()) schedule(r);
  // 2. Nobody waits for, or reserves shards for, a node that is gone.
  std::erase_if(expected_regions_, [&](const region_id& r) { return !view_.members.contains(r); });
  std::erase_if(reserved_, [&](const auto& kv) { return !view_.members.contains(kv.second); });
  // 3. Removals due now (a zero margin), then whatever the change unblocked.
  on_tick(coordinator_tick::timers, now);
}

void coordinator_core::receive(const coordinator_input& m, nanoseconds now) {
  std::visit(
      [&](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, register_region>) {
          on_register(msg, now);
        } else if constexpr (std::is_same_v<T, get_shard_home>) {
          on_get_shard_home(msg, now);
        } else if constexpr (std::is_same_v<T, shard_started>) {
          if (auto it = hosting_.find(msg.shard); it != hosting_.end() && it->second.region == msg.region)
            hosting_.erase(it);
        } else if constexpr (std::is_same_v<T, begin_handoff_ack>) {
          on_begin_handoff_ack(msg, now);
        } else if constexpr (std::is_same_v<T, shard_stopped>) {
          on_shard_stopped(msg, now);
        } else if constexpr (std::is_same_v<T, graceful_shutdown_request>) {
          on_graceful_shutdown(msg, now);
        } else if constexpr (std::is_same_v<T, region_stopped>) {
          if (is_registered(msg.region)) terminate_region(msg.region, now);
        } else if constexpr (std::is_same_v<T, assign_shard>) {
          strategy_->assign(msg.shard, msg.region);
          retry_waiting(now);
        }
      },
      m);
  finish();
}

void coordinator_core::on_tick(coordinator_tick t, nanoseconds now) {
  if (t == coordinator_tick::rebalance) {
    rebalance(now);
    finish();
    return;
  }
  // 1. Regions whose removal margin has passed.
  std::vector<region_id> due;
  for (const auto& [r, at] : removing_)
    if (at <= now) due.push_back(r);
  for (const auto& r : due) terminate_region(r, now);
  // 2. host_shard not acknowledged in time goes again.
  for (auto& [s, h] : hosting_) {
    if (now - h.sent >= settings_.shard_start_timeout) {
      send(h.region, host_shard{self_, s});
      h.sent = now;
    }
  }
  // 3. Hand-offs past their deadline: go on without the missing acks, or ask the owner again.
  for (auto& [s, w] : handoffs_) {
    if (now < w.deadline) continue;
    if (w.acking) {
      ++stats_.ack_timeouts;
      send_handoff(s, w, now);
    } else {
      send(w.owner, handoff{self_, s, w.id, w.acked});
      w.deadline = now + settings_.handoff_timeout;
    }
  }
  // 4. Recovery, then requests that may be answerable now.
  invite_registrations();
  check_recovered(now);
  retry_waiting(now);
  finish();
}

void coordinator_core::remember_shards(const std::vector<shard_id>& shards, nanoseconds now) {
  remembered_.insert(shards.begin(), shards.end());
  retry_waiting(now);
  finish();
}

std::vector<coordinator_output> coordinator_core::take_outbox() {
  finish();
  return std::exchange(outbox_, {});
}

std::set<shard_id> coordinator_core::handoffs_in_progress() const {
  std::set<shard_id> out;
  for (const auto& [s, w] : handoffs_) out.insert(s);
  return out;
}

// ---------------------------------------------------------------------------------------
// Registration and recovery

void coordinator_core::on_register(const register_region& m, nanoseconds now) {
  const region_id& r = m.region;
  if (has_view_ && !view_.members.contains(r)) {
    ++stats_.rejected;  // a node that is not (or no longer) a member
    return;
  }
  removing_.erase(r);
  if (!is_registered(r)) {
    if (m.proxy ? table_.add_proxy(r) : table_.add_region(r)) changed_regions();
    active_dirty_ = true;
  }
  // 1. What it hosts is its own; a shard that has another home is a second claim, which
  //    must stop (handed off with no markers to wait for).
  if (!m.proxy) {
    for (const auto& s : m.hosted) {
      const auto home = table_.home_of(s);
      if (!home) {
        if (table_.allocate(s, r)) {
          active_dirty_ = true;
          reserved_.erase(s);
        }
      } else if (*home != r) {
        ++stats_.conflicts;
        send(r, handoff{self_, s, next_handoff_id_++, {}});
      }
    }
  }
  // 2. Homes it cached for regions not registered yet are kept for them (recovery only:
  //    afterwards this coordinator made every allocation itself).
  if (recovering_) {
    for (const auto& h : m.known_homes) {
      if (!table_.home_of(h.shard) && !is_registered(h.region) && (!has_view_ || view_.members.contains(h.region)))
        reserved_.emplace(h.shard, h.region);
    }
    if (m.regions_version > best_regions_version_) {
      best_regions_version_ = m.regions_version;
      expected_regions_.clear();
      for (const auto& k : m.known_regions)
        if (!has_view_ || view_.members.contains(k)) expected_regions_.insert(k);
    }
  }
  regions_version_ = std::max(regions_version_, m.regions_version);
  // 3. Its own claims are authoritative: nothing stays reserved for it.
  std::erase_if(reserved_, [&](const auto& kv) { return kv.second == r; });
  send(r, register_ack{self_});
  check_recovered(now);
  retry_waiting(now);
}

void coordinator_core::invite_registrations() {
  if (!recovering_ || !has_view_) return;
  std::set<region_id> wanted = expected_regions_;
  wanted.insert(view_.up.begin(), view_.up.end());
  for (const auto& r : wanted)
    if (!is_registered(r) && !view_.unreachable.contains(r)) send(r, please_register{self_});
}

void coordinator_core::check_recovered(nanoseconds now) {
  if (!recovering_) return;
  for (const auto& r : expected_regions_)
    if (!is_registered(r)) return;
  bool all_up = has_view_;
  if (has_view_)
    for (const auto& r : view_.up)
      if (!is_registered(r)) all_up = false;
  if (!all_up && now - started_ < settings_.recovery_timeout) return;
  recovering_ = false;
  expected_regions_.clear();
  changed_regions();  // everyone learns the set this coordinator starts from
}

// ---------------------------------------------------------------------------------------
// Allocation

bool coordinator_core::may_host(const region_id& r) const {
  return has_view_ && table_.is_region(r) && view_.up.contains(r) && !view_.unreachable.contains(r) &&
         !shutting_down_.contains(r) && !removing_.contains(r);
}

const allocation_view& coordinator_core::active_view() {
  if (active_dirty_) {
    active_.regions.clear();
    for (const auto& [r, shards] : table_.regions())
      if (may_host(r)) active_.regions.emplace(r, std::vector<shard_id>(shards.begin(), shards.end()));
    active_dirty_ = false;
  }
  return active_;
}

void coordinator_core::on_get_shard_home(const get_shard_home& m, nanoseconds now) {
  if (!is_registered(m.region)) {
    ++stats_.rejected;
    send(m.region, please_register{self_});
    return;
  }
  if (!recovering_ && !handoffs_.contains(m.shard) && !reserved_.contains(m.shard)) {
    if (auto home = table_.home_of(m.shard)) {
      send(m.region, shard_home{self_, m.shard, *home});
      return;
    }
  }
  waiting_[m.shard].insert(m.region);
  if (!recovering_ && !handoffs_.contains(m.shard) && !reserved_.contains(m.shard)) try_allocate(m.shard, m.region, now);
}

bool coordinator_core::try_allocate(const shard_id& s, const region_id& requester, nanoseconds now) {
  const allocation_view& v = active_view();
  if (v.regions.empty()) return false;
  const auto chosen = strategy_->allocate(s, requester, v);
  if (!chosen || !v.regions.contains(*chosen) || !table_.allocate(s, *chosen)) return false;
  // Keep the cached view in step (a sorted insert into one region's list).
  auto& list = active_.regions.at(*chosen);
  list.insert(std::lower_bound(list.begin(), list.end(), s), s);
  ++stats_.allocations;
  hosting_[s] = host_request{*chosen, now};
  send(*chosen, host_shard{self_, s});
  answer_waiting(s, now);
  return true;
}

void coordinator_core::answer_waiting(const shard_id& s, nanoseconds) {
  const auto it = waiting_.find(s);
  if (it == waiting_.end()) return;
  const auto home = table_.home_of(s);
  if (home) {
    for (const auto& r : it->second)
      if (r != *home && is_registered(r)) send(r, shard_home{self_, s, *home});
  }
  waiting_.erase(it);
}

void coordinator_core::retry_waiting(nanoseconds now) {
  if (recovering_) return;
  // 1. Requests for shards that have no home yet (or whose home was given meanwhile).
  std::vector<std::pair<shard_id, region_id>> todo;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    std::erase_if(it->second, [&](const region_id& r) { return !is_registered(r); });
    if (it->second.empty()) {
      it = waiting_.erase(it);
      continue;
    }
    if (!handoffs_.contains(it->first) && !reserved_.contains(it->first)) todo.emplace_back(it->first, *it->second.begin());
    ++it;
  }
  for (const auto& [s, requester] : todo) {
    if (table_.home_of(s))
      answer_waiting(s, now);
    else
      try_allocate(s, requester, now);
  }
  // 2. Remembered shards always have a home.
  for (const auto& s : remembered_)
    if (!table_.home_of(s) && !handoffs_.contains(s) && !reserved_.contains(s)) try_allocate(s, self_.node, now);
}

// ---------------------------------------------------------------------------------------
// Hand-off

void coordinator_core::rebalance(nanoseconds now) {
  if (recovering_ || !has_view_) return;
  // A rebalance only starts while every registered region can be heard (see the header).
  for (const auto& r : view_.unreachable)
    if (is_registered(r)) return;
  const auto shards = strategy_->rebalance(active_view(), handoffs_in_progress());
  for (const auto& s : shards) {
    if (handoffs_.contains(s) || !table_.home_of(s)) continue;
    ++stats_.rebalances_started;
    start_handoff(s, now);
  }
}

void coordinator_core::start_handoff(const shard_id& s, nanoseconds now) {
  const auto owner = table_.home_of(s);
  if (!owner) return;
  handoff_worker w;
  w.owner = *owner;
  w.id = next_handoff_id_++;
  w.deadline = now + settings_.handoff_timeout;
  // 1. Every region and proxy stops sending to the owner; the reachable ones must confirm.
  auto tell = [&](const region_id& r) {
    send(r, begin_handoff{self_, s, *owner, w.id});
    if (!view_.unreachable.contains(r)) w.waiting.insert(r);
  };
  for (const auto& [r, shards] : table_.regions()) tell(r);
  for (const auto& r : table_.proxies()) tell(r);
  auto& placed = handoffs_[s] = std::move(w);
  // 2. Nobody to wait for: the owner may stop the shard at once.
  if (placed.waiting.empty()) send_handoff(s, placed, now);
}

void coordinator_core::send_handoff(const shard_id& s, handoff_worker& w, nanoseconds now) {
  w.acking = false;
  w.waiting.clear();
  std::sort(w.acked.begin(), w.acked.end());
  w.deadline = now + settings_.handoff_timeout;
  send(w.owner, handoff{self_, s, w.id, w.acked});
}

void coordinator_core::on_begin_handoff_ack(const begin_handoff_ack& m, nanoseconds now) {
  const auto it = handoffs_.find(m.shard);
  if (it == handoffs_.end() || !it->second.acking) return;  // late: the hand-off went on already
  auto& w = it->second;
  if (w.waiting.erase(m.region) == 0) return;
  w.acked.push_back(m.region);
  if (w.waiting.empty()) send_handoff(m.shard, w, now);
}

void coordinator_core::on_shard_stopped(const shard_stopped& m, nanoseconds now) {
  const auto it = handoffs_.find(m.shard);
  if (it == handoffs_.end() || it->second.owner != m.region) return;  // a second claim's stop, or stale
  handoffs_.erase(it);
  hosting_.erase(m.shard);
  if (table_.deallocate(m.shard)) active_dirty_ = true;  // the region set is as it was
  ++stats_.handoffs_completed;
  ack_shutdown_if_done(m.region);
  // Allocated anew at once when someone waits for it; otherwise on its next request.
  const auto w = waiting_.find(m.shard);
  if (w != waiting_.end() && !w->second.empty())
    try_allocate(m.shard, *w->second.begin(), now);
  else if (settings_.remember_entities || remembered_.contains(m.shard))
    try_allocate(m.shard, self_.node, now);
}

void coordinator_core::on_graceful_shutdown(const graceful_shutdown_request& m, nanoseconds now) {
  if (table_.is_proxy(m.region)) {
    terminate_region(m.region, now);
    send(m.region, graceful_shutdown_ack{self_});
    return;
  }
  if (!table_.is_region(m.region)) {
    send(m.region, graceful_shutdown_ack{self_});  // holds nothing here (a retry after it was forgotten)
    return;
  }
  if (shutting_down_.insert(m.region).second) active_dirty_ = true;
  const auto it = table_.regions().find(m.region);
  const std::vector<shard_id> shards(it->second.begin(), it->second.end());
  for (const auto& s : shards)
    if (!handoffs_.contains(s)) start_handoff(s, now);
  ack_shutdown_if_done(m.region);
}

// A shutting-down region may stop once the table gives it no shard: every host_shard it
// was sent has been followed by a hand-off it finished.
void coordinator_core::ack_shutdown_if_done(const region_id& r) {
  if (!shutting_down_.contains(r)) return;
  const auto it = table_.regions().find(r);
  if (it != table_.regions().end() && !it->second.empty()) return;
  send(r, graceful_shutdown_ack{self_});
}

void coordinator_core::terminate_region(const region_id& r, nanoseconds now) {
  removing_.erase(r);
  shutting_down_.erase(r);
  std::vector<shard_id> freed;
  if (table_.is_proxy(r) || table_.is_region(r)) {
    freed = table_.remove_region(r);
    changed_regions();
    active_dirty_ = true;
  }
  // 1. Its shards have no home; hand-offs it owned are over, and nobody waits for its ack.
  for (const auto& s : freed) {
    hosting_.erase(s);
    handoffs_.erase(s);
  }
  for (auto& [s, w] : handoffs_) {
    if (w.acking && w.waiting.erase(r) > 0 && w.waiting.empty()) send_handoff(s, w, now);
  }
  // 2. Its shards come back where someone waits for them (or all of them with remember).
  for (const auto& s : freed) {
    const auto w = waiting_.find(s);
    if (w != waiting_.end() && !w->second.empty())
      try_allocate(s, *w->second.begin(), now);
    else if (settings_.remember_entities || remembered_.contains(s))
      try_allocate(s, self_.node, now);
  }
}

// ---------------------------------------------------------------------------------------
// Output

void coordinator_core::send(const region_id& to, coordinator_output_message m) {
  std::visit([&](auto& x) { x.to = to; }, m);
  outbox_.push_back({to, std::move(m)});
}

void coordinator_core::finish() {
  if (!regions_dirty_ || recovering_) return;
  regions_dirty_ = false;
  ++regions_version_;
  std::vector<region_id> all;
  for (const auto& [r, shards] : table_.regions()) all.push_back(r);
  for (const auto& r : table_.proxies()) all.push_back(r);
  std::sort(all.begin(), all.end());
  for (const auto& r : all) send(r, region_set{self_, regions_version_, all});
}

}  // namespace troupe::sharding::model
