// unique_address: the identity of one incarnation of a cluster node.
//
// A node is reached at an `address` (`troupe://system@host:port`); each time a process
// starts at that address it draws a fresh `uid`, so a restarted node is a different
// `unique_address` than the one it replaces.
//
//   unique_address a{{"shop", "127.0.0.1", 2551}, 0x1234};
//   assert(to_string(a) == "troupe://shop@127.0.0.1:2551#4660");
//
// Pure value type: links only the standard library.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace troupe::cluster::model {

/// Where a node listens: `troupe://system@host:port`.
struct address {
  std::string system;  ///< actor system name; nodes of one cluster share it
  std::string host;    ///< host name or IP literal
  std::uint16_t port = 0;

  friend auto operator<=>(const address&, const address&) = default;
  friend bool operator==(const address&, const address&) = default;
};

/// `troupe://system@host:port`.
std::string to_string(const address& a);

/// One incarnation of a node: its address and the random uid drawn at start.
struct unique_address {
  model::address address;
  std::uint64_t uid = 0;

  friend auto operator<=>(const unique_address&, const unique_address&) = default;
  friend bool operator==(const unique_address&, const unique_address&) = default;
};

/// `troupe://system@host:port#uid`.
std::string to_string(const unique_address& a);

}  // namespace troupe::cluster::model

template <>
struct std::hash<troupe::cluster::model::address> {
  std::size_t operator()(const troupe::cluster::model::address& a) const noexcept {
    std::size_t h = std::hash<std::string>{}(a.system);
    h = h * 31 + std::hash<std::string>{}(a.host);
    return h * 31 + a.port;
  }
};

template <>
struct std::hash<troupe::cluster::model::unique_address> {
  std::size_t operator()(const troupe::cluster::model::unique_address& a) const noexcept {
    return std::hash<troupe::cluster::model::address>{}(a.address) ^
           (std::hash<std::uint64_t>{}(a.uid) * 0x9e3779b97f4a7c15ULL);
  }
};
