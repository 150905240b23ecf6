#include "troupe/sharding/model/singleton_core.hpp"

#include <algorithm>
#include <utility>

#include "troupe/cluster/model/membership_state.hpp"
#include "troupe/cluster/model/oldest.hpp"

namespace troupe::sharding::model {

namespace {

using cluster::model::gossip;
using cluster::model::member;
using cluster::model::member_status;
using cluster::model::unique_address;

bool has_role(const member& m, const std::string& role) { return role.empty() || m.has_role(role); }

// A member that may be asked to take the singleton: a place holder that is not down.
bool live_holder(member_status s) noexcept {
  return s != member_status::down && cluster::model::holds_singleton_place(s);
}

// Hand-over-done messages from members not known yet are kept (in case the view that
// shows them comes later), up to this many.
constexpr std::size_t max_early_done = 1024;

}  // namespace

std::string_view to_string(singleton_state s) noexcept {
  switch (s) {
    case singleton_state::start: return "start";
    case singleton_state::younger: return "younger";
    case singleton_state::becoming_oldest: return "becoming_oldest";
    case singleton_state::oldest: return "oldest";
    case singleton_state::fenced: return "fenced";
    case singleton_state::stopping: return "stopping";
    case singleton_state::handing_over: return "handing_over";
    case singleton_state::end: return "end";
  }
  return "invalid";
}

singleton_core::singleton_core(singleton_core_settings settings, unique_address self)
    : settings_(std::move(settings)), self_(std::move(self)) {}

void singleton_core::on_view(const gossip& g, nanoseconds now) {
  has_view_ = true;
  // 1. This node: a member, gone (retire), exiting or down (retire).
  const member* me = g.find(self_);
  const bool first_as_member = me && !was_member_;
  if (me) {
    was_member_ = true;
    self_member_ = *me;
    if (me->status() == member_status::exiting || me->status() == member_status::down) retired_ = true;
  } else if (was_member_) {
    self_member_.reset();
    retired_ = true;
  }
  // 2. Who holds the place, who would take it from this node, and whether it is fenced.
  oldest_ = cluster::model::oldest_member(g, settings_.role);
  successor_.reset();
  const member* next = nullptr;
  for (const auto& m : g.members())
    if (m.unique_address() != self_ && has_role(m, settings_.role) && live_holder(m.status()) &&
        (!next || m.is_older_than(*next)))
      next = &m;
  if (next) successor_ = next->unique_address();
  fenced_ = settings_.downing && self_member_ && cluster::model::fenced_after(fenced_, g, self_, *settings_.downing);
  // 3. Every other member with the role that has been up, and when it was removed.
  for (const auto& m : g.members()) {
    if (m.unique_address() == self_ || !has_role(m, settings_.role) || m.up_number() == member::no_up_number) continue;
    auto [it, added] = peers_.try_emplace(m.unique_address(), peer{m, {}, {}, {}, false});
    if (!added) it->second.last = m;
    if (added && early_done_.erase(m.unique_address()) != 0) it->second.done = true;
  }
  for (auto& [node, p] : peers_)
    if (!p.removed_at && !g.has_member(node)) p.removed_at = now;
  // 4. Members removed before this node saw them (the tombstones of its first view as a
  //    member) may have held the singleton and still be stopping it: they count as older
  //    members that left.
  if (first_as_member)
    for (const auto& [node, when] : g.tombstones())
      if (node != self_) peers_.try_emplace(node, peer{member::removed_placeholder(node), now, {}, {}, false});
  evaluate(now);
}

void singleton_core::receive(const singleton_message& m, nanoseconds now) {
  const unique_address& from = sender_of(m);
  if (recipient_of(m) != self_ || from == self_) {
    ++stats_.rejected;
    return;
  }
  const auto it = peers_.find(from);
  std::visit(
      [&](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, hand_over_to_me>) {
          // Only an exiting, down or removed member is asked: this node retires for good.
          retired_ = true;
          requesters_.insert(from);
          evaluate(now);
          if (instance_ == instance::stopping) send(hand_over_in_progress{self_, from});
        } else if constexpr (std::is_same_v<T, hand_over_in_progress>) {
          if (it != peers_.end()) it->second.heard_at = now;
        } else if constexpr (std::is_same_v<T, hand_over_done>) {
          if (it != peers_.end()) {
            it->second.done = true;
            evaluate(now);
          } else if (early_done_.size() < max_early_done) {
            early_done_.insert(from);
          }
        } else if constexpr (std::is_same_v<T, take_over_from_me>) {
          if (it != peers_.end() && !it->second.done && is_oldest() && !retired_ && instance_ == instance::absent &&
              older_than_self(it->second)) {
            send(hand_over_to_me{self_, from});
            it->second.asked_at = now;
            ++stats_.hand_over_requests;
          }
        }
      },
      m);
}

