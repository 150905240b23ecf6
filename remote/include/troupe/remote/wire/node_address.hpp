// node_address: who is at the other end of a connection, as the wire protocol names it:
// the one node address type of troupe::base (troupe/base/node_address.hpp).
//
//   wire::node_address a{"orders", "127.0.0.2", 2552};
//   to_string(a);                          // "troupe://orders@127.0.0.2:2552"
//   wire::unique_node_address u{a, 0x5eed};  // one incarnation of that node
//
// Pure: links only the standard library.
#pragma once

#include "troupe/base/node_address.hpp"

namespace troupe::remote::wire {

using troupe::node_address;
using troupe::to_string;
using troupe::unique_node_address;

}  // namespace troupe::remote::wire
