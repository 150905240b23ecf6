// unique_address: the identity of one incarnation of a cluster node.
//
// A node is reached at an `address` (`troupe://system@host:port`); each time a process
// starts at that address it draws a fresh `uid`, so a restarted node is a different
// `unique_address` than the one it replaces. Both are the node address types every layer
// shares (troupe/base/node_address.hpp), under the model's names.
//
//   unique_address a{{"shop", "127.0.0.1", 2551}, 0x1234};
//   assert(to_string(a) == "troupe://shop@127.0.0.1:2551#4660");
//
// Pure value type: links only the standard library.
#pragma once

#include "troupe/base/node_address.hpp"

namespace troupe::cluster::model {

/// Where a node listens: `troupe://system@host:port`.
using address = troupe::node_address;
/// One incarnation of a node: its address and the random uid drawn at start.
using unique_address = troupe::unique_node_address;
using troupe::to_string;

}  // namespace troupe::cluster::model
