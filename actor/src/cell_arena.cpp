#include "internal/cell_arena.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <new>

#include "internal/spin_lock.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define TROUPE_CELL_ARENA 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TROUPE_CELL_ARENA 0
#endif
#endif
#ifndef TROUPE_CELL_ARENA
#define TROUPE_CELL_ARENA 1
#endif

namespace troupe::detail::cell_arena {

#if TROUPE_CELL_ARENA

namespace {

constexpr std::size_t granule = 16;
constexpr std::size_t max_block = 2048;
constexpr std::size_t class_count = max_block / granule;  // class i: blocks of (i + 1) * 16 bytes
constexpr std::size_t huge_page = std::size_t{2} << 20;
constexpr std::size_t region_bytes = std::size_t{64} << 20;  // reserved at once, touched as used
constexpr std::size_t run_bytes = std::size_t{64} << 10;     // about a size class's share of a region
constexpr int cache_limit = 256;                             // free blocks a thread keeps per class
constexpr int batch = 64;                                    // moved between a thread and a class

// A free block: the link to the next one, and in the first block of a batch kept by the
// arena, the link to the next batch (blocks are at least 16 bytes).
struct free_block {
  free_block* next;
  free_block* next_batch;
};

// Threads and the arena trade whole batches of `batch` linked blocks, so the arena's lock
// is held for a pointer swap, never for a walk over blocks another core freed last.
struct size_class {
  spin_lock lock;
  free_block* batches = nullptr;  ///< full batches given back by threads
  char* run = nullptr;            ///< not yet handed out
  char* run_end = nullptr;
};

class arena {
 public:
  /// A batch of blocks of class `c` linked by `next` (`batch` of them; fewer when an
  /// exiting thread gave back its last ones), or nullptr when no memory can be mapped.
  free_block* take(std::size_t c) noexcept {
    const std::size_t size = (c + 1) * granule;
    size_class& k = classes_[c];
    char* from;
    std::size_t n;
    {
      std::lock_guard lock(k.lock);
      if (free_block* b = k.batches) {
        k.batches = b->next_batch;
        return b;
      }
      if (static_cast<std::size_t>(k.run_end - k.run) < size * batch) {
        // Used up (runs hold whole batches, so nothing is left over): take a new run.
        const std::size_t batch_bytes = size * batch;
        const std::size_t bytes = std::max<std::size_t>(1, run_bytes / batch_bytes) * batch_bytes;
        char* r = take_run(bytes);
        if (!r) return nullptr;
        k.run = r;
        k.run_end = r + bytes;
      }
      from = k.run;
      n = batch;
      k.run += size * n;
    }
    // Linked outside the lock: these are first touches of new memory.
    free_block* head = nullptr;
    for (std::size_t i = n; i-- > 0;) {
      auto* b = reinterpret_cast<free_block*>(from + i * size);
      b->next = head;
      head = b;
    }
    return head;
  }

  /// Gives back a batch of class `c` (its first block's `next` chain).
  void give(std::size_t c, free_block* first) noexcept {
    size_class& k = classes_[c];
    std::lock_guard lock(k.lock);
    first->next_batch = k.batches;
    k.batches = first;
  }

 private:
  char* take_run(std::size_t bytes) noexcept {
    std::lock_guard lock(region_lock_);
    if (static_cast<std::size_t>(region_end_ - region_) < bytes) {
      // Reserve a little more than a region and start at a huge page boundary, so that
      // every 2 MiB of it can be one page.
      void* m = ::mmap(nullptr, region_bytes + huge_page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED) return nullptr;
      const auto at = reinterpret_cast<std::uintptr_t>(m);
      const auto aligned = (at + huge_page - 1) & ~(huge_page - 1);
#ifdef MADV_HUGEPAGE
      ::madvise(reinterpret_cast<void*>(aligned), region_bytes, MADV_HUGEPAGE);
#endif
      region_ = reinterpret_cast<char*>(aligned);
      region_end_ = region_ + region_bytes;
    }
    char* r = region_;
    region_ += bytes;
    return r;
  }

  std::mutex region_lock_;
  char* region_ = nullptr;
  char* region_end_ = nullptr;
  size_class classes_[class_count];
};

/// Never destroyed: cells may be freed by static destructors and exiting threads of any
/// order.
arena& the_arena() noexcept {
  static arena* a = new arena();
  return *a;
}

struct thread_cache {
  free_block* head[class_count] = {};
  std::uint16_t count[class_count] = {};

  ~thread_cache();
};

thread_local thread_cache cache;
// Trivially destructible, so still readable while the thread's other thread_local
// objects (which may hold the last reference to a cell) are destroyed after `cache`.
thread_local bool cache_gone = false;

/// Gives the arena what `head` holds, in batches of at most `batch` (the last may be short).
void give_all(std::size_t c, free_block* head) noexcept {
  while (head) {
    free_block* first = head;
    free_block* last = head;
    for (int i = 1; i < batch && last->next; ++i) last = last->next;
    head = last->next;
    last->next = nullptr;
    the_arena().give(c, first);
  }
}

thread_cache::~thread_cache() {
  for (std::size_t c = 0; c < class_count; ++c) {
    give_all(c, head[c]);
    head[c] = nullptr;
    count[c] = 0;
  }
  cache_gone = true;
}

std::size_t class_of(std::size_t bytes) noexcept { return (bytes + granule - 1) / granule - 1; }

}  // namespace

bool serves(std::size_t bytes) noexcept { return bytes != 0 && bytes <= max_block; }

void* allocate(std::size_t bytes) noexcept {
  if (bytes == 0 || bytes > max_block) return nullptr;
  const std::size_t c = class_of(bytes);
  if (cache_gone) {
    // A thread in its last destructors: one block from a batch, the rest given back.
    free_block* b = the_arena().take(c);
    if (!b) return nullptr;
    give_all(c, b->next);
    return b;
  }
  thread_cache& tc = cache;
  if (!tc.head[c]) {
    free_block* b = the_arena().take(c);
    if (!b) return nullptr;
    tc.head[c] = b;
    tc.count[c] = batch;  // at most: not walked, its blocks are cold here
  }
  free_block* b = tc.head[c];
  tc.head[c] = b->next;
  tc.count[c] = tc.head[c] ? static_cast<std::uint16_t>(tc.count[c] - 1) : 0;
  return b;
}

void deallocate(void* p, std::size_t bytes) noexcept {
  const std::size_t c = class_of(bytes);
  auto* b = static_cast<free_block*>(p);
  if (cache_gone) {
    b->next = nullptr;
    the_arena().give(c, b);
    return;
  }
  thread_cache& tc = cache;
  b->next = tc.head[c];
  tc.head[c] = b;
  if (++tc.count[c] <= cache_limit) return;
  // Too many kept here (a thread that stops what others started): give a batch back, the
  // blocks this thread freed last, still in its cache.
  free_block* last = b;
  int n = 1;
  for (; n < batch && last->next; ++n) last = last->next;
  tc.head[c] = last->next;
  last->next = nullptr;
  tc.count[c] = tc.head[c] ? static_cast<std::uint16_t>(tc.count[c] - n) : 0;
  the_arena().give(c, b);
}

#else  // AddressSanitizer: every cell from ::operator new, where it can see it.

bool serves(std::size_t) noexcept { return false; }
void* allocate(std::size_t) noexcept { return nullptr; }
void deallocate(void*, std::size_t) noexcept {}

#endif

}  // namespace troupe::detail::cell_arena
