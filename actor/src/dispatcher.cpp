#include "internal/dispatcher.hpp"

#include "internal/actor_cell.hpp"

namespace troupe::detail {

namespace {
struct worker_context {
  dispatcher* owner = nullptr;
  std::size_t index = 0;
};
thread_local worker_context tls_worker;

// A worker runs the cell in its "next" slot at most this many times in a row before
// looking at its queue, so two actors messaging each other cannot starve the rest.
constexpr int max_next_streak = 32;
// Every so many turns a worker polls the global queue first (fairness for outside sends).
constexpr unsigned global_poll_interval = 61;
}  // namespace

dispatcher* current_dispatcher() noexcept { return tls_worker.owner; }

// ---- work_stealing_dispatcher ----

work_stealing_dispatcher::work_stealing_dispatcher(std::size_t workers, int throughput, int max_batch)
    : dispatcher(throughput), max_batch_(max_batch) {
  if (workers == 0) workers = 1;
  for (std::size_t i = 0; i < workers; ++i) workers_.push_back(std::make_unique<worker>());
  for (std::size_t i = 0; i < workers; ++i) {
    workers_[i]->thread = std::thread([this, i] { run(i); });
  }
}

work_stealing_dispatcher::~work_stealing_dispatcher() { shutdown(); }

void work_stealing_dispatcher::shutdown() {
  stop_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard lock(park_mutex_);
    wake_tokens_ += static_cast<int>(workers_.size());
  }
  park_cv_.notify_all();
  for (auto& w : workers_) {
    if (w->thread.joinable() && w->thread.get_id() != std::this_thread::get_id()) w->thread.join();
  }
}

void work_stealing_dispatcher::push(worker& w, actor_cell* c) {
  {
    std::lock_guard lock(w.queue_lock);
    w.queue.push_back(c);
  }
  queued_.fetch_add(1, std::memory_order_seq_cst);
}

void work_stealing_dispatcher::push_global(actor_cell* c) {
  {
    std::lock_guard lock(global_lock_);
    global_.push_back(c);
  }
  queued_.fetch_add(1, std::memory_order_seq_cst);
}

actor_cell* work_stealing_dispatcher::pop(worker& w, bool front) {
  std::lock_guard lock(w.queue_lock);
  if (w.queue.empty()) return nullptr;
  actor_cell* c;
  if (front) {
    c = w.queue.front();
    w.queue.pop_front();
  } else {
    c = w.queue.back();
    w.queue.pop_back();
  }
  queued_.fetch_sub(1, std::memory_order_relaxed);
  return c;
}

void work_stealing_dispatcher::schedule(actor_cell* c) noexcept {
  if (tls_worker.owner == this) {
    worker& w = *workers_[tls_worker.index];
    actor_cell* displaced = w.next;
    w.next = c;
    if (!displaced) return;  // runs right after the current turn, on this core
    push(w, displaced);
  } else {
    push_global(c);
  }
  wake_if_nobody_looks();
}

void work_stealing_dispatcher::schedule_all(actor_cell* const* cells, std::size_t n) noexcept {
  if (n == 0) return;
  if (tls_worker.owner == this) {
    for (std::size_t i = 0; i < n; ++i) schedule(cells[i]);
    return;
  }
  {
    std::lock_guard lock(global_lock_);
    global_.insert(global_.end(), cells, cells + n);
  }
  queued_.fetch_add(static_cast<std::int64_t>(n), std::memory_order_seq_cst);
  // One wake: the worker it wakes passes it on while work is left and nobody looks (run).
  wake_if_nobody_looks();
}

void work_stealing_dispatcher::reschedule(actor_cell* c) noexcept {
  if (tls_worker.owner != this) {
    schedule(c);
    return;
  }
  // The front: the owner pops the newest first, so everything else it has runs before `c`
  // again (thieves take the front first). In the `next` slot a sender that messages itself
  // to go on took up to `max_next_streak` turns in a row while its receiver waited.
  worker& w = *workers_[tls_worker.index];
  {
    std::lock_guard lock(w.queue_lock);
    w.queue.push_front(c);
  }
  queued_.fetch_add(1, std::memory_order_seq_cst);
  wake_if_nobody_looks();
}

void work_stealing_dispatcher::wake_if_nobody_looks() {
  // A worker that is not parked looks at the queues before it parks (`park`).
  if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_one();
}

void work_stealing_dispatcher::wake_one() {
  {
    std::lock_guard lock(park_mutex_);
    ++wake_tokens_;
  }
  park_cv_.notify_one();
}

actor_cell* work_stealing_dispatcher::find_work(worker& self, std::size_t index) {
  // The own queue LIFO (depth first: what was scheduled last is hot in the cache, and a
  // tree of actors spawning children stays small), thieves take the oldest (FIFO).
  if (actor_cell* c = pop(self, false)) return c;
  {
    std::lock_guard lock(global_lock_);
    if (!global_.empty()) {
      actor_cell* c = global_.front();
      global_.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
      return c;
    }
  }
  const std::size_t n = workers_.size();
  for (std::size_t k = 1; k < n; ++k) {
    if (actor_cell* c = pop(*workers_[(index + k) % n], true)) return c;
  }
  return nullptr;
}

