// actor: the base class of every actor, with its lifecycle hooks and its context.
//
// An actor processes one message at a time; nothing else touches its state. Derive,
// return a `behavior` from `make_behavior`, and use the protected context functions
// (`self`, `sender`, `spawn`, `watch`, `become`, `stash`, `timers`, ...) from handlers.
//
//   struct greeter : troupe::actor {
//     troupe::behavior make_behavior() override {
//       return {[this](const std::string& name) { reply("hello " + name); }};
//     }
//   };
//   auto g = system.spawn<greeter>("greeter");
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/actor/behavior.hpp"
#include "troupe/actor/log.hpp"
#include "troupe/actor/messages.hpp"
#include "troupe/actor/props.hpp"
#include "troupe/actor/supervision.hpp"

namespace troupe {

class actor_system;
namespace detail {
class actor_cell;
}

/// Keyed timers of one actor. Starting a timer with a key replaces the one with that key;
/// a cancelled or replaced timer's message is never delivered, even if already queued.
/// All timers are cancelled when the actor restarts or stops.
class timer_scheduler {
 public:
  /// Delivers `msg` to self once, after `delay`.
  template <class T>
  void start_single_timer(std::string key, T msg, std::chrono::nanoseconds delay) {
    start(std::move(key), make_message(std::move(msg)), delay, false);
  }
  /// Delivers a copy of `msg` to self every `interval` (first after one interval).
  template <class T>
  void start_periodic_timer(std::string key, T msg, std::chrono::nanoseconds interval) {
    static_assert(std::is_copy_constructible_v<T>, "a periodic timer's message is copied");
    start(std::move(key), make_message(std::move(msg)), interval, true);
  }
  /// Cancels the timer with `key` (no-op when none).
  void cancel(const std::string& key);
  /// Cancels every timer.
  void cancel_all();
  /// True when a timer with `key` is pending.
  bool is_timer_active(const std::string& key) const;

 private:
  friend class detail::actor_cell;
  explicit timer_scheduler(detail::actor_cell* c) : cell_(c) {}
  void start(std::string key, message msg, std::chrono::nanoseconds d, bool periodic);
  detail::actor_cell* cell_;
};

class actor {
 public:
  actor();
  actor(const actor&) = delete;
  actor& operator=(const actor&) = delete;
  virtual ~actor();

  /// The initial behavior, asked for once per instance (after the constructor).
  virtual behavior make_behavior() = 0;

  /// Runs before the first message (also on a fresh instance after restart, via post_restart).
  virtual void pre_start() {}
  /// Runs after the actor and all its children have stopped.
  virtual void post_stop() {}
  /// Runs on the failed instance before it is replaced. Default: stops all children and
  /// calls `post_stop`.
  virtual void pre_restart(const std::exception_ptr& reason);
  /// Runs on the fresh instance after a restart. Default: calls `pre_start`.
  virtual void post_restart(const std::exception_ptr& reason);
  /// How this actor supervises its children. Default: restart, unlimited.
  virtual troupe::supervisor_strategy supervisor_strategy() const;
  /// A message no handler matched. Default: publishes it as a dead letter (an unhandled
  /// `terminated` fails the actor with `death_pact_error`, as in Akka).
  virtual void unhandled(message& m);

 protected:
  /// This actor.
  actor_ref self() const;
  /// Sender of the message being processed (empty when it came from outside any actor).
  const actor_ref& sender() const;
  /// The supervisor.
  actor_ref parent() const;
  /// Living children.
  std::vector<actor_ref> children() const;
  /// The child named `name`, or an empty ref.
  actor_ref child(std::string_view name) const;
  /// Starts a child; `name` must be unique among the children ("" picks one).
  actor_ref spawn(const props& p, std::string name = {});
  template <class T, class... Args>
  actor_ref spawn(std::string name, Args&&... args) {
    return spawn(props::of<T>(std::forward<Args>(args)...), std::move(name));
  }
  /// Stops a child (or self) asynchronously; other actors are stopped by telling them
  /// `poison_pill`.
  void stop(const actor_ref& child);
  /// Stops this actor after the current message.
  void stop_self();

  /// Delivers `terminated` once when `other` stops (at once if it already has). Watching
  /// one's own child costs a bit in the children table; any other actor, a small record
  /// on each side.
  void watch(const actor_ref& other);
  /// Cancels a watch; no `terminated` for `other` is delivered afterwards.
  void unwatch(const actor_ref& other);

  /// Replaces the current behavior (`discard_old`) or pushes on top of it.
  void become(behavior b, bool discard_old = true);
  /// Pops the behavior pushed last (never below the initial one).
  void unbecome();
  /// Puts the current message aside until `unstash_all`.
  void stash();
  /// Prepends all stashed messages to the mailbox, in their original order.
  void unstash_all();

  /// This actor's keyed timers.
  timer_scheduler& timers();
  /// Delivers `receive_timeout` after `d` without messages; zero turns it off.
  void set_receive_timeout(std::chrono::nanoseconds d);

  /// Replies to the sender of the current message (dead letters when there is none).
  template <class T>
  void reply(T&& msg) {
    tell_sender(make_message(std::forward<T>(msg)));
  }
  /// Sends the current message on to `to`, keeping its original sender.
  void forward(const actor_ref& to);

  /// Asks `to` without blocking; `on_reply(expected<R, ask_error>)` runs later in this
  /// actor, with the reply or the error (timeout, dead recipient, wrong reply type); not at
  /// all if this actor restarts or stops first (it may capture `this`).
  template <class R, class T, class F>
  void request(const actor_ref& to, T&& msg, std::chrono::nanoseconds timeout, F&& on_reply);

  /// The actor system this actor lives in.
  actor_system& system() const;
  /// A logger whose source is this actor's path.
  const logger& log() const;

 private:
  friend class detail::actor_cell;
  void tell_sender(message m);
  detail::actor_cell* cell_;
};

}  // namespace troupe
