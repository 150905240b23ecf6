// ask: request/response with a timeout.
//
// From outside actors, `ask` returns a future-like `ask_result`; `get()` blocks until the
// reply, or throws `ask_error` on timeout, when the recipient is (or becomes) dead, or
// when the reply has the wrong type. Inside an actor, `request` never blocks: the reply
// (or error) is handed to a callback that runs later on the actor's own turn.
//
//   int n = troupe::ask<int>(counter, get_count{}, 1s).get();
//
//   // inside an actor:
//   request<int>(counter, get_count{}, 1s, [this](troupe::expected<int, troupe::ask_error> r) {
//     if (r) total_ += *r;
//   });
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/base/expected.hpp"

namespace troupe {

/// Why an ask failed.
struct ask_error : std::runtime_error {
  enum class kind { timeout, dead_recipient, unexpected_reply };
  kind reason;
  ask_error(kind k, const std::string& what) : std::runtime_error(what), reason(k) {}
};

namespace detail {

/// Type-independent part of an ask: a temporary ref that takes one reply.
class ask_base {
 public:
  virtual ~ask_base() = default;
  /// Called once with the reply envelope (owned) or an error.
  virtual void complete(envelope* reply, std::optional<ask_error> error) = 0;
};

/// Sends `msg` to `target` from a temporary ref completing `state`; arms the timeout and
/// a watch of the target.
void start_ask(actor_system& sys, const actor_ref& target, message msg, std::chrono::nanoseconds timeout,
               std::shared_ptr<ask_base> state);
/// The incarnation of the actor running on this thread (each restart makes a new one).
std::uint64_t current_incarnation() noexcept;
/// Runs `fn` on `self`'s turn, unless `self` has restarted since `incarnation` (`fn` may
/// refer to the instance that is gone then).
void post_to_actor(const actor_ref& self, std::uint64_t incarnation, std::function<void()> fn);
/// In manual mode: runs the system until `ready()` or idle.
void drive_manual(actor_system& sys, const std::function<bool()>& ready);

template <class R>
class ask_state final : public ask_base {
 public:
  using callback = std::function<void(expected<R, ask_error>)>;
  explicit ask_state(std::string target) : target_(std::move(target)) {}

  void complete(envelope* reply, std::optional<ask_error> error) override {
    std::unique_ptr<envelope> owned(reply);
    std::optional<expected<R, ask_error>> result;
    if (error) {
      result.emplace(unexpected<ask_error>{*error});
    } else if (owned->type == type_id_of<R>()) {
      result.emplace(std::move(*static_cast<R*>(owned->payload())));
    } else {
      result.emplace(unexpected<ask_error>{ask_error(
          ask_error::kind::unexpected_reply,
          "ask " + target_ + ": expected a reply of type " + type_id_of<R>()->name() + ", got " +
              owned->type->name())});
    }
    callback cb;
    {
      std::lock_guard lock(mutex_);
      if (result_) return;
      cb = std::move(callback_);
      if (!cb) result_.emplace(std::move(*result));
    }
    if (cb) {
      cb(std::move(*result));
    } else {
      cv_.notify_all();
    }
  }

  void on_complete(callback cb) {
    std::lock_guard lock(mutex_);
    callback_ = std::move(cb);
  }

  bool ready() const {
    std::lock_guard lock(mutex_);
    return result_.has_value();
  }
  bool wait_for(std::chrono::nanoseconds d) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, d, [this] { return result_.has_value(); });
  }
  expected<R, ask_error> take() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return result_.has_value(); });
    return std::move(*result_);
  }

 private:
  std::string target_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<expected<R, ask_error>> result_;
  callback callback_;
};

}  // namespace detail

/// The pending answer of an `ask`.
template <class R>
class ask_result {
 public:
  /// Blocks until the reply; throws `ask_error`.
  R get() {
    auto r = result();
    if (!r) throw r.error();
    return std::move(r).value();
  }
  /// Blocks until the reply or the error.
  expected<R, ask_error> result() {
    if (system_->is_manual()) {
      detail::drive_manual(*system_, [s = state_] { return s->ready(); });
      if (!state_->ready()) {
        return unexpected<ask_error>{ask_error(ask_error::kind::timeout,
                                               "no reply while the system ran until idle (manual mode)")};
      }
    }
    return state_->take();
  }
  /// True once the reply (or the error) is there.
  bool ready() const { return state_->ready(); }
  /// Waits at most `d`; true when ready.
  bool wait_for(std::chrono::nanoseconds d) { return state_->wait_for(d); }

 private:
  template <class R2, class T>
  friend ask_result<R2> ask(actor_system&, const actor_ref&, T&&, std::chrono::nanoseconds);
  ask_result(actor_system* s, std::shared_ptr<detail::ask_state<R>> st) : system_(s), state_(std::move(st)) {}
  actor_system* system_;
  std::shared_ptr<detail::ask_state<R>> state_;
};

/// Sends `msg` to `target` and expects one reply of type `R` within `timeout`.
template <class R, class T>
ask_result<R> ask(actor_system& sys, const actor_ref& target, T&& msg, std::chrono::nanoseconds timeout) {
  auto state = std::make_shared<detail::ask_state<R>>(target.path());
  detail::start_ask(sys, target, make_message(std::forward<T>(msg)), timeout, state);
  return ask_result<R>(&sys, std::move(state));
}

template <class R, class T, class F>
void actor::request(const actor_ref& to, T&& msg, std::chrono::nanoseconds timeout, F&& on_reply) {
  auto state = std::make_shared<detail::ask_state<R>>(to.path());
  actor_ref me = self();
  const std::uint64_t incarnation = detail::current_incarnation();
  state->on_complete([me, incarnation, cb = std::forward<F>(on_reply)](expected<R, ask_error> r) mutable {
    auto shared = std::make_shared<expected<R, ask_error>>(std::move(r));
    detail::post_to_actor(me, incarnation, [cb = std::move(cb), shared]() mutable { cb(std::move(*shared)); });
  });
  detail::start_ask(system(), to, make_message(std::forward<T>(msg)), timeout, std::move(state));
}

}  // namespace troupe
