// node_address: where a node listens, and unique_node_address: one incarnation of it.
// Every layer names nodes with these (the transport, its wire protocol, the cluster
// model); `remote::address`, `remote::wire::node_address` and `cluster::model::address`
// are aliases of the one type.
//
//   troupe::node_address a{"orders", "127.0.0.2", 2552};
//   to_string(a);                                    // "troupe://orders@127.0.0.2:2552"
//   to_string(node_address{"orders", "::1", 2552});  // "troupe://orders@[::1]:2552"
//   troupe::unique_node_address u{a, 0x5eed};         // "troupe://orders@127.0.0.2:2552#24301"
//   parse_node_address("troupe://orders@[::1]:2552"); // host "::1", port 2552
//
// A uid is drawn at random per incarnation by the transport and is never 0, so a restarted
// node is a different unique_node_address than the one it replaces.
//
// Pure value types: link only the standard library.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace troupe {

/// Where a node listens: `troupe://system@host:port`.
struct node_address {
  std::string system;  ///< actor system name; nodes of one cluster share it
  std::string host;    ///< host name or IP literal (an IPv6 literal without brackets)
  std::uint16_t port = 0;

  friend auto operator<=>(const node_address&, const node_address&) = default;
  friend bool operator==(const node_address&, const node_address&) = default;
};

/// One incarnation of a node: its address and the random uid it drew at start.
struct unique_node_address {
  node_address address;
  std::uint64_t uid = 0;

  friend auto operator<=>(const unique_node_address&, const unique_node_address&) = default;
  friend bool operator==(const unique_node_address&, const unique_node_address&) = default;
};

/// `troupe://system@host:port`, an IPv6 literal in brackets as in a URI.
std::string to_string(const node_address& a);
/// `troupe://system@host:port#uid` (uid in decimal).
std::string to_string(const unique_node_address& a);

/// Parses `troupe://system@host:port` (`[v6-literal]:port` too, and an unbracketed IPv6
/// literal whose last colon precedes the port); nullopt when malformed:
/// another scheme, an empty system or host, a missing or out-of-range port, or anything
/// after the port.
std::optional<node_address> parse_node_address(std::string_view text);

}  // namespace troupe

template <>
struct std::hash<troupe::node_address> {
  std::size_t operator()(const troupe::node_address& a) const noexcept {
    std::size_t h = std::hash<std::string>{}(a.system);
    h = h * 31 + std::hash<std::string>{}(a.host);
    return h * 31 + a.port;
  }
};

template <>
struct std::hash<troupe::unique_node_address> {
  std::size_t operator()(const troupe::unique_node_address& a) const noexcept {
    return std::hash<troupe::node_address>{}(a.address) ^ (std::hash<std::uint64_t>{}(a.uid) * 0x9e3779b97f4a7c15ULL);
  }
};
