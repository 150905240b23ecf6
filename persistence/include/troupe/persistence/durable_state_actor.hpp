// durable_state_actor: an actor whose state is kept whole in the durable state store, with
// a revision (Akka's DurableStateBehavior, Orleans' grain state).
//
//   struct cart : troupe::persistence::durable_state_actor<cart_state> {
//     explicit cart(std::string id) : durable_state_actor("cart-" + id) {}
//     troupe::behavior receive_command() override {
//       return {[this](const add_item& a) {
//         cart_state next = state();
//         next.items.push_back(a.item);
//         persist_state(std::move(next), [to = sender()] { to.tell(item_added{}); });
//       }};
//     }
//   };
//
// On start and restart it reads its state (or starts from the initial one, revision 0),
// then handles commands; commands arriving before that, or while a state is being
// written, are stashed. `persist_state` writes revision `revision() + 1`; when the store
// holds another revision (a second incarnation wrote meanwhile), the write fails instead
// of overwriting, and the actor stops with the reason logged, as on any store failure, so
// that a backoff supervisor restarts it with the newer state. `State` is registered with
// `persistence::register_type`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "troupe/actor/actor.hpp"
#include "troupe/persistence/persistence.hpp"

namespace troupe::persistence {

namespace detail {
struct state_loaded;
struct state_written;
}  // namespace detail

/// The untyped part of durable_state_actor; derive from durable_state_actor<State>.
class durable_state_actor_base : public actor {
 public:
  explicit durable_state_actor_base(std::string persistence_id);
  ~durable_state_actor_base() override;

  /// The id the state is stored under.
  const std::string& persistence_id() const noexcept { return id_; }
  /// The revision of the state held (0: none stored yet).
  std::int64_t revision() const noexcept { return revision_; }

  /// Handles commands once the state is loaded.
  virtual behavior receive_command() = 0;
  /// Runs once the state is loaded, before the first command.
  virtual void on_recovery_completed() {}
  /// The tag stored with the state (for queries); none by default.
  virtual std::string tag() const { return {}; }

  behavior make_behavior() final;

 protected:
  /// Writes `state` as revision + 1; on success `apply` takes it and `then` runs.
  void write_state(message state, std::function<void()> then);
  /// Removes the stored state; on success the initial state is back (revision 0).
  void remove_state(std::function<void()> then);
  /// Takes a state read or written (a value of the typed actor's State).
  virtual void apply(message& state) = 0;
  /// Puts the initial state back.
  virtual void reset() = 0;

 private:
  void dispatch(message& m);
  void fail(const std::string& what);

  std::string id_;
  std::uint64_t incarnation_;
  persistence* ext_ = nullptr;
  plugin store_;
  bool ready_ = false;
  bool writing_ = false;
  std::int64_t revision_ = 0;
  behavior command_;
  message pending_state_;
  std::function<void()> pending_then_;
};

template <class State>
class durable_state_actor : public durable_state_actor_base {
 public:
  explicit durable_state_actor(std::string persistence_id, State initial = State{})
      : durable_state_actor_base(std::move(persistence_id)), initial_(initial), state_(std::move(initial)) {}

  /// The state held (the initial one until a stored one is read or written).
  const State& state() const noexcept { return state_; }

 protected:
  /// Writes `s` (see the file comment); `then()` runs once it is kept.
  template <class F>
  void persist_state(State s, F then) {
    write_state(make_message(std::move(s)), std::function<void()>(std::move(then)));
  }
  void persist_state(State s) {
    write_state(make_message(std::move(s)), {});
  }
  /// Removes the stored state; `then()` runs once it is gone.
  template <class F>
  void delete_state(F then) {
    remove_state(std::function<void()>(std::move(then)));
  }

 private:
  void apply(message& m) final {
    if (auto* s = m.get_if<State>()) state_ = std::move(*s);
  }
  void reset() final { state_ = initial_; }

  State initial_;
  State state_;
};

}  // namespace troupe::persistence
