// management: cluster management over HTTP (Akka Management's cluster HTTP routes and its
// health checks), off by default, on its own port. Bodies are JSON.
//
//   GET    /cluster/members             members, unreachable ones, leader, oldest  200
//   GET    /cluster/members/{address}   one member                                 200, 400, 404
//   PUT    /cluster/members/{address}   operation=leave|down (form body or query)  200, 400, 403, 404
//   DELETE /cluster/members/{address}   leave                                      200, 400, 403, 404
//   GET    /alive                       {"alive": true} while the server runs      200
//   GET    /ready                       once this member is Up or WeaklyUp         200, 503
//
// Later layers add their own GET routes under a path prefix (`cluster::add_management_route`):
// sharding serves `/cluster/shards/{type}` that way.
//
// `{address}` is `troupe://system@host:port`, percent-encoded or not, or `system@host:port`.
// Other paths get 404, other methods 405 (with Allow), malformed requests 400, bodies over
// 64 KiB 413, headers over 8 KiB 431; every error body is `{"message": "<reason>"}`. With
// `allow_changes` false, PUT and DELETE get 403. A connection that sends no whole request
// within 5 s is closed; at most 128 are open at once. See docs/management.md for the JSON
// shapes and curl examples.
//
// `cluster::start` runs a `management_server` when `settings.management.enabled` (see
// `cluster::management_port`). By hand, on a cluster started without it:
//
//   auto& cluster = troupe::cluster::cluster::get(system);
//   troupe::cluster::management_server management(cluster);
//   auto port = management.start(settings.management);
//   if (!port) return fail(port.error());   // e.g. "management: cannot bind ...: Address already in use"
//
// Two parts, as Asio's HTTP server example splits them: `route_management_request` is the
// protocol logic, pure (a request and a snapshot of the node in; a response and the change
// to ask of the cluster out), and `management_server` is the glue: one I/O thread with
// Boost.Beast, a read timeout per connection, size limits, and a cap on connections.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "troupe/actor/expected.hpp"
#include "troupe/cluster/events.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/reachability.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/cluster/settings.hpp"

namespace troupe::cluster {

class cluster;

/// Largest request body the server reads; a longer one gets 413.
inline constexpr std::size_t management_max_body_size = 64 * 1024;

/// One HTTP request as the routes see it.
struct management_request {
  std::string method;        ///< as sent: "GET", "PUT", ... (HTTP methods are case-sensitive)
  std::string target;        ///< the request target, path and query, still percent-encoded
  std::string content_type;  ///< the Content-Type header, empty if absent
  std::string body;          ///< the request body
};

/// What the routes read of the node, taken at most once per request.
struct management_snapshot {
  model::address self;                ///< this node's address
  model::member self_member;          ///< this node as a member
  current_cluster_state state;        ///< members, leader
  model::reachability reachability;   ///< who observes whom as unreachable
};

/// A change the routes ask of the cluster; the server applies it.
struct management_change {
  /// What to ask: nothing, `cluster::leave` or `cluster::down`.
  enum class operation : std::uint8_t { none, leave, down };
  operation op = operation::none;  ///< none: a read-only request
  model::address node;             ///< the member to leave or down
};

/// The routes' answer.
struct management_response {
  unsigned status = 200;     ///< HTTP status code
  std::string body;          ///< JSON text
  std::string allow;         ///< for 405: the methods the resource takes, "GET, PUT, DELETE"
  management_change change;  ///< what to ask of the cluster once answered
};

/// Answers `request` (the endpoints at the top of this file). `node` is called at most
/// once, only by the endpoints that read the cluster. With `allow_changes` false, PUT and
/// DELETE of a member get 403. Never throws for any request text.
management_response route_management_request(const management_request& request,
                                             const std::function<management_snapshot()>& node,
                                             bool allow_changes);

/// Akka's name of a member status: "Joining", "WeaklyUp", "Up", "Leaving", ...
std::string akka_status_name(model::member_status s);

/// The HTTP management endpoints of one node, served on their own thread. Every member
/// function may be called from any thread.
class management_server {
 public:
  /// Serves `node`'s management; nothing runs until `start`. `node` must outlive this.
  explicit management_server(cluster& node);
  /// `stop()`.
  ~management_server();
  management_server(const management_server&) = delete;
  management_server& operator=(const management_server&) = delete;

  /// Binds `settings.host`:`settings.port` (port 0: any free port) and serves from a new
  /// I/O thread. Returns the bound port, or an error naming the address and the reason (the
  /// port is in use, the host does not resolve, already running). `settings.enabled` is
  /// the caller's to check; `settings.allow_changes` false makes the server read-only.
  expected<std::uint16_t, std::string> start(const management_settings& settings);
  /// Closes the listener and every connection and joins the thread; idempotent. Not from
  /// the server's own thread (no route calls it).
  void stop();
  /// True between a successful `start` and `stop`.
  bool is_running() const noexcept;
  /// The bound port while running, else 0.
  std::uint16_t port() const noexcept;

 private:
  struct impl;
  cluster& node_;
  std::mutex mutex_;                    // serializes start and stop
  std::unique_ptr<impl> impl_;          // guarded by mutex_
  std::atomic<std::uint16_t> port_{0};  // the bound port while running
};

}  // namespace troupe::cluster
