#include "troupe/actor/scheduler.hpp"

#include <vector>

namespace troupe {

scheduler::task_id scheduler::add(duration delay, duration interval, task fn) {
  task_id id;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return 0;
    id = next_id_++;
    const time_point when = now() + (delay < duration::zero() ? duration::zero() : delay);
    queue_.emplace(queue_key{when, id}, entry{std::move(fn), interval});
    index_.emplace(id, when);
  }
  on_added();
  return id;
}

bool scheduler::cancel(task_id id) {
  entry dropped;  // destroyed outside the lock: it may hold the last ref to something
  std::lock_guard lock(mutex_);
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  auto q = queue_.find(queue_key{it->second, id});
  index_.erase(it);
  // A periodic task that is running right now is out of the queue; without its index
  // entry, rearm() drops it.
  if (q == queue_.end()) return true;
  dropped = std::move(q->second);
  queue_.erase(q);
  return true;
}

void scheduler::shutdown() {
  std::map<queue_key, entry> dropped;
  std::lock_guard lock(mutex_);
  stopped_ = true;
  dropped.swap(queue_);
  index_.clear();
}

std::size_t scheduler::pending() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

bool scheduler::pop_due(time_point t, entry& out, task_id& id, time_point& when) {
  std::lock_guard lock(mutex_);
  if (queue_.empty() || queue_.begin()->first.first > t) return false;
  auto it = queue_.begin();
  when = it->first.first;
  id = it->first.second;
  out = std::move(it->second);
  queue_.erase(it);
  if (out.interval == duration::zero()) index_.erase(id);
  return true;
}

void scheduler::rearm(task_id id, time_point next, entry e) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(id);
  if (it == index_.end() || stopped_) return;  // cancelled while it ran
  it->second = next;
  queue_.emplace(queue_key{next, id}, std::move(e));
}

// ---- thread_scheduler ----

thread_scheduler::thread_scheduler() : thread_([this] { loop(); }) {}

thread_scheduler::~thread_scheduler() { shutdown(); }

void thread_scheduler::shutdown() {
  scheduler::shutdown();
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void thread_scheduler::on_added() { cv_.notify_one(); }

void thread_scheduler::loop() {
  std::unique_lock lock(mutex_);
  while (!stopped_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const time_point next = queue_.begin()->first.first;
    if (next > clock_type::now()) {
      cv_.wait_until(lock, next);
      continue;
    }
    lock.unlock();
    entry e;
    task_id id;
    time_point when;
    while (pop_due(clock_type::now(), e, id, when)) {
      e.fn();
      if (e.interval > duration::zero()) {
        // Fixed rate, but never catching up with a burst after a long stall.
        time_point next_run = when + e.interval;
        const time_point n = clock_type::now();
        if (next_run < n) next_run = n;
        rearm(id, next_run, std::move(e));
      }
      e = entry{};
    }
    lock.lock();
  }
}

// ---- manual_scheduler ----

manual_scheduler::manual_scheduler()
    : now_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::hours(1)).count()) {}

scheduler::time_point manual_scheduler::now() const {
  return time_point(std::chrono::nanoseconds(now_ns_.load(std::memory_order_acquire)));
}

void manual_scheduler::run_due(time_point until) {
  entry e;
  task_id id;
  time_point when;
  while (pop_due(until, e, id, when)) {
    if (when > now()) now_ns_.store(when.time_since_epoch().count(), std::memory_order_release);
    e.fn();
    if (e.interval > duration::zero()) rearm(id, when + e.interval, std::move(e));
    e = entry{};
  }
}

void manual_scheduler::advance(duration d) {
  const time_point until = now() + d;
  run_due(until);
  now_ns_.store(until.time_since_epoch().count(), std::memory_order_release);
}

std::optional<scheduler::time_point> manual_scheduler::next_due() const {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) return std::nullopt;
  return queue_.begin()->first.first;
}

}  // namespace troupe
