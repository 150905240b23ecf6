// remote_settings: configuration of the transport, parsed from JSON and validated once.
//
//   {"host": "127.0.0.2", "port": 2552, "cookie": "<32 or more random characters>",
//    "max-frame-size": 262144, "outbound-queue-size": 3072,
//    "large-message-destinations": ["/user/uploads/*"], "control-message-destinations": [],
//    "tls": {"enabled": true, "certificate": "node.pem", "private-key": "node.key", "ca": "ca.pem"}}
//
// Errors name the key and the expected value, like the runtime's settings.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "troupe/base/expected.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/base/node_address.hpp"

namespace troupe::remote {

/// Where a node listens: `troupe://system@host:port` (the node address every layer shares).
using address = troupe::node_address;
using troupe::to_string;

/// A parsed actor URI: the node's address and the path on it (`/user/a/b`).
struct actor_uri {
  remote::address address;
  std::string path;
};

/// Parses `troupe://system@host:port/path` (the path may be empty; an IPv6 host in
/// brackets); nullopt when malformed.
std::optional<actor_uri> parse_actor_uri(std::string_view uri);

/// True when `path` ("/user/a/b") matches `pattern` element by element, where `*` stands
/// for any characters within one element ("/user/*/images", "/user/upload-*").
bool path_matches(std::string_view pattern, std::string_view path) noexcept;

struct tls_settings {
  bool enabled = false;
  std::string certificate;  ///< PEM file of this node's certificate (chain)
  std::string private_key;  ///< PEM file of its key
  std::string ca;           ///< PEM file of the CA both sides' certificates are checked against
  /// A peer's certificate must name the address it claims (the node it says it is, or the
  /// node dialled): as an IP address or DNS subject alternative name, or as its common
  /// name. Without it, any certificate the CA signed could speak for any node's address.
  bool check_peer_address = true;
};

struct remote_settings {
  std::string host = "127.0.0.1";  ///< advertised host, also bound for listening and connecting
  std::uint16_t port = 2552;       ///< 0: any free port (see transport::local_address)
  /// Shared secret every node of the cluster holds; each connection's handshake proves it
  /// (HMAC-SHA256 challenge-response, see wire/handshake.hpp). Use 32 or more random
  /// characters. `transport::start` refuses an empty cookie unless TLS is enabled (the
  /// certificates authenticate then) or `insecure` is set.
  std::string cookie;
  /// Run without any authentication: whoever can reach the port can join, send to any
  /// actor and have members removed. For tests and demos on one machine; logged loudly.
  /// A cookie and `insecure` together are a configuration error.
  bool insecure = false;
  std::size_t max_frame_size = 256 * 1024;             ///< ordinary and control lanes
  std::size_t max_large_frame_size = 64 * 1024 * 1024;  ///< the large-message lane
  std::size_t outbound_queue_size = 3072;               ///< messages per lane and peer
  /// Paths whose messages go on the large lane (up to max_large_frame_size), as Akka's
  /// `large-message-destinations`: `*` matches within one path element, e.g. "/user/*/images".
  std::vector<std::string> large_message_destinations;
  /// Paths whose user messages go on the control lane with the system messages, so that
  /// no user traffic delays them (the cluster daemons add their own); same patterns.
  std::vector<std::string> control_message_destinations;
  std::chrono::milliseconds handshake_timeout{5000};
  /// Accepted connections that have not finished their handshake, at most (a connection
  /// beyond either limit is closed at once and counted in `connections_refused`): in all,
  /// and from one host (IP address). They bound what peers that connect and never
  /// authenticate can hold, each until `handshake_timeout`.
  std::size_t max_pending_handshakes = 512;
  std::size_t max_pending_handshakes_per_host = 128;
  std::chrono::milliseconds reconnect_backoff_min{100};
  std::chrono::milliseconds reconnect_backoff_max{5000};
  std::chrono::milliseconds system_message_resend_interval{1000};
  std::chrono::milliseconds give_up_system_message_after{60000};
  std::chrono::milliseconds watch_heartbeat_interval{1000};
  double watch_failure_threshold = 10.0;
  std::chrono::milliseconds watch_acceptable_pause{10000};
  tls_settings tls;

  static expected<remote_settings, config_error> parse(const nlohmann::json& j);
  static expected<remote_settings, config_error> parse(const std::string& json_text);
};

}  // namespace troupe::remote
