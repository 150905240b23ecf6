// testkit: testing actor hierarchies from Catch2 (or any test framework).
//
// `test_probe` is a real actor whose mailbox you inspect from the test: it can send as
// itself, expect messages of a type within a timeout, skip uninteresting ones, watch
// other actors and reply to whoever wrote to it last. Failures throw `testkit_error`
// with a readable message, which fails the test.
//
//   troupe::actor_system sys("test");
//   troupe::testkit::test_probe probe(sys);
//   auto counter = sys.spawn<counter_actor>("counter");
//   probe.send(counter, get_count{});
//   CHECK(probe.expect_msg<int>() == 0);
//
// Deterministic mode: with `testkit::manual_settings()` nothing runs by itself. The test
// steps the system message by message (`sys.run_one()`), runs it until idle
// (`sys.run_until_idle()`), and moves time by hand (`sys.advance_time(5s)` fires the
// timers that fall due, in order). Probes drive a manual system themselves: expecting a
// message runs the system until idle and, if needed, advances time up to the timeout.
//
// Timeouts are multiplied by the environment variable TROUPE_TEST_TIME_FACTOR (default 1),
// for slow machines and sanitizer builds.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/messages.hpp"

namespace troupe::testkit {

/// A failed expectation.
struct testkit_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Settings for a deterministic (manual dispatcher, manual time) actor system.
actor_system_settings manual_settings(std::uint64_t random_seed = 1);

/// `d` scaled by TROUPE_TEST_TIME_FACTOR.
std::chrono::nanoseconds dilated(std::chrono::nanoseconds d);

/// Waits until `condition()` holds, polling every `interval`; throws testkit_error naming
/// `what` after `timeout`. In manual mode the system is run (and time advanced) instead.
void await_condition(actor_system& sys, const std::function<bool()>& condition,
                     std::chrono::nanoseconds timeout = std::chrono::seconds(3), const std::string& what = "condition",
                     std::chrono::nanoseconds interval = std::chrono::milliseconds(1));

/// A request to the probe's actor to watch (or unwatch) `target`.
struct watch_order {
  actor_ref target;
  bool on;
};

class test_probe {
 public:
  /// Messages received by the probe's actor, not yet taken by the test.
  struct mailbox_queue {
    std::mutex mutex;
    std::condition_variable cv;
    std::deque<message> messages;
  };

  using duration = std::chrono::nanoseconds;
  static constexpr duration default_timeout = std::chrono::seconds(3);

  /// Starts the probe actor under /system (named "testProbe-N" when `name` is empty).
  explicit test_probe(actor_system& sys, std::string name = {});
  /// Stops the probe actor.
  ~test_probe();
  test_probe(const test_probe&) = delete;
  test_probe& operator=(const test_probe&) = delete;

  /// The probe's own ref.
  const actor_ref& ref() const noexcept { return ref_; }
  /// Sender of the message received last.
  const actor_ref& last_sender() const noexcept { return last_sender_; }

  /// Sends `msg` to `to` with the probe as sender.
  template <class T>
  void send(const actor_ref& to, T&& msg) {
    to.tell(std::forward<T>(msg), ref_);
  }
  /// Replies to `last_sender()`, with the probe as sender.
  template <class T>
  void reply(T&& msg) {
    if (!last_sender_) throw testkit_error("reply(): the probe has not received a message with a sender");
    send(last_sender_, std::forward<T>(msg));
  }

  /// The next message, whatever it is; throws on timeout.
  message receive_one(duration timeout = default_timeout);
  /// The next message, which must be a `T`; returns it.
  template <class T>
  T expect_msg(duration timeout = default_timeout) {
    message m = receive_one(timeout);
    if (!m.is<T>()) {
      throw testkit_error("expected a message of type " + type_id_of<T>()->name() + ", got " + m.type_name());
    }
    return std::move(*m.get_if<T>());
  }
  /// The next message, which must equal `expected`.
  template <class T>
  T expect_msg(const T& expected, duration timeout = default_timeout) {
    T got = expect_msg<T>(timeout);
    if (!(got == expected)) throw testkit_error("got a " + type_id_of<T>()->name() + " unequal to the expected one");
    return got;
  }
  /// The next message, which must be a `T` satisfying `pred`.
  template <class T, class P>
  T expect_msg_that(P&& pred, duration timeout = default_timeout) {
    T got = expect_msg<T>(timeout);
    if (!pred(got)) throw testkit_error("a " + type_id_of<T>()->name() + " did not satisfy the predicate");
    return got;
  }
  /// Skips messages until a `T` satisfying `pred` arrives; throws on timeout.
  template <class T>
  T fish_for(const std::function<bool(const T&)>& pred, duration timeout = default_timeout) {
    const auto deadline = now() + dilated(timeout);
    for (;;) {
      const auto left = deadline - now();
      message m = receive_one_until(left > duration::zero() ? left : duration::zero(), false);
      if (!m) throw testkit_error("fish_for: no matching " + type_id_of<T>()->name() + " before the timeout");
      if (auto* v = m.get_if<T>(); v && pred(*v)) return std::move(*v);
    }
  }
  /// Fails if any message arrives within `d`.
  void expect_no_msg(duration d = std::chrono::milliseconds(100));

  /// Watches `r`; its `terminated` will arrive as a message.
  void watch(const actor_ref& r);
  void unwatch(const actor_ref& r);
  /// Expects the `terminated` of `r`.
  terminated expect_terminated(const actor_ref& r, duration timeout = default_timeout);

  /// Messages received and not yet taken.
  std::size_t queued() const;

 private:
  std::chrono::steady_clock::time_point now() const;
  message receive_one_until(duration timeout, bool dilate);

  actor_system& sys_;
  std::shared_ptr<mailbox_queue> queue_;
  actor_ref ref_;
  actor_ref last_sender_;
};

}  // namespace troupe::testkit
