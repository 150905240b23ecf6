// singleton_messages: what the singleton managers of one singleton say to each other
// (Akka's ClusterSingletonManager protocol), as plain values for the pure core.
//
//   new oldest -> previous:   hand_over_to_me        every hand-over-retry-interval until done
//   previous -> new oldest:   hand_over_in_progress  its singleton is stopping
//   previous -> new oldest:   hand_over_done         its singleton has stopped, for good
//   previous -> new oldest:   take_over_from_me      "ask me" (speeds up the hand-over)
//
// Each names the incarnation that sends it (`from`) and the one it is for (`to`): a node
// restarted at the same address is reached by the same path, and a message meant for its
// previous incarnation is dropped by the new one.
//
// What the messages mean is what makes them safe to repeat, delay or reorder:
// `hand_over_done` from X says "X runs no instance and never will again" (X is exiting,
// down or removed), which stays true; `hand_over_to_me` to X says "the cluster has moved
// X out of the oldest's place" (only an exiting, down or removed member is asked), which
// also stays true, so X retires for good when it gets one.
//
// Pure values: link only the standard library and the cluster model.
#pragma once

#include <string_view>
#include <variant>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::sharding::model {

/// New oldest -> previous oldest: "stop your instance and tell me when it is gone".
struct hand_over_to_me {
  static constexpr std::string_view manifest = "singleton.hand_over_to_me";  ///< name on the wire
  cluster::model::unique_address from;  ///< the asking (new oldest) incarnation
  cluster::model::unique_address to;    ///< the incarnation asked
  friend bool operator==(const hand_over_to_me&, const hand_over_to_me&) = default;
};

/// Previous oldest -> new oldest: "my instance is stopping" (answers `hand_over_to_me`).
struct hand_over_in_progress {
  static constexpr std::string_view manifest = "singleton.hand_over_in_progress";  ///< name on the wire
  cluster::model::unique_address from;
  cluster::model::unique_address to;
  friend bool operator==(const hand_over_in_progress&, const hand_over_in_progress&) = default;
};

/// Previous oldest -> new oldest: "I run no instance and never will again".
struct hand_over_done {
  static constexpr std::string_view manifest = "singleton.hand_over_done";  ///< name on the wire
  cluster::model::unique_address from;
  cluster::model::unique_address to;
  friend bool operator==(const hand_over_done&, const hand_over_done&) = default;
};

/// Previous oldest -> new oldest: "I am handing over: ask me" (Akka's TakeOverFromMe).
struct take_over_from_me {
  static constexpr std::string_view manifest = "singleton.take_over_from_me";  ///< name on the wire
  cluster::model::unique_address from;
  cluster::model::unique_address to;
  friend bool operator==(const take_over_from_me&, const take_over_from_me&) = default;
};

/// Any message of the protocol.
using singleton_message = std::variant<hand_over_to_me, hand_over_in_progress, hand_over_done, take_over_from_me>;

/// The sender named by `m`.
inline const cluster::model::unique_address& sender_of(const singleton_message& m) {
  return std::visit([](const auto& x) -> const cluster::model::unique_address& { return x.from; }, m);
}
/// The incarnation `m` is for.
inline const cluster::model::unique_address& recipient_of(const singleton_message& m) {
  return std::visit([](const auto& x) -> const cluster::model::unique_address& { return x.to; }, m);
}

}  // namespace troupe::sharding::model
