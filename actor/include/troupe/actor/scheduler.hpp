// scheduler: the clock and the timer service of an actor system.
//
// Timers, receive timeouts, ask timeouts and restart budgets read time only through a
// `scheduler`, so a test can swap in `manual_scheduler` and move time by hand:
//
//   troupe::manual_scheduler s;
//   s.schedule_once(std::chrono::seconds(5), [] { std::puts("fired"); });
//   s.advance(std::chrono::seconds(5));   // prints "fired" on this thread
//
// Tasks run on the scheduler's own thread (or, for manual_scheduler, on the thread that
// calls `advance`), so they must be short: the runtime's tasks only send a message.
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace troupe {

class scheduler {
 public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;
  using duration = std::chrono::nanoseconds;
  using task_id = std::uint64_t;
  using task = std::function<void()>;

  virtual ~scheduler() = default;
  /// The current time of this scheduler's clock.
  virtual time_point now() const = 0;
  /// Runs `fn` once after `delay`. Returns an id for `cancel` (never 0).
  task_id schedule_once(duration delay, task fn) { return add(delay, duration::zero(), std::move(fn)); }
  /// Runs `fn` after `initial`, then every `interval` (interval > 0).
  task_id schedule_periodic(duration initial, duration interval, task fn) {
    return add(initial, interval, std::move(fn));
  }
  /// Cancels a pending task; false when it already ran or was cancelled.
  bool cancel(task_id id);
  /// Drops every pending task (and releases what they captured); later adds are ignored.
  virtual void shutdown();
  /// Number of pending tasks.
  std::size_t pending() const;

 protected:
  struct entry {
    task fn;
    duration interval;
  };
  using queue_key = std::pair<time_point, task_id>;

  task_id add(duration delay, duration interval, task fn);
  /// Removes and returns the earliest task due at or before `t`; false when none.
  bool pop_due(time_point t, entry& out, task_id& id, time_point& when);
  /// Puts a periodic task back for its next run.
  void rearm(task_id id, time_point next, entry e);
  virtual void on_added() {}

  mutable std::mutex mutex_;
  std::map<queue_key, entry> queue_;
  std::unordered_map<task_id, time_point> index_;
  task_id next_id_ = 1;
  bool stopped_ = false;
};

/// Real time on a dedicated thread.
class thread_scheduler final : public scheduler {
 public:
  thread_scheduler();
  ~thread_scheduler() override;
  time_point now() const override { return clock_type::now(); }
  void shutdown() override;

 private:
  void on_added() override;
  void loop();
  std::condition_variable cv_;
  std::thread thread_;
};

/// Time that moves only when `advance` is called; tasks run on the caller's thread.
class manual_scheduler final : public scheduler {
 public:
  /// Starts at an arbitrary fixed instant (one hour after the clock's epoch).
  manual_scheduler();
  time_point now() const override;
  /// Moves time forward by `d`, running every task that falls due, in time order (tasks
  /// due at the same instant run in the order they were scheduled).
  void advance(duration d);
  /// When the earliest pending task is due, if any.
  std::optional<time_point> next_due() const;

 private:
  void run_due(time_point until);
  std::atomic<std::int64_t> now_ns_;
};

}  // namespace troupe
