// mediator_protocol: the registry the pub-sub mediators share, and what they tell each other
// (Akka's `DistributedPubSubMediator.Internal`: `Bucket`, `ValueHolder`, `Status`, `Delta`).
//
//   bucket b;                                      // one node's entries, owned by that node
//   b.version = 3;
//   b.entries[{entry_kind::topic, "news", "", "troupe://s@h:1/user/a"}] = {3, 77, false};
//   peer_envelope env{self, peer, status{{{self, 3}}, true}};   // "I have node self at 3"
//
// - The registry is one `bucket` per node. Only the owner changes its bucket: each change
//   (an entry added, or tombstoned by `removed`) takes the next version of the bucket, so a
//   bucket's version is the highest version of any change in it.
// - A node holding a node's bucket at version v has every change of it up to v (or a later
//   one of the same entry), except tombstones it has pruned.
// - `status`: the sender's version of every bucket it holds. The receiver answers with a
//   `delta` of the changes the sender lacks and, when `reply_wanted` and the sender holds a
//   newer bucket than its own, with its own status (`reply_wanted` false).
// - `delta`: per bucket, the changes with versions in (from_version, to_version], at most
//   `max_delta_elements` entries in all, oldest first. A receiver whose version of the
//   bucket is below `from_version` ignores it (a gap, filled by the next gossip).
//
// Pure: standard library only (and the cluster model's unique_address).
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::pubsub {

/// One incarnation of a cluster node: a bucket's owner.
using node_id = cluster::model::unique_address;

/// What an entry registers.
enum class entry_kind : std::uint8_t {
  topic = 0,  ///< a subscriber of topic `name` (in `group`, "" for none)
  path = 1,   ///< an actor put under path `name` (Akka's `Put`)
};

/// The identity of one entry in a bucket.
struct entry_key {
  entry_kind kind = entry_kind::topic;
  std::string name;   ///< the topic, or the path ("/user/service")
  std::string group;  ///< topics only; "" for no group
  std::string ref;    ///< the actor's full URI (`troupe://sys@host:port/user/a`)
  friend auto operator<=>(const entry_key&, const entry_key&) = default;
  friend bool operator==(const entry_key&, const entry_key&) = default;
};

/// One entry's state.
struct value_holder {
  std::uint64_t version = 0;  ///< the owner's bucket version when it changed
  std::uint64_t uid = 0;      ///< the actor's incarnation (0: any)
  bool removed = false;       ///< a tombstone: unsubscribed, removed or terminated
  /// Local only (never sent): when this node learned of the tombstone, for pruning.
  std::chrono::nanoseconds removed_at{0};

  /// Equal in what travels (the local removal time is left out).
  friend bool operator==(const value_holder& a, const value_holder& b) {
    return a.version == b.version && a.uid == b.uid && a.removed == b.removed;
  }
};

/// One node's entries.
struct bucket {
  std::uint64_t version = 0;  ///< every change up to this one is known here
  std::map<entry_key, value_holder> entries;
  friend bool operator==(const bucket&, const bucket&) = default;
};

/// The sender's version of every bucket it holds (its own included).
struct status {
  std::map<node_id, std::uint64_t> versions;
  bool reply_wanted = true;  ///< answer with your status when you lack something I have
  friend bool operator==(const status&, const status&) = default;
};

/// The changes of one bucket with versions in (from_version, to_version].
struct delta_bucket {
  node_id owner;
  std::uint64_t from_version = 0;
  std::uint64_t to_version = 0;
  std::map<entry_key, value_holder> entries;
  friend bool operator==(const delta_bucket&, const delta_bucket&) = default;
};

/// Changes the receiver lacked, per bucket.
struct delta {
  std::vector<delta_bucket> buckets;
  friend bool operator==(const delta&, const delta&) = default;
};

/// Any message between mediators.
using peer_message = std::variant<status, delta>;

/// A message from one mediator to another (`to`: the incarnation it is meant for).
struct peer_envelope {
  node_id from;
  node_id to;
  peer_message message;
};

}  // namespace troupe::pubsub
