// Messages the runtime itself delivers to actors, and the ones actors may send to it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "troupe/actor/message.hpp"

namespace troupe {

/// Delivered to a watcher once, when an actor it watches has stopped.
struct terminated {
  actor_ref actor;                  ///< who stopped
  bool existence_confirmed = true;  ///< false when the actor never existed (e.g. bad path)
  bool address_terminated = false;  ///< true when its node was lost, not a clean stop
};

/// A user message: the actor stops after the messages queued before it.
struct poison_pill {};
/// A user message: the actor fails with `actor_killed_error` (its supervisor decides).
struct kill {};
/// Delivered when no message arrived for the receive timeout.
struct receive_timeout {};

/// Asks any actor for its ref; it answers `actor_identity` (also a stopped one: empty ref).
struct identify {
  std::uint64_t correlation_id = 0;
};
struct actor_identity {
  std::uint64_t correlation_id = 0;
  actor_ref ref;  ///< empty when nothing lives there
};

/// Published on the event stream for every message that could not be delivered.
struct dead_letter {
  std::shared_ptr<const message> msg;  ///< the lost message (with its sender)
  actor_ref recipient;                 ///< where it was going (empty if unknown)
  std::string reason;                  ///< "recipient stopped", "mailbox full", "unhandled", ...
};

/// Published when an actor fails; the supervisor's decision follows.
struct actor_failed {
  actor_ref actor;
  std::string error;         ///< what() of the exception
  std::string message_type;  ///< type of the message that failed (dropped), or "" in hooks
};

}  // namespace troupe
