// Supervision: what a parent does when a child fails.
//
// A failure is an exception thrown by the child's constructor, `pre_start`, a handler or
// `post_restart`. The child is suspended; the parent's strategy asks its decider for a
// directive and applies it to the child (`one_for_one`) or to all children
// (`all_for_one`). "At most N restarts within T" is a `restart_budget`; once spent, the
// child is stopped instead.
//
//   supervisor_strategy supervisor_strategy() const override {
//     return supervisor_strategy::one_for_one(
//         3, std::chrono::seconds(10),
//         decider().on<std::invalid_argument>(directive::resume)
//                  .on<db_down>(directive::escalate)
//                  .otherwise(directive::restart));
//   }
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace troupe {

/// What to do with a failed child.
enum class directive {
  resume,    ///< keep the instance and its state; the failed message is dropped
  restart,   ///< replace the instance with a fresh one from its props
  stop,      ///< stop the child for good
  escalate,  ///< fail the parent itself with the same exception
};

const char* to_string(directive d) noexcept;

/// Thrown into the supervisor when a child fails in its constructor or `pre_start`.
struct actor_initialization_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// The failure of an actor that received `kill`.
struct actor_killed_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// The failure of an actor that did not handle a `terminated` of an actor it watched.
struct death_pact_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Maps a failure (the exception) to a directive; built fluently by exception type.
class decider {
 public:
  /// The default: initialization, kill and death pact failures stop; all else restarts.
  decider();
  /// Failures of type `E` (or derived from it) get `d`; earlier rules win.
  template <class E>
  decider& on(directive d) & {
    rules_.emplace_back([d](const std::exception_ptr& e) -> int {
      try {
        std::rethrow_exception(e);
      } catch (const E&) {
        return static_cast<int>(d);
      } catch (...) {
      }
      return -1;
    });
    return *this;
  }
  template <class E>
  decider&& on(directive d) && {
    return std::move(on<E>(d));
  }
  /// The directive for failures no rule matches (default restart, after the stop rules).
  decider&& otherwise(directive d) &&;
  decider& otherwise(directive d) &;
  /// An arbitrary function (replaces all rules).
  static decider from(std::function<directive(const std::exception_ptr&)> f);

  directive operator()(const std::exception_ptr& e) const;

 private:
  struct empty_tag {};
  explicit decider(empty_tag) {}
  std::vector<std::function<int(const std::exception_ptr&)>> rules_;
  directive fallback_ = directive::restart;
  std::function<directive(const std::exception_ptr&)> custom_;
};

/// "At most `max_restarts` within `within`", as a value with an injected clock.
/// The window opens at the first failure; a failure after the window closes opens a new
/// one. `max_restarts < 0` means unlimited; `within == 0` means the window never closes.
class restart_budget {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  restart_budget() = default;
  restart_budget(int max_restarts, std::chrono::nanoseconds within)
      : max_(max_restarts), within_(within) {}

  /// Records one failure at `now`; true when a restart is still allowed.
  bool request_restart(time_point now) noexcept;
  /// Failures counted in the current window.
  int count() const noexcept { return count_; }

 private:
  int max_ = -1;
  std::chrono::nanoseconds within_{0};
  int count_ = 0;
  time_point window_start_{};
};

/// How a parent supervises its children.
struct supervisor_strategy {
  enum class scope { one_for_one, all_for_one };

  scope kind = scope::one_for_one;
  int max_restarts = -1;                  ///< < 0: unlimited
  std::chrono::nanoseconds within{0};     ///< 0: forever
  troupe::decider decide{};               ///< failure -> directive
  bool log_failures = true;               ///< log each failure at error level
  bool stop_children_on_restart = true;   ///< (informational; see actor::pre_restart)

  /// Applies the directive to the failed child only.
  static supervisor_strategy one_for_one(int max_restarts = -1,
                                         std::chrono::nanoseconds within = {},
                                         troupe::decider d = {});
  /// Applies the directive to all children.
  static supervisor_strategy all_for_one(int max_restarts = -1,
                                         std::chrono::nanoseconds within = {},
                                         troupe::decider d = {});
  /// Akka's default: one-for-one, unlimited restarts, the default decider.
  static supervisor_strategy default_strategy() { return one_for_one(); }
  /// Stops any failing child.
  static supervisor_strategy stopping_strategy();
};

}  // namespace troupe