void singleton_core::on_singleton_terminated(nanoseconds now) {
  if (instance_ == instance::absent) return;
  if (instance_ == instance::running) stopped_by_itself_ = true;
  instance_ = instance::absent;
  evaluate(now);
}

void singleton_core::on_tick(nanoseconds now) { evaluate(now); }

void singleton_core::retire(nanoseconds now) {
  retired_ = true;
  evaluate(now);
}

std::vector<singleton_output> singleton_core::take_outbox() { return std::exchange(outbox_, {}); }

singleton_state singleton_core::state() const noexcept {
  if (retired_) return instance_ == instance::absent ? singleton_state::end : singleton_state::handing_over;
  if (instance_ == instance::running) return singleton_state::oldest;
  if (instance_ == instance::stopping) return singleton_state::stopping;
  if (!has_view_) return singleton_state::start;
  if (!is_oldest()) return singleton_state::younger;
  if (fenced_) return singleton_state::fenced;
  return stopped_by_itself_ ? singleton_state::oldest : singleton_state::becoming_oldest;
}

std::vector<unique_address> singleton_core::waiting_for(nanoseconds now) const {
  std::vector<unique_address> out;
  if (retired_ || !is_oldest()) return out;
  for (const auto& [node, p] : peers_)
    if (older_than_self(p) && !let_go(p, now)) out.push_back(node);
  return out;
}

bool singleton_core::is_oldest() const noexcept { return oldest_ && oldest_->unique_address() == self_; }

bool singleton_core::eligible() const noexcept { return has_view_ && !retired_ && !fenced_ && is_oldest(); }

bool singleton_core::older_than_self(const peer& p) const {
  // A member only known from a tombstone has no known age: it may be older.
  if (p.last.status() == member_status::removed) return true;
  return self_member_ && p.last.is_older_than(*self_member_);
}

bool singleton_core::let_go(const peer& p, nanoseconds now) const {
  if (p.done) return true;
  if (!p.removed_at) return false;
  // Down, then removed: crashed, or fenced on the losing side long before.
  if (p.last.status() == member_status::down) return now >= *p.removed_at + settings_.removal_margin;
  // Left (or removed without this node seeing how): it answers, or it has gone quiet.
  const nanoseconds since = std::max(*p.removed_at, p.heard_at.value_or(*p.removed_at));
  const auto patience = settings_.hand_over_retry_interval * static_cast<std::int64_t>(settings_.max_hand_over_retries);
  return now >= since + patience;
}

void singleton_core::send(singleton_message m) { outbox_.emplace_back(send_to_peer{std::move(m)}); }

void singleton_core::evaluate(nanoseconds now) {
  // 1. Stop an instance that may no longer run here.
  if (instance_ == instance::running && !eligible()) {
    outbox_.emplace_back(stop_singleton{});
    instance_ = instance::stopping;
    ++stats_.stops;
  }
  if (!eligible()) stopped_by_itself_ = false;

  // 2. Retired: tell the new oldest to ask while the instance stops, and once it is gone
  //    tell whoever asked, and the new oldest, that this node has let go.
  if (retired_ && instance_ == instance::stopping && ran_ && successor_ && successor_ != told_take_over_) {
    send(take_over_from_me{self_, *successor_});
    told_take_over_ = successor_;
  }
  if (retired_ && instance_ == instance::absent) {
    for (const auto& r : requesters_) send(hand_over_done{self_, r});
    if (ran_ && successor_ && successor_ != told_done_ && !requesters_.contains(*successor_))
      send(hand_over_done{self_, *successor_});
    if (ran_ && successor_) told_done_ = successor_;
    requesters_.clear();
  }

  // 3. The oldest asks the older members still holding on, and starts once all let go.
  if (has_view_ && !retired_ && is_oldest() && instance_ == instance::absent && !stopped_by_itself_) {
    bool waiting = false;
    for (auto& [node, p] : peers_) {
      if (!older_than_self(p) || let_go(p, now)) continue;
      waiting = true;
      const bool quarantined = p.removed_at && p.last.status() == member_status::down;
      if (!quarantined && (!p.asked_at || now >= *p.asked_at + settings_.hand_over_retry_interval)) {
        send(hand_over_to_me{self_, node});
        p.asked_at = now;
        ++stats_.hand_over_requests;
      }
    }
    if (!waiting && !fenced_) {
      outbox_.emplace_back(start_singleton{});
      instance_ = instance::running;
      ran_ = true;
      ++stats_.starts;
    }
  }

  // 4. Forget removed members that have let go.
  for (auto it = peers_.begin(); it != peers_.end();) {
    const peer& p = it->second;
    if (p.removed_at && let_go(p, now)) {
      if (!p.done && p.last.status() != member_status::down && older_than_self(p)) ++stats_.given_up;
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace troupe::sharding::model
