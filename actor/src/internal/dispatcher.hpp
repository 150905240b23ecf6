// Dispatchers: run scheduled actor cells on threads.
//
// - work_stealing_dispatcher: fixed workers; each has a one-cell "next" slot (the actor
//   just messaged by the running one runs next on the same core, so ping-pong needs no
//   handoff) and a stealable run queue; idle workers steal, then park.
// - pinned_dispatcher: a thread of its own for each actor (for actors that block).
// - manual_dispatcher: nothing runs until a test steps it (deterministic testkit mode).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "internal/spin_lock.hpp"

namespace troupe::detail {

class actor_cell;

class dispatcher {
 public:
  virtual ~dispatcher() = default;
  /// Queues `c` to run one turn; the cell's mailbox guarantees one schedule at a time.
  virtual void schedule(actor_cell* c) noexcept = 0;
  /// Queues `c` again after a turn that used up its budget with work left: behind what is
  /// waiting already (a cell that keeps itself busy must not take every turn of a worker).
  virtual void reschedule(actor_cell* c) noexcept { schedule(c); }
  /// Queues each of `cells` as `schedule` would, in order: a thread outside the dispatcher
  /// that woke many cells at once (the end of a delivery_batch) pays for one hand-over.
  virtual void schedule_all(actor_cell* const* cells, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) schedule(cells[i]);
  }
  /// Stops the threads once the runtime is done (after all actors stopped).
  virtual void shutdown() = 0;
  /// Messages of one actor per turn.
  int throughput() const noexcept { return throughput_; }
  /// User messages handled by the actors this dispatcher ran, so far (any thread).
  virtual std::uint64_t messages_processed() const noexcept = 0;
  /// Counts an actor's stop on the calling thread's own counter, if the thread is one of
  /// this dispatcher's workers (true); else the caller counts it elsewhere (false).
  virtual bool count_stop_here() noexcept { return false; }
  /// The stops `count_stop_here` counted (any thread).
  virtual std::uint64_t stops_counted() const noexcept { return 0; }

 protected:
  explicit dispatcher(int throughput) : throughput_(throughput) {}
  int throughput_;
};

class work_stealing_dispatcher final : public dispatcher {
 public:
  /// `max_batch`: see actor_system_settings::max_batch.
  work_stealing_dispatcher(std::size_t workers, int throughput, int max_batch);
  ~work_stealing_dispatcher() override;
  void schedule(actor_cell* c) noexcept override;
  void reschedule(actor_cell* c) noexcept override;
  void schedule_all(actor_cell* const* cells, std::size_t n) noexcept override;
  void shutdown() override;
  std::uint64_t messages_processed() const noexcept override;
  bool count_stop_here() noexcept override;
  std::uint64_t stops_counted() const noexcept override;

 private:
  struct worker {
    actor_cell* next = nullptr;  // owner thread only
    // Written by the owner thread only (a load and a store, no locked instruction, on a
    // line it owns anyway); read by `messages_processed` and `stops_counted`.
    std::atomic<std::uint64_t> processed{0};
    std::atomic<std::uint64_t> stops{0};
    spin_lock queue_lock;
    std::deque<actor_cell*> queue;
    std::thread thread;
  };

  void run(std::size_t index);
  actor_cell* find_work(worker& self, std::size_t index);
  actor_cell* pop(worker& w, bool front);
  void push(worker& w, actor_cell* c);
  void push_global(actor_cell* c);
  void wake_if_nobody_looks();
  void wake_one();
  bool park();

  int max_batch_;
  std::vector<std::unique_ptr<worker>> workers_;
  spin_lock global_lock_;
  std::deque<actor_cell*> global_;
  std::atomic<std::int64_t> queued_{0};  // cells in stealable queues (global + per worker)
  std::atomic<int> sleepers_{0};
  std::mutex park_mutex_;
  std::condition_variable park_cv_;
  int wake_tokens_ = 0;
  std::atomic<bool> stop_{false};
};

class pinned_dispatcher final : public dispatcher {
 public:
  pinned_dispatcher(int throughput, int max_batch) : dispatcher(throughput), max_batch_(max_batch) {}
  ~pinned_dispatcher() override;
  void schedule(actor_cell* c) noexcept override;
  void shutdown() override;
  std::uint64_t messages_processed() const noexcept override {
    return processed_.load(std::memory_order_relaxed);
  }

 private:
  struct lane {
    std::mutex mutex;
    std::condition_variable cv;
    bool ready = false;
    bool done = false;
    std::thread thread;
  };
  void run(actor_cell* c, lane* l);

  int max_batch_;
  std::mutex mutex_;
  std::unordered_map<actor_cell*, std::unique_ptr<lane>> lanes_;
  std::vector<std::unique_ptr<lane>> finished_;
  bool stopped_ = false;
  std::atomic<std::uint64_t> processed_{0};
};

class manual_dispatcher final : public dispatcher {
 public:
  manual_dispatcher() : dispatcher(1) {}
  void schedule(actor_cell* c) noexcept override;
  void shutdown() override {}
  std::uint64_t messages_processed() const noexcept override {
    return processed_.load(std::memory_order_relaxed);
  }
  /// Runs one turn (one message) of the cell scheduled first; false when none is.
  bool run_one();
  /// Number of cells waiting to run.
  std::size_t ready() const;

 private:
  mutable std::mutex mutex_;
  std::deque<actor_cell*> queue_;
  std::atomic<std::uint64_t> processed_{0};
};

/// The dispatcher of the worker running on this thread, or nullptr.
dispatcher* current_dispatcher() noexcept;

}  // namespace troupe::detail
