// management: cluster management over HTTP (Akka Management's cluster HTTP routes and its
// health checks), off by default, on its own port. Bodies are JSON, but the dashboard's.
//
//   GET    /cluster/members             members, unreachable ones, leader, oldest  200
//   GET    /cluster/members/{address}   one member                                 200, 400, 404
//   PUT    /cluster/members/{address}   operation=leave|down (form body or query)  200, 400, 401, 403, 404
//   DELETE /cluster/members/{address}   leave                                      200, 400, 401, 403, 404
//   GET    /alive                       {"alive": true} while the server runs      200
//   GET    /ready                       once this member is Up or WeaklyUp         200, 503
//   GET    / and /dashboard             the dashboard: one HTML page that polls    200
//                                       the others (`management_dashboard_page`)
//
// Later layers add their own GET routes under a path prefix (`cluster::add_management_route`):
// sharding serves `/cluster/shards/{type}` that way.
//
// `{address}` is `troupe://system@host:port`, percent-encoded or not, or `system@host:port`.
// Other paths get 404, other methods 405 (with Allow), malformed requests 400, bodies over
// 64 KiB 413, headers over 8 KiB 431; every error body is `{"message": "<reason>"}`.
//
// The server defends itself (docs/management.md):
// - Changes need a bearer token: with `token_file` or `token_env` set, PUT and DELETE
//   without `Authorization: Bearer <token>` get 401 (and so do reads with
//   `token_for_reads`, but never `/alive` and `/ready`). Without a token it is read-only
//   (403) unless `allow_unauthenticated_changes`. With `https`, it speaks TLS only.
// - Against DNS rebinding, every request must name the server in its Host header (400
//   without one on HTTP/1.1, 421 for another name) and, if it has an Origin header, there
//   too (403 otherwise): a browser page of another site cannot reach it through a name of
//   its own (`check_management_request_host`, `management_host_names`).
// - Health checks get through: a connection that sends no whole request within 5 s is
//   closed, and at the cap of `management_max_connections` a new connection closes the
//   one that has waited longest for a request, so idle or silent clients cannot hold every
//   slot.
//
// `cluster::start` runs a `management_server` when `settings.management.enabled` (see
// `cluster::management_port`). By hand, on a cluster started without it:
//
//   auto& cluster = troupe::cluster::cluster::get(system);
//   troupe::cluster::management_server management(cluster);
//   auto port = management.start(settings.management);
//   if (!port) return fail(port.error());   // e.g. "management: cannot bind ...: Address already in use"
//
// Two parts, as Asio's HTTP server example splits them: `route_management_request` and
// `check_management_request_host` are the protocol logic, pure (a request and a snapshot
// of the node in; a response and the change to ask of the cluster out), and
// `management_server` is the glue: one I/O thread with Boost.Beast, a read timeout per
// connection, size limits, and a cap on connections.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/base/expected.hpp"
#include "troupe/cluster/events.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/reachability.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/cluster/settings.hpp"

namespace troupe::cluster {

class cluster;

/// Largest request body the server reads; a longer one gets 413.
inline constexpr std::size_t management_max_body_size = 64 * 1024;

/// Connections open at once; at the cap a new one closes the one that has waited longest
/// for a request (see `management_server`).
inline constexpr std::size_t management_max_connections = 128;

/// One HTTP request as the routes see it.
struct management_request {
  std::string method;        ///< as sent: "GET", "PUT", ... (HTTP methods are case-sensitive)
  std::string target;        ///< the request target, path and query, still percent-encoded
  std::string content_type;  ///< the Content-Type header, empty if absent
  std::string body;          ///< the request body
  unsigned version = 11;     ///< the HTTP version times ten: 10 for HTTP/1.0, 11 for HTTP/1.1
  /// The Host header; nullopt if absent. Several are joined with ", " (and so refused).
  std::optional<std::string> host{};
  /// The Origin header, as `host`: browsers send it on cross-origin requests and changes.
  std::optional<std::string> origin{};
  /// The Authorization header, as `host`: "Bearer <token>" (`authorize_management_request`).
  std::optional<std::string> authorization{};
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
  std::string body;          ///< JSON text (or what `content_type` says)
  std::string allow;         ///< for 405: the methods the resource takes, "GET, PUT, DELETE"
  management_change change;  ///< what to ask of the cluster once answered
  std::string www_authenticate{};  ///< for 401: the challenge, `Bearer realm="troupe-management"...`
  std::string content_type = "application/json";  ///< the Content-Type header
  std::string content_security_policy{};          ///< the Content-Security-Policy header; empty: none
};

/// `GET /` and `GET /dashboard`: one self-contained HTML page (inline CSS and script, no
/// other origin) that polls `/cluster/members`, `/metrics` and `/cluster/shards/{type}` of
/// the same server every 1.5 s and shows the members, who sees whom unreachable, this
/// node's message and byte rates and the sharding (docs/management.md, "Dashboard"). A
/// token in the URL fragment (`/dashboard#token=...`) is sent as `Authorization: Bearer`.
/// Its Content-Security-Policy allows that script and style only (by their SHA-256) and
/// connections to the same origin. It holds no data of the node, so it needs no token.
management_response management_dashboard_page();

/// Answers `request` (the endpoints at the top of this file). `node` is called at most
/// once, only by the endpoints that read the cluster. With `may_change` false, PUT and
/// DELETE of a member get 403 naming the settings that would allow them. Never throws for
/// any request text. The Host, Origin and Authorization are not looked at:
/// `check_management_request_host` and `authorize_management_request` come first.
management_response route_management_request(const management_request& request,
                                             const std::function<management_snapshot()>& node,
                                             bool may_change);

/// Who may do what: the server's token and settings.
struct management_access_policy {
  std::string token;                           ///< the bearer token; empty: none configured
  bool token_for_reads = false;                ///< reads need the token too (not the health checks)
  bool allow_unauthenticated_changes = false;  ///< without a token, anyone may change
};

/// The outcome of `authorize_management_request`.
struct management_authorization {
  /// The request may go on to the routes, which accept changes only if `may_change`.
  bool may_change = false;
  /// Else the answer: 401 with a `WWW-Authenticate: Bearer` challenge.
  std::optional<management_response> refused;
};

/// Whether `request` may read, change, or neither (RFC 6750 bearer tokens):
/// - GET `/alive` and `/ready` always pass (probes carry no token), unable to change; so do
///   `/` and `/dashboard` (a page without data, which a browser loads without a token).
/// - With a token configured: `Authorization: Bearer <token>` passes and may change; any
///   other Authorization gets 401 `invalid_token`; none gets 401 for a change (any method
///   but GET and HEAD) or, with `token_for_reads`, for a read, else passes read-only.
/// - Without one: every request passes; it may change if `allow_unauthenticated_changes`.
/// The token is compared in constant time. Never throws for any request text.
management_authorization authorize_management_request(const management_request& request,
                                                      const management_access_policy& policy);

/// The token `settings` names: the contents of `token_file` or of the environment variable
/// `token_env` (read through `getenv`), surrounding whitespace trimmed; empty when it names
/// none. An error names the key and what is wrong: the file cannot be read, the variable is
/// unset, the token is shorter than 16 or longer than 1,024 characters or holds a character
/// outside RFC 6750's token68 (letters, digits, `-._~+/`, then `=` padding).
expected<std::string, std::string> load_management_token(
    const management_settings& settings, const std::function<const char*(const char*)>& getenv);

/// A host as the Host header, an Origin or `management.allowed-hosts` names it.
struct management_host {
  /// Lower case, without a trailing dot; an IP address in its canonical text, without the
  /// brackets of an IPv6 address.
  std::string name;
  std::optional<std::uint16_t> port;  ///< nullopt when not given
  bool is_ip_address = false;         ///< `name` is an IP address, not a DNS name

