// System messages: supervision, watch and lifecycle signals between actors.
//
// They overtake user messages in the mailbox and are never stashed or dropped while the
// recipient lives. The runtime sends them; the remote layer carries them between nodes
// (sequenced, acked and resent). Users never send them directly.
#pragma once

#include <exception>
#include <string>

#include "troupe/actor/actor_ref.hpp"

namespace troupe::sys {

/// First message of every actor: builds the instance and runs `pre_start`.
struct create {
  static constexpr bool troupe_system_message = true;
};
/// From the supervisor: replace the failed instance.
struct recreate {
  static constexpr bool troupe_system_message = true;
  std::exception_ptr cause;
};
/// From the supervisor: stop processing user messages until `resume`.
struct suspend {
  static constexpr bool troupe_system_message = true;
};
/// From the supervisor: continue with the same instance.
struct resume {
  static constexpr bool troupe_system_message = true;
  std::exception_ptr caused_by_failure;  ///< set when resuming after this actor's failure
};
/// Stop: children first, then `post_stop`.
struct terminate {
  static constexpr bool troupe_system_message = true;
};
/// To the supervisor: a child failed and is suspended, waiting for a directive.
struct failed {
  static constexpr bool troupe_system_message = true;
  actor_ref child;
  std::exception_ptr cause;
  std::string message_type;  ///< type of the message that failed ("" in a hook)
};
/// To the supervisor: a child has stopped for good.
struct child_terminated {
  static constexpr bool troupe_system_message = true;
  actor_ref child;
};
/// `watcher` wants a death notification from `watchee`.
struct watch {
  static constexpr bool troupe_system_message = true;
  actor_ref watchee;
  actor_ref watcher;
};
/// `watcher` no longer wants one.
struct unwatch {
  static constexpr bool troupe_system_message = true;
  actor_ref watchee;
  actor_ref watcher;
};
/// To a watcher: `actor` has stopped (or its node is lost).
struct death_watch_notification {
  static constexpr bool troupe_system_message = true;
  actor_ref actor;
  bool existence_confirmed = true;
  bool address_terminated = false;
};

}  // namespace troupe::sys
