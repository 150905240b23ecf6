#include "troupe/persistence/persistent_actor.hpp"

#include <atomic>
#include <chrono>
#include <limits>
#include <random>
#include <sstream>

#include "troupe/actor/log.hpp"

namespace troupe::persistence {

namespace detail {

// The store's answers, told by the store's thread to the actor. `incarnation` tells them
// apart from answers meant for an instance that has since restarted.
struct recovery_snapshot {
  std::uint64_t incarnation;
  expected<std::optional<snapshot_repr>, store_error> result;
};
struct recovery_events {
  std::uint64_t incarnation;
  expected<std::vector<persistent_repr>, store_error> result;
};
struct recovery_highest {
  std::uint64_t incarnation;
  expected<std::int64_t, store_error> result;
};
struct write_done {
  std::uint64_t incarnation;
  std::int64_t from, to;
  std::optional<store_error> error;
};
struct snapshot_done {
  std::uint64_t incarnation;
  std::int64_t sequence_nr;
  std::optional<store_error> error;
};
struct delete_done {
  std::uint64_t incarnation;
  std::string what;
  std::optional<store_error> error;
};
struct not_started {
  std::uint64_t incarnation;
};

}  // namespace detail

namespace {

std::atomic<std::uint64_t> next_incarnation{1};

std::string random_uuid() {
  std::random_device rd;
  std::ostringstream s;
  s << std::hex << rd() << rd() << '-' << rd() << rd();
  return s.str();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

persistent_actor::persistent_actor(std::string persistence_id)
    : id_(std::move(persistence_id)), incarnation_(next_incarnation.fetch_add(1)) {}

persistent_actor::~persistent_actor() = default;

void persistent_actor::become_command(behavior b) { command_ = std::move(b); }

behavior persistent_actor::make_behavior() {
  recover_ = receive_recover();
  command_ = receive_command();
  ext_ = &persistence::get(system());
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  if (!ext_->is_started() || id_.empty()) {
    me.tell(detail::not_started{inc});
  } else {
    store_ = ext_->store();
    settings_ = ext_->settings();
    writer_uuid_ = random_uuid();
    // 1. The latest snapshot; 2. the events after it (on_snapshot_loaded).
    store_.snapshots->load(id_, std::numeric_limits<std::int64_t>::max(),
                           [me, inc](expected<std::optional<snapshot_repr>, store_error> r) {
                             me.tell(detail::recovery_snapshot{inc, std::move(r)});
                           });
  }
  return behavior{[this](message& m) { dispatch(m); }};
}

void persistent_actor::dispatch(message& m) {
  if (auto* r = m.get_if<detail::recovery_snapshot>()) {
    if (r->incarnation == incarnation_) on_snapshot_loaded(*r);
  } else if (auto* e = m.get_if<detail::recovery_events>()) {
    if (e->incarnation == incarnation_) on_events_read(*e);
  } else if (auto* h = m.get_if<detail::recovery_highest>()) {
    if (h->incarnation == incarnation_) on_highest(*h);
  } else if (auto* w = m.get_if<detail::write_done>()) {
    if (w->incarnation == incarnation_) on_write_done(*w);
  } else if (auto* s = m.get_if<detail::snapshot_done>()) {
    if (s->incarnation != incarnation_) return;
    if (s->error) {
      TROUPE_LOG(log(), warning) << "persistence id \"" << id_ << "\": saving the snapshot at " << s->sequence_nr
                                 << " failed (" << describe(*s->error) << "); recovery replays more events";
    }
  } else if (auto* d = m.get_if<detail::delete_done>()) {
    if (d->incarnation == incarnation_ && d->error) {
      TROUPE_LOG(log(), warning) << "persistence id \"" << id_ << "\": deleting " << d->what << " failed ("
                                 << describe(*d->error) << ")";
    }
  } else if (auto* n = m.get_if<detail::not_started>()) {
    if (n->incarnation != incarnation_) return;
    fail(id_.empty() ? "a persistent actor needs a non-empty persistence id"
                     : "persistence is not started on this actor system: call "
                       "persistence::get(system).start(settings) first");
  } else if (persist_phase_ != persist_phase::running) {
    stash();
    return;
  } else if (!command_(m)) {
    unhandled(m);
  }
  if (persist_phase_ == persist_phase::running && !pending_.empty()) flush_events();
}

void persistent_actor::fail(const std::string& what) {
  TROUPE_LOG(log(), error) << "persistence id \"" << id_ << "\": " << what << "; stopping";
  persist_phase_ = persist_phase::recovering;  // stash whatever else is handled before the stop
  pending_.clear();
  writing_.clear();
  stop_self();
}

// ---- recovery ----

void persistent_actor::on_snapshot_loaded(detail::recovery_snapshot& r) {
  if (!r.result) return fail("recovery failed loading the latest snapshot (" + describe(r.result.error()) + ")");
  if (auto& snap = *r.result) {
    auto value = ext_->decode(std::move(snap->payload));
    if (!value) {
      return fail("recovery failed: the snapshot at sequence number " + std::to_string(snap->sequence_nr) +
                  " cannot be read (" + value.error() + ")");
    }
    if (!recover_(*value)) {
      return fail("recovery failed: receive_recover has no handler for the snapshot at sequence number " +
                  std::to_string(snap->sequence_nr) + " (" + value->type_name() + ")");
    }
    sequence_nr_ = last_snapshot_nr_ = snap->sequence_nr;
  }
  read_next_events();
}

void persistent_actor::read_next_events() {
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  store_.journal->read(id_, sequence_nr_ + 1, std::numeric_limits<std::int64_t>::max(), settings_.recovery_batch,
                       [me, inc](expected<std::vector<persistent_repr>, store_error> r) {
                         me.tell(detail::recovery_events{inc, std::move(r)});
                       });
}

void persistent_actor::on_events_read(detail::recovery_events& r) {
  if (!r.result) {
    return fail("recovery failed reading events after sequence number " + std::to_string(sequence_nr_) + " (" +
                describe(r.result.error()) + ")");
  }
  auto& events = *r.result;
  for (auto& e : events) {
    if (e.sequence_nr <= sequence_nr_) {
      return fail("recovery failed: the journal returned sequence number " + std::to_string(e.sequence_nr) +
                  " after " + std::to_string(sequence_nr_));
    }
    auto value = ext_->decode(std::move(e.payload));
    if (!value) {
      return fail("recovery failed: the event at sequence number " + std::to_string(e.sequence_nr) +
                  " cannot be read (" + value.error() + ")");
    }
    if (!recover_(*value)) {
      return fail("recovery failed: receive_recover has no handler for the event at sequence number " +
                  std::to_string(e.sequence_nr) + " (" + value->type_name() + ")");
    }
    sequence_nr_ = e.sequence_nr;
  }
  if (std::int64_t(events.size()) >= settings_.recovery_batch) return read_next_events();
  // 3. The highest number ever written, which deleted events may have left above the last read.
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  store_.journal->highest_sequence_nr(
      id_, [me, inc](expected<std::int64_t, store_error> h) { me.tell(detail::recovery_highest{inc, std::move(h)}); });
}

void persistent_actor::on_highest(detail::recovery_highest& r) {
  if (!r.result) return fail("recovery failed reading the highest sequence number (" + describe(r.result.error()) + ")");
  sequence_nr_ = std::max(sequence_nr_, *r.result);
  finish_recovery();
}

void persistent_actor::finish_recovery() {
  persist_phase_ = persist_phase::running;
  recover_ = behavior{};
  on_recovery_completed();
  unstash_all();
}

// ---- writing ----

void persistent_actor::add_event(message event, std::function<void(message&)> then) {
  if (persist_phase_ == persist_phase::recovering) {
    throw std::logic_error("persistence id \"" + id_ + "\": persist called while recovering");
  }
  pending_.push_back(pending_event{std::move(event), std::move(then)});
}

void persistent_actor::flush_events() {
  std::vector<persistent_repr> reprs;
  reprs.reserve(pending_.size());
  const std::int64_t ts = now_ms();
  for (const auto& p : pending_) {
    auto payload = ext_->encode(p.event);
    if (!payload) {
      return fail("the event " + p.event.type_name() + " cannot be stored (" + payload.error() +
                  "); register it with persistence::register_type");
    }
    reprs.push_back(persistent_repr{id_, sequence_nr_ + std::int64_t(reprs.size()) + 1, std::move(*payload),
                                    tags_of(p.event), writer_uuid_, ts});
  }
  writing_ = std::move(pending_);
  pending_.clear();
  persist_phase_ = persist_phase::writing;
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  const std::int64_t from = sequence_nr_ + 1, to = sequence_nr_ + std::int64_t(reprs.size());
  store_.journal->write(std::move(reprs), [me, inc, from, to](std::optional<store_error> err) {
    me.tell(detail::write_done{inc, from, to, std::move(err)});
  });
}

void persistent_actor::on_write_done(detail::write_done& w) {
  if (w.error) {
    return fail("persisting events " + std::to_string(w.from) + ".." + std::to_string(w.to) + " failed (" +
                describe(*w.error) + ")");
  }
  sequence_nr_ = w.to;
  persist_phase_ = persist_phase::running;
  auto done = std::move(writing_);
  writing_.clear();
  for (auto& p : done) p.then(p.event);
  // The state now is the state after `sequence_nr_` (events persisted by the handlers are
  // applied by their own handlers, after their write).
  if (settings_.snapshot_every > 0 && sequence_nr_ - last_snapshot_nr_ >= settings_.snapshot_every) {
    if (message state = snapshot_state()) save_snapshot_message(std::move(state));
  }
  if (!pending_.empty()) return flush_events();  // persisted by a handler: stay writing
  unstash_all();
}

// ---- snapshots and deletes ----

void persistent_actor::save_snapshot_message(message state) {
  auto payload = ext_->encode(state);
  if (!payload) {
    TROUPE_LOG(log(), warning) << "persistence id \"" << id_ << "\": the snapshot " << state.type_name()
                               << " cannot be stored (" << payload.error() << ")";
    return;
  }
  last_snapshot_nr_ = sequence_nr_;
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  const std::int64_t seq = sequence_nr_;
  store_.snapshots->save(snapshot_repr{id_, seq, now_ms(), std::move(*payload)},
                         [me, inc, seq](std::optional<store_error> err) {
                           me.tell(detail::snapshot_done{inc, seq, std::move(err)});
                         });
}

void persistent_actor::delete_events(std::int64_t to) {
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  store_.journal->delete_to(id_, to, [me, inc, to](std::optional<store_error> err) {
    me.tell(detail::delete_done{inc, "events up to " + std::to_string(to), std::move(err)});
  });
}

void persistent_actor::delete_snapshots(std::int64_t to) {
  const actor_ref me = self();
  const std::uint64_t inc = incarnation_;
  store_.snapshots->delete_to(id_, to, [me, inc, to](std::optional<store_error> err) {
    me.tell(detail::delete_done{inc, "snapshots up to " + std::to_string(to), std::move(err)});
  });
}

}  // namespace troupe::persistence
