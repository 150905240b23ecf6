// User-level messages the runtime sends to an actor's own mailbox.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace troupe::detail {

/// A keyed timer fired; stale when its generation is no longer current.
struct timer_fire {
  std::string key;
  std::uint64_t generation;
};

/// The receive timeout elapsed; stale when a message arrived since.
struct receive_timeout_fire {
  std::uint64_t generation;
};

/// Runs a function on the actor's turn (continuations of non-blocking asks); stale when
/// the actor has restarted since `incarnation`.
struct context_task {
  std::function<void()> fn;
  std::uint64_t incarnation;
};

}  // namespace troupe::detail
