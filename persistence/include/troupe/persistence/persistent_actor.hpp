// persistent_actor: an event-sourced actor (Akka's persistent actor). Its state is the
// result of its events: it persists events, and on every start or restart it recovers by
// replaying them (from the latest snapshot on).
//
//   struct account : troupe::persistence::persistent_actor {
//     explicit account(std::string id) : persistent_actor("account-" + id) {}
//     std::int64_t balance_ = 0;
//     troupe::behavior receive_recover() override {       // events (and snapshots) on recovery
//       return {[this](const deposited& e) { balance_ += e.amount; },
//               [this](const balance_snapshot& s) { balance_ = s.balance; }};
//     }
//     troupe::behavior receive_command() override {       // commands, once recovered
//       return {[this](const deposit& d) {
//         persist(deposited{d.amount}, [this, to = sender()](const deposited& e) {
//           balance_ += e.amount;                          // runs after the write is kept
//           to.tell(deposit_done{balance_});
//         });
//       }};
//     }
//     troupe::message snapshot_state() const override { return troupe::make_message(balance_snapshot{balance_}); }
//   };
//
// The rules:
// - Commands arriving while it recovers, or while events of a command are being written,
//   are stashed and handled afterwards in their order. Events persisted by one command
//   (`persist` and `persist_all` calls in one handler) go in one atomic write; their
//   handlers run in order after the write, before the next command.
// - Recovery: the latest snapshot is offered to `receive_recover` as its value, then every
//   later event in order, then `on_recovery_completed`, then the stashed commands.
// - A write that fails (another writer took the sequence number, the database is gone) or
//   a recovery that fails (an event cannot be read, no handler for it) stops the actor with
//   the reason logged: a backoff supervisor restarts it, and it recovers again from the
//   store. The store's one-writer rule means two incarnations (after a split brain) can
//   never interleave their events: the second writer fails and stops.
// - Event types (and snapshot types) are registered with `persistence::register_type`.
// - `sender()` inside a persist handler is not the command's sender: capture it.
// - An actor that stops (passivation, a shard handed off, `poison_pill`) while a write is
//   in flight never runs that write's handler, so the command is not answered, although
//   the events may be kept: the next incarnation recovers them. Senders that need an
//   answer resend after a timeout with an id the actor recognises (samples/bank does).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actor/actor.hpp"
#include "troupe/persistence/persistence.hpp"
#include "troupe/persistence/store.hpp"

namespace troupe::persistence {

namespace detail {
struct recovery_snapshot;
struct recovery_events;
struct recovery_highest;
struct write_done;
struct snapshot_done;
struct delete_done;
}  // namespace detail

class persistent_actor : public actor {
 public:
  explicit persistent_actor(std::string persistence_id);
  ~persistent_actor() override;

  /// The id its events are stored under.
  const std::string& persistence_id() const noexcept { return id_; }
  /// The sequence number of the last event persisted or recovered (0: none).
  std::int64_t last_sequence_nr() const noexcept { return sequence_nr_; }
  /// True while it replays its events.
  bool is_recovering() const noexcept { return persist_phase_ == persist_phase::recovering; }

  /// Handles events and snapshots while recovering.
  virtual behavior receive_recover() = 0;
  /// Handles commands once recovered.
  virtual behavior receive_command() = 0;
  /// Runs once every event is replayed, before the first command.
  virtual void on_recovery_completed() {}
  /// The state to snapshot when `snapshot-every` events have been persisted since the last
  /// snapshot; an empty message (the default) takes none.
  virtual message snapshot_state() const { return {}; }
  /// The tags of an event (for events_by_tag); none by default.
  virtual std::vector<std::string> tags_of(const message& /*event*/) const { return {}; }

  /// Replaces the command behavior (as `become` does for a plain actor).
  void become_command(behavior b);

  behavior make_behavior() final;

 protected:
  /// Persists `event`; `then(event)` runs after it is written (see the file comment).
  template <class T, class F>
  void persist(T event, F then) {
    using V = std::remove_cvref_t<T>;
    add_event(make_message(std::move(event)),
              [then = std::move(then)](message& m) mutable { then(*m.get_if<V>()); });
  }
  /// Persists `events` atomically, `then(e)` after the write for each, in order.
  template <class T, class F>
  void persist_all(std::vector<T> events, F then) {
    auto shared = std::make_shared<F>(std::move(then));
    for (auto& e : events) {
      add_event(make_message(std::move(e)), [shared](message& m) { (*shared)(*m.get_if<T>()); });
    }
  }
  /// Saves `state` as the snapshot after `last_sequence_nr()`.
  template <class T>
  void save_snapshot(T state) {
    save_snapshot_message(make_message(std::move(state)));
  }
  /// Deletes the events up to and including `to` (the numbering goes on after them).
  void delete_events(std::int64_t to);
  /// Deletes the snapshots up to and including sequence number `to`.
  void delete_snapshots(std::int64_t to);

 private:
  enum class persist_phase { recovering, running, writing };
  struct pending_event {
    message event;
    std::function<void(message&)> then;
  };

  void add_event(message event, std::function<void(message&)> then);
  void save_snapshot_message(message state);
  void dispatch(message& m);
  void flush_events();
  void on_snapshot_loaded(detail::recovery_snapshot& r);
  void on_events_read(detail::recovery_events& r);
  void on_highest(detail::recovery_highest& r);
  void on_write_done(detail::write_done& r);
  void read_next_events();
  void finish_recovery();
  void fail(const std::string& what);

  std::string id_;
  std::uint64_t incarnation_;  ///< tells this instance's store replies from a predecessor's
  persistence* ext_ = nullptr;
  plugin store_;
  persistence_settings settings_;
  std::string writer_uuid_;
  persist_phase persist_phase_ = persist_phase::recovering;
  std::int64_t sequence_nr_ = 0;
  std::int64_t last_snapshot_nr_ = 0;
  behavior recover_;
  behavior command_;
  std::vector<pending_event> pending_;  ///< persisted by the handler running now
  std::vector<pending_event> writing_;  ///< in the write in flight
};

}  // namespace troupe::persistence
