// system_core: the state an actor system shares with all its cells. It lives until the
// actor_system object and every cell that points to it are gone (cells hold a count),
// so a ref kept after the system stopped still routes to dead letters safely.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "internal/dispatcher.hpp"
#include "internal/spin_lock.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/event_stream.hpp"
#include "troupe/actor/log.hpp"
#include "troupe/actor/scheduler.hpp"
#include "troupe/actor/settings.hpp"

namespace troupe::detail {

class actor_cell;

class system_core {
 public:
  system_core(actor_system* owner, std::string name, actor_system_settings s);
  ~system_core();

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// Builds the guardians (called once by actor_system).
  void start();

  const std::string& name() const noexcept { return name_; }
  const actor_system_settings& settings() const noexcept { return settings_; }
  actor_system* owner() const noexcept { return owner_; }
  troupe::scheduler& timers() noexcept { return *scheduler_; }
  event_stream& events() noexcept { return events_; }
  const logger& log() const noexcept { return log_; }
  /// Index of the dispatcher `name` ("default" or "pinned"); throws std::invalid_argument.
  std::uint8_t dispatcher_index(const std::string& name) const;
  dispatcher* dispatcher_at(std::uint8_t index) const noexcept { return dispatchers_[index]; }
  manual_dispatcher* manual() noexcept { return manual_; }
  manual_scheduler* manual_clock() noexcept;

  actor_cell* root() const noexcept { return root_; }
  actor_cell* user_guardian() const noexcept;
  actor_cell* system_guardian() const noexcept;
  /// Drops the references to the guardians (the system object is going away).
  void release_guardians();
  ref_target* dead_letters() noexcept { return dead_letters_; }

  /// Records, logs (rate limited) and publishes an undeliverable message; takes `e`.
  void dead_letter(envelope* e, const actor_ref& recipient, const char* reason) noexcept;
  std::uint64_t dead_letter_count() const noexcept {
    return dead_letters_total_.load(std::memory_order_relaxed);
  }
  /// On a worker's own counter when called on one of this system's workers (the usual
  /// case: a stop ends an actor's turn), else on a shared one.
  void count_stop() noexcept;
  void count_restart() noexcept { restarts_total_.fetch_add(1, std::memory_order_relaxed); }
  /// The counters of `actor_system::stats`.
  system_stats stats() const noexcept;

  /// A cell whose turn ends with at least this many user messages waiting is a candidate
  /// for `deepest_mailboxes`.
  static constexpr std::int32_t deep_mailbox_threshold = 64;
  /// Lists `c` among the long mailboxes (on `c`'s turn; sampled: one call in 8, drawn per thread,
  /// takes the lock). A full list gives the slot of its shortest mailbox to a longer one.
  void note_deep_mailbox(actor_cell* c) noexcept;
  /// The `n` longest listed mailboxes, longest first; drops those that emptied or stopped.
  std::vector<mailbox_depth> deepest_mailboxes(std::size_t n);

  /// Called by the root cell when it has stopped.
  void on_root_terminated();
  void terminate();
  bool await_termination(std::chrono::nanoseconds timeout);
  bool is_terminated() const noexcept { return terminated_.load(std::memory_order_acquire); }
  /// Joins the threads (not from a worker thread).
  void shutdown_threads();

  std::uint64_t next_seed() noexcept;
  std::uint64_t next_name_id() noexcept { return name_ids_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::atomic<int> refs_{1};
  actor_system* owner_;
  std::string name_;
  actor_system_settings settings_;
  logger log_;
  std::unique_ptr<troupe::scheduler> scheduler_;
  std::unique_ptr<dispatcher> default_;
  std::unique_ptr<dispatcher> pinned_;
  dispatcher* dispatchers_[2] = {nullptr, nullptr};  // by index: default, pinned
  manual_dispatcher* manual_ = nullptr;
  event_stream events_;
  ref_target* dead_letters_ = nullptr;
  actor_cell* root_ = nullptr;
  actor_ref user_;
  actor_ref system_;

  std::atomic<std::uint64_t> dead_letters_total_{0};
  std::atomic<std::uint64_t> stops_total_{0};
  std::atomic<std::uint64_t> restarts_total_{0};
  std::mutex dl_log_mutex_;
  std::chrono::steady_clock::time_point dl_window_start_{};
  int dl_logged_in_window_ = 0;
  std::uint64_t dl_suppressed_ = 0;

  // The long mailboxes seen (cells held by a reference; emptied on termination).
  static constexpr std::size_t deep_mailbox_slots = 16;
  spin_lock deep_lock_;
  std::array<actor_ref, deep_mailbox_slots> deep_{};

  std::mutex term_mutex_;
  std::condition_variable term_cv_;
  std::atomic<bool> terminated_{false};
  std::atomic<bool> terminating_{false};
  bool threads_joined_ = false;

  std::mutex seed_mutex_;
  std::mt19937_64 seeds_;
  std::atomic<std::uint64_t> name_ids_{0};
};

inline dispatcher* dispatcher_of(system_core& core, std::uint8_t index) noexcept {
  return core.dispatcher_at(index);
}

}  // namespace troupe::detail
