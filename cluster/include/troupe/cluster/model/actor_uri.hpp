// actor_uri: how other nodes name a cluster node's actors, for `transport::ref_for`.
//
//   node_uri({"shop", "::1", 2552})                          == "troupe://shop@[::1]:2552"
//   actor_uri({"shop", "10.0.0.7", 2552}, "/system/x")      == "troupe://shop@10.0.0.7:2552/system/x"
//
// An IPv6 host is written in brackets, as the transport parses it. Pure: links only the
// standard library.
#pragma once

#include <string>
#include <string_view>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// `troupe://system@host:port`, an IPv6 host in brackets: `to_string(a)`.
std::string node_uri(const address& a);

/// `node_uri(a)` followed by `path` (which starts with '/').
std::string actor_uri(const address& a, std::string_view path);

}  // namespace troupe::cluster::model
