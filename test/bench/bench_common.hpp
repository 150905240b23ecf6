// Shared pieces of the two benchmark programs (troupe_bench and caf_bench): workload
// sizes, a completion latch, the clock, RSS, and the one-line JSON result format.
//
// Each program runs ONE workload ONE time per process and prints one line:
//   {"workload":"ping_pong","runtime":"troupe","unit":"msg/s","value":1.2e7,"check":...}
// `test/bench/run-all` repeats the processes and takes medians. One run per process keeps
// allocator state and RSS of one run out of the next, and lets memory be measured from a
// fresh process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <string_view>
#include <thread>

#include <unistd.h>

namespace bench {

// ---- workload sizes (identical for both runtimes) ----
inline constexpr std::int64_t ping_pong_rounds = 2'000'000;   // 4 M messages
inline constexpr std::int64_t pairs = 100;
inline constexpr std::int64_t pairs_rounds = 20'000;          // per pair: 100 * 2 * 20 k = 4 M msgs
inline constexpr std::int64_t spawn_count = 1'000'000;
inline constexpr std::int64_t idle_actors = 1'000'000;
inline constexpr std::int64_t skynet_leaves = 1'000'000;      // 1,111,111 actors in all
inline constexpr std::int64_t skynet_div = 10;
inline constexpr std::int64_t fan_in_senders = 100;
inline constexpr std::int64_t fan_in_per_sender = 100'000;  // 10 M messages to one receiver
/// A sender sends this many per turn, then tells itself to go on (so senders interleave).
inline constexpr std::int64_t fan_in_burst = 1'000;
/// Expected skynet sum: the leaf ids 0 .. leaves-1.
inline constexpr std::int64_t skynet_sum = skynet_leaves * (skynet_leaves - 1) / 2;

/// `n * scale`, at least 1 (the optional second argument scales a workload down for
/// quick experiments; skynet's tree is fixed).
inline std::int64_t scaled(std::int64_t n, double scale) {
  const auto v = static_cast<std::int64_t>(static_cast<double>(n) * scale);
  return v < 1 ? 1 : v;
}

/// Completes a promise when `hit` has been called `n` times (from any thread). The waiter
/// blocks on a future: no polling, no sleep.
class countdown {
 public:
  explicit countdown(std::int64_t n) : left_(n) {}
  void hit() noexcept {
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_.set_value();
  }
  void wait() { done_.get_future().wait(); }

 private:
  std::atomic<std::int64_t> left_;
  std::promise<void> done_;
};

using clock = std::chrono::steady_clock;
inline double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

/// Worker threads for both runtimes: $BENCH_WORKERS, else the hardware threads.
inline std::size_t workers() {
  if (const char* w = std::getenv("BENCH_WORKERS")) return std::strtoul(w, nullptr, 10);
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

/// Resident set size in bytes (/proc/self/statm, second field).
inline std::int64_t rss_bytes() {
  long size = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

/// Prints the result line; `check` is a workload-specific sanity value (e.g. the skynet sum).
inline void report(std::string_view workload, std::string_view runtime, std::string_view unit,
                   double value, std::int64_t check = 0) {
  std::printf(
      "{\"workload\":\"%.*s\",\"runtime\":\"%.*s\",\"unit\":\"%.*s\",\"value\":%.6g,"
      "\"check\":%lld,\"workers\":%zu}\n",
      static_cast<int>(workload.size()), workload.data(), static_cast<int>(runtime.size()),
      runtime.data(), static_cast<int>(unit.size()), unit.data(), value,
      static_cast<long long>(check), workers());
  std::fflush(stdout);
}

inline int usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s ping_pong|pairs_100|fan_in_100|spawn_1m|bytes_per_actor|skynet [scale]\n"
               "  runs the workload once (sizes times `scale`, default 1) and prints one JSON\n"
               "  line; $BENCH_WORKERS sets the worker threads (default: hardware threads).\n"
               "  troupe_bench also has bytes_per_actor_shared_props (one props for all).\n",
               prog);
  return 2;
}

}  // namespace bench