bool work_stealing_dispatcher::park() {
  // No spinning for work first: on a machine with few cores the spinning worker took the
  // core from the threads that make the work (the I/O thread, the other process of a
  // remote pair): sharding_tell_remote 18-35 % faster without it, the runtime's own rows
  // within their spread (docs/benchmarks.md, "Remote tells through the front door").
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  if (queued_.load(std::memory_order_seq_cst) > 0 || stop_.load(std::memory_order_seq_cst)) {
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return !stop_.load();
  }
  std::unique_lock lock(park_mutex_);
  park_cv_.wait(lock, [this] { return wake_tokens_ > 0; });
  --wake_tokens_;
  lock.unlock();
  sleepers_.fetch_sub(1, std::memory_order_seq_cst);
  return !stop_.load();
}

bool work_stealing_dispatcher::count_stop_here() noexcept {
  if (tls_worker.owner != this) return false;
  auto& w = *workers_[tls_worker.index];
  w.stops.store(w.stops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return true;
}

std::uint64_t work_stealing_dispatcher::stops_counted() const noexcept {
  std::uint64_t total = 0;
  for (const auto& w : workers_) total += w->stops.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t work_stealing_dispatcher::messages_processed() const noexcept {
  std::uint64_t total = 0;
  for (const auto& w : workers_) total += w->processed.load(std::memory_order_relaxed);
  return total;
}

void work_stealing_dispatcher::run(std::size_t index) {
  tls_worker = {this, index};
  worker& self = *workers_[index];
  int streak = 0;
  unsigned turns = 0;
  for (;;) {
    actor_cell* c = nullptr;
    if (++turns % global_poll_interval == 0) {
      std::lock_guard lock(global_lock_);
      if (!global_.empty()) {
        c = global_.front();
        global_.pop_front();
        queued_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    if (c) {
      if (self.next) {
        push(self, self.next);
        self.next = nullptr;
      }
      streak = 0;
    } else if (self.next && streak < max_next_streak) {
      c = self.next;
      self.next = nullptr;
      ++streak;
    } else if (self.next) {
      // Streak exhausted: give the queue a turn, oldest first. (Popping the newest, as
      // find_work does, would take `next` straight back: two actors messaging each other
      // for ever kept everything queued behind them waiting.)
      push(self, self.next);
      self.next = nullptr;
      streak = 0;
      c = pop(self, true);
    } else {
      streak = 0;
      c = find_work(self, index);
    }
    if (c) {
      // More work waiting and nobody looking for it: pass the wake on.
      if (queued_.load(std::memory_order_seq_cst) > 0 && sleepers_.load(std::memory_order_seq_cst) > 0) wake_one();
      const int handled = c->run(throughput_, max_batch_);
      self.processed.store(self.processed.load(std::memory_order_relaxed) + static_cast<std::uint64_t>(handled),
                           std::memory_order_relaxed);
      continue;
    }
    if (stop_.load(std::memory_order_relaxed)) break;
    if (!park()) break;
  }
  tls_worker = {};
}

// ---- pinned_dispatcher ----

pinned_dispatcher::~pinned_dispatcher() { shutdown(); }

void pinned_dispatcher::schedule(actor_cell* c) noexcept {
  lane* l;
  {
    std::lock_guard lock(mutex_);
    auto& slot = lanes_[c];
    if (!slot) {
      slot = std::make_unique<lane>();
      l = slot.get();
      l->ready = true;
      l->thread = std::thread([this, c, l] { run(c, l); });
      return;
    }
    l = slot.get();
  }
  {
    std::lock_guard lock(l->mutex);
    l->ready = true;
  }
  l->cv.notify_one();
}

void pinned_dispatcher::run(actor_cell* c, lane* l) {
  tls_worker = {this, 0};
  for (;;) {
    {
      std::unique_lock lock(l->mutex);
      l->cv.wait(lock, [l] { return l->ready || l->done; });
      if (!l->ready) break;
      l->ready = false;
    }
    // Keep the cell alive across its turn; once it has stopped nothing schedules it again,
    // and the lane leaves the table before the cell can go (its address may be reused).
    c->add_ref();
    processed_.fetch_add(static_cast<std::uint64_t>(c->run(throughput_, max_batch_)), std::memory_order_relaxed);
    if (c->is_terminated()) {
      {
        std::lock_guard lock(mutex_);
        auto it = lanes_.find(c);
        if (it != lanes_.end() && it->second.get() == l) {
          finished_.push_back(std::move(it->second));
          lanes_.erase(it);
        }
      }
      c->release();
      break;
    }
    c->release();
  }
  tls_worker = {};
}

void pinned_dispatcher::shutdown() {
  std::vector<std::unique_ptr<lane>> all;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    for (auto& [c, l] : lanes_) all.push_back(std::move(l));
    lanes_.clear();
    for (auto& l : finished_) all.push_back(std::move(l));
    finished_.clear();
  }
  for (auto& l : all) {
    {
      std::lock_guard lock(l->mutex);
      l->done = true;
    }
    l->cv.notify_one();
    if (l->thread.joinable() && l->thread.get_id() != std::this_thread::get_id()) l->thread.join();
  }
}

// ---- manual_dispatcher ----

void manual_dispatcher::schedule(actor_cell* c) noexcept {
  std::lock_guard lock(mutex_);
  queue_.push_back(c);
}

bool manual_dispatcher::run_one() {
  actor_cell* c;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return false;
    c = queue_.front();
    queue_.pop_front();
  }
  // No longer turns for a long queue here: a step is one turn of `throughput` messages.
  processed_.fetch_add(static_cast<std::uint64_t>(c->run(throughput_, throughput_)), std::memory_order_relaxed);
  return true;
}

std::size_t manual_dispatcher::ready() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

}  // namespace troupe::detail