  friend bool operator==(const management_host&, const management_host&) = default;
};

/// `host`, `host:port`, `[ipv6]` or `[ipv6]:port` (RFC 3986's host and port; a DNS name is
/// letters, digits, '-', '_' and '.'; a port is in [1, 65535]); nullopt for anything else.
std::optional<management_host> parse_management_host(std::string_view text);

/// The names a management server answers to: its defence against DNS rebinding, where a
/// page of another site re-points its own DNS name at the server and sends requests that
/// carry that name in Host (and Origin).
struct management_host_names {
  /// Accepted names; one without a port is accepted on any port.
  std::vector<management_host> names;
  /// After a wildcard bind (0.0.0.0, ::): any IP address on this port is accepted too, as
  /// the server is reachable on every interface, and a rebinding page can only send a name.
  std::optional<std::uint16_t> any_ip_address_on;

  /// The names of a server that bound `bound_address` (the IP address it listens on, as
  /// text) on `port` for `settings`: `settings.host` and `bound_address` on `port`; for a
  /// loopback address also localhost, 127.0.0.1 and ::1 on `port`; for a wildcard one
  /// localhost on `port` and `any_ip_address_on`; then every entry of
  /// `settings.allowed_hosts` (the caller validated them; one that does not parse is skipped).
  static management_host_names of_server(const management_settings& settings, const std::string& bound_address,
                                         std::uint16_t port);

  /// True if `host` is one of the names; a host without a port is on `default_port`.
  bool allows(const management_host& host, std::uint16_t default_port) const;
};

/// Whether `request` was meant for this server. nullopt when it may go on to the routes;
/// else the answer: 400 for a malformed Host, or none on HTTP/1.1 (RFC 9112 requires it;
/// HTTP/1.0 without Host is accepted, as no browser sends that); 421 for a Host not in
/// `names`; 403 for an Origin other than `http://` or `https://` followed by a host in
/// `names` (its port defaulting to the scheme's), so `Origin: null` too. Applies to every
/// method and path, the health checks included. Never throws for any request text.
std::optional<management_response> check_management_request_host(const management_request& request,
                                                                 const management_host_names& names);

/// Akka's name of a member status: "Joining", "WeaklyUp", "Up", "Leaving", ...
std::string akka_status_name(model::member_status s);

/// The HTTP management endpoints of one node, served on their own thread. Every member
/// function may be called from any thread.
///
/// Connections: keep-alive is honoured; a connection must send a whole request within 5 s
/// of connecting or of its previous answer, else it is closed. At most
/// `management_max_connections` are open: at the cap, a new connection closes the open one
/// that has waited longest for a request (idle between requests, silent, or half way
/// through one; one being answered only when all are). So a health check on a fresh
/// connection is answered whatever idle or silent clients hold.
class management_server {
 public:
  /// Serves `node`'s management; nothing runs until `start`. `node` must outlive this.
  explicit management_server(cluster& node);
  /// `stop()`.
  ~management_server();
  management_server(const management_server&) = delete;
  management_server& operator=(const management_server&) = delete;

  /// Binds `settings.host`:`settings.port` (port 0: any free port) and serves from a new
  /// I/O thread. Returns the bound port, or an error naming the address or the setting and
  /// the reason (the port is in use, the host does not resolve, the token file cannot be
  /// read, the certificate does not load, already running). `settings.enabled` is the
  /// caller's to check; who may change what is `authorize_management_request`'s rule; the
  /// Host names it accepts are `management_host_names::of_server`.
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
