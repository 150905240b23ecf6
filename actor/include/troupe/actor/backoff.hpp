// Backoff supervisor: restarts a child after growing delays, so a crashing dependency
// (a database, a remote service) is not hammered.
//
// The supervisor starts the child and forwards every message to it. When the child stops
// (`on_stop`) or fails (`on_failure`), it is started again after
//   min(max_backoff, min_backoff * 2^n) * (1 + random_factor * u),  u uniform in [0, 1)
// where n counts restarts since the child last ran for `reset_after` without trouble.
// While no child runs, messages go to dead letters.
//
//   auto db = system.spawn(troupe::backoff::props({
//       .child = troupe::props::of<db_client>(url), .child_name = "db",
//       .min_backoff = 100ms, .max_backoff = 10s, .random_factor = 0.2}), "db-supervisor");
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "troupe/actor/actor.hpp"

namespace troupe::backoff {

enum class mode {
  on_stop,     ///< restart after the child stopped (a failure stops it first)
  on_failure,  ///< restart after the child failed; a clean stop of the child stops the supervisor
};

struct options {
  troupe::props child;              ///< how to make the child
  std::string child_name = "child";
  std::chrono::nanoseconds min_backoff{std::chrono::milliseconds(100)};
  std::chrono::nanoseconds max_backoff{std::chrono::seconds(10)};
  double random_factor = 0.2;       ///< jitter, >= 0
  backoff::mode mode = mode::on_failure;
  int max_restarts = -1;            ///< < 0: unlimited; then the supervisor stops itself
  std::chrono::nanoseconds reset_after{0};  ///< 0: min_backoff
  std::uint64_t seed = 0;           ///< jitter seed; 0: the actor system's
};

/// Asks the supervisor how often it restarted the child since the last reset; it replies
/// `restart_count`.
struct get_restart_count {};
struct restart_count {
  int count = 0;
};

/// The delay before restart number `n` (0-based), with jitter `u` in [0, 1).
std::chrono::nanoseconds delay(int n, std::chrono::nanoseconds min_backoff, std::chrono::nanoseconds max_backoff,
                               double random_factor, double u) noexcept;

/// Props of a backoff supervisor for `o` (throws std::invalid_argument for bad options).
troupe::props props(options o);

}  // namespace troupe::backoff
