// spin_lock: a one-byte lock for critical sections of a few hundred instructions at most
// (a worker's run queue, a cell's children table).
//
// A std::mutex sleeps in the kernel as soon as it is contended; where a thief and the
// owner of a run queue take it a few million times a second, that was a futex call for
// every other cell scheduled (in a VM, microseconds each). This one spins briefly, then
// yields the core, since on an oversubscribed machine the holder may be descheduled.
#pragma once

#include <atomic>
#include <thread>

namespace troupe::detail {

/// One pause of a spin-wait loop.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class spin_lock {
 public:
  void lock() noexcept {
    int spins = 0;
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace troupe::detail
