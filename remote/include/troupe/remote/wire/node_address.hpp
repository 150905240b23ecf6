// node_address: who is at the other end of a connection, as the wire protocol names it.
//
//   wire::node_address a{"orders", "127.0.0.2", 2552};
//   to_string(a);                          // "troupe://orders@127.0.0.2:2552"
//   wire::unique_node_address u{a, 0x5eed};  // one incarnation of that node
//
// The same fields as `troupe::remote::address`; the wire code keeps its own copy so that
// it links nothing but OpenSSL and nlohmann_json. A uid is drawn at random per incarnation
// by the transport and is never 0.
//
// Pure: links only the standard library.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace troupe::remote::wire {

/// A node's listening address: `troupe://system@host:port`.
struct node_address {
  std::string system;
  std::string host;
  std::uint16_t port = 0;

  friend auto operator<=>(const node_address&, const node_address&) = default;
  friend bool operator==(const node_address&, const node_address&) = default;
};

/// One incarnation of a node: its address and its uid.
struct unique_node_address {
  node_address address;
  std::uint64_t uid = 0;

  friend auto operator<=>(const unique_node_address&, const unique_node_address&) = default;
  friend bool operator==(const unique_node_address&, const unique_node_address&) = default;
};

/// `troupe://system@host:port`.
std::string to_string(const node_address& a);
/// `troupe://system@host:port#uid` (uid in decimal).
std::string to_string(const unique_node_address& a);

}  // namespace troupe::remote::wire
