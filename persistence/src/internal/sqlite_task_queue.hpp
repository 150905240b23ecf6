// sqlite_task_queue: the queue between the callers of the SQLite plugin and one of its
// threads (the writer or the reader), and the thread that drains it.
//
//   auto q = std::make_shared<sqlite_task_queue<op>>();
//   sqlite_thread t([q, conn] { for (;;) { auto ops = q->take(100); if (ops.empty()) return; ... } });
//   if (!q->push(o)) fail(o);      // closed: the store is going away
//   q->close();                    // take() hands out what is left, then returns empty
//
// The thread owns its queue and connection through shared pointers, so that a store whose
// last reference goes away inside one of its own callbacks can let the thread finish by
// itself (sqlite_thread detaches instead of joining itself).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace troupe::persistence::internal {

template <class Op>
class sqlite_task_queue {
 public:
  /// Queues `op`; false (and `op` untouched) once closed.
  bool push(Op& op) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
      ops_.push_back(std::move(op));
    }
    wake_.notify_one();
    return true;
  }

  /// Waits for queued ops and takes up to `max` of them, oldest first; empty once the
  /// queue is closed and drained.
  std::vector<Op> take(std::size_t max) {
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return closed_ || !ops_.empty(); });
    std::vector<Op> out;
    const std::size_t n = std::min(max, ops_.size());
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      out.push_back(std::move(ops_.front()));
      ops_.pop_front();
    }
    return out;
  }

  /// Refuses further ops; those queued are still taken.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    wake_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Op> ops_;
  bool closed_ = false;
};

/// A thread that is joined when this goes away, or detached when that happens on the
/// thread itself (it then finishes its queue on its own).
class sqlite_thread {
 public:
  template <class F>
  explicit sqlite_thread(F&& f) : t_(std::forward<F>(f)) {}
  ~sqlite_thread() {
    if (!t_.joinable()) return;
    if (t_.get_id() == std::this_thread::get_id()) {
      t_.detach();
    } else {
      t_.join();
    }
  }
  sqlite_thread(const sqlite_thread&) = delete;
  sqlite_thread& operator=(const sqlite_thread&) = delete;

 private:
  std::thread t_;
};

}  // namespace troupe::persistence::internal
