// cluster_settings: one node's cluster configuration, parsed from one JSON file and
// validated once (in the spirit of Akka's `ClusterSettings` and Orleans' cluster block).
//
// Every key is optional; the defaults are Akka cluster's. Unknown keys are errors (they
// are usually typos), and every error names the key path and the expected value, e.g.
// `downing.static-quorum.quorum-size: expected an integer in [1, 1000000], got 0`.
//
//   {
//     "system": "shop",
//     "remote": {"host": "127.0.0.1", "port": 2551, "cookie": "s3cret"},
//     "seed-nodes": ["troupe://shop@127.0.0.1:2551", "troupe://shop@127.0.0.1:2552"],
//     "roles": ["backend"],
//     "min-nr-of-members": 1,
//     "role-min-nr-of-members": {"backend": 2},
//     "allow-weakly-up-members": true,
//     "weakly-up-after-ms": 7000,
//     "gossip-interval-ms": 1000,
//     "heartbeat-interval-ms": 1000,
//     "leader-actions-interval-ms": 1000,
//     "unreachable-nodes-reaper-interval-ms": 1000,
//     "seed-node-timeout-ms": 5000,
//     "first-seed-forms-cluster-when-alone": false,
//     "known-members-file": "/var/lib/shop/known-members",
//     "retry-unsuccessful-join-after-ms": 10000,
//     "failure-detector": {"threshold": 8.0, "acceptable-heartbeat-pause-ms": 3000,
//                          "min-std-deviation-ms": 100, "max-sample-size": 1000,
//                          "expected-response-after-ms": 1000,
//                          "monitored-by-nr-of-members": 9},
//     "downing": {"strategy": "keep-majority",
//                 "stable-after-ms": 20000,
//                 "down-all-when-unstable": "on",
//                 "gossips-on-downing": "auto",
//                 "keep-majority": {"role": ""},
//                 "static-quorum": {"quorum-size": 3, "role": ""},
//                 "keep-oldest": {"down-if-alone": true, "role": ""}},
//     "run-coordinated-shutdown-when-down": true,
//     "management": {"enabled": false, "host": "127.0.0.1", "port": 8558,
//                    "token-file": "", "token-env": "", "token-for-reads": false,
//                    "allow-unauthenticated-changes": false, "https": false,
//                    "certificate": "", "private-key": "", "allowed-hosts": ["mgmt.example.com"]},
//     "discovery": {"method": "dns", "service-name": "troupe.shop.svc.cluster.local", "port": 2552,
//                   "srv": false, "required-contact-points": 2, "stable-margin-ms": 5000,
//                   "interval-ms": 1000}
//   }
//
// - `remote` is the transport's own block, parsed by `remote::remote_settings::parse`
//   (host, port and cookie live there); its errors are reported as `remote.<key>`.
// - `seed-nodes` are `troupe://<system>@host:port` URIs naming this node's system. The
//   first one is the first seed, the only node that may form a new cluster: at once when
//   it is the only seed (such a cluster has no protection: restarted, it always starts a
//   new one), or when every other seed answers that it is not a member (all seeds
//   starting together). When no other seed answers within `seed-node-timeout-ms`, it
//   forms a cluster only with `first-seed-forms-cluster-when-alone: true` (Akka's
//   behaviour); by default it keeps asking and logs a warning at the timeout, then once
//   a minute, saying why: a first seed restarted while the other seeds are gone would
//   otherwise silently start a second, permanent cluster beside the running one.
// - `known-members-file` (default: none) is a file the node rewrites with the addresses
//   of the members it sees (one URI a line) and reads when it starts: a joining node then
//   asks those members as well as the seeds, so a first seed restarted while every other
//   seed is gone still joins the running cluster when any member it knew is alive. A
//   missing file counts as empty; give each node its own.
// - `downing.strategy` is keep-majority (the default), static-quorum, keep-oldest,
//   down-all, or off (no automatic downing: members are downed by hand or by management).
//   `stable-after-ms` defaults to Akka's 20 s; Akka recommends 7 s for clusters of up to
//   about 5 nodes (the simulator's and the demo's choice). `down-all-when-unstable` is
//   "on" (Akka: max(4 s, 3/4 of stable-after)), "off", or milliseconds > 0. Each strategy
//   reads only its own block; static-quorum needs `quorum-size`. `gossips-on-downing`
//   is how many peers the leader gossips a downing or a removal to at once, besides the
//   gossip rounds: "auto" (the default) is every reachable member in clusters of up to 16
//   members and none above (Akka's rule, which the simulator measures at 1,000 nodes);
//   a number applies at every size (a few save about a second at hundreds of nodes).
// - `management` (docs/management.md) is read-only unless a bearer token is configured
//   (`token-file` or `token-env`; PUT and DELETE, which leave and down members, must then
//   present it, and with `token-for-reads` every GET but /alive and /ready) or
//   `allow-unauthenticated-changes` is true. `https` serves TLS with `certificate` and
//   `private-key`, which default to `remote.tls`'s. It answers only
//   requests whose Host (and Origin, if sent) names it: `host` and the address it binds on
//   `port`; for a loopback address also localhost, 127.0.0.1 and [::1]; for a wildcard
//   (0.0.0.0, ::) localhost and any IP address on `port`; and each `allowed-hosts` entry,
//   "host" (any port) or "host:port", an IPv6 address in brackets, e.g. "[fd00::1]:8558".
// - `discovery` (default: none; docs/cluster.md, "Seed discovery") finds the seeds instead
//   of `seed-nodes` (giving both is an error). `method` (required) is "dns": the A/AAAA
//   records of `service-name` with `port` (default: remote.port, which must then not be
//   0), or with `srv: true` the SRV records of `service-name`, each giving a target
//   (resolved to its addresses) and a port; or "postgresql": the table troupe_discovery
//   at `connection` (a libpq connection string, or TROUPE_PG_CONNECTION), where each node
//   keeps its row fresh and rows older than `ttl-ms` (default 10000, more than
//   `interval-ms`) are nodes gone, e.g. {"method": "postgresql", "connection":
//   "host=db dbname=shop", "ttl-ms": 10000}. Every `interval-ms`
//   (default 1000) the node looks up; once at least `required-contact-points` (default 2)
//   addresses are found and unchanged for `stable-margin-ms` (default 5000, Akka's), it
//   joins through them sorted by address: the lowest forms the cluster when none of the
//   others is a member (troupe/cluster/model/bootstrap.hpp). Failed lookups are logged and
//   keep the found set and its timer. The addresses must spell the nodes' own
//   `remote.host` (e.g. the pod IP in TROUPE_HOST), or a node does not recognise itself.
//
// Environment variables may then override the address, the seeds and the cookie (empty ones
// count as unset), so one file serves every node of a demo or a container image, and the
// secret need not live in the file:
//
//   auto s = troupe::cluster::cluster_settings::parse_file("cluster.json");
//   if (s) s = s->apply_environment([](const char* name) { return std::getenv(name); });
//   if (!s) { std::cerr << s.error().what() << '\n'; return 2; }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "troupe/base/expected.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/cluster/model/heartbeat_ring.hpp"
#include "troupe/cluster/model/membership_state.hpp"
#include "troupe/cluster/model/split_brain_resolver.hpp"
#include "troupe/base/phi_accrual_failure_detector.hpp"
#include "troupe/remote/settings.hpp"

namespace troupe::cluster {

class dns_resolver;

/// Cluster management over HTTP (Akka Management): off by default, on its own port,
/// read-only by default. Changes need a bearer token (or, without one, an explicit
/// `allow_unauthenticated_changes`); HTTPS is optional (docs/management.md).
struct management_settings {
  bool enabled = false;              ///< serve the endpoints at all
  std::string host = "127.0.0.1";    ///< address to bind
  std::uint16_t port = 8558;         ///< port to bind; 0: any free port
  /// The bearer token that PUT and DELETE (leave, down) must present, read when the server
  /// starts from this file (surrounding whitespace trimmed)...
  std::string token_file;
  /// ...or from this environment variable; at most one of the two. The token must be 16 to
  /// 1,024 characters of RFC 6750's token68 alphabet (letters, digits, `-._~+/`, then `=`).
  std::string token_env;
  /// Reads (every GET but the health checks `/alive` and `/ready`) need the token too.
  bool token_for_reads = false;
  /// Without a token, accept PUT and DELETE from anyone who reaches the port. False, the
  /// default: without a token the server is read-only, they get 403.
  bool allow_unauthenticated_changes = false;
  /// Serve HTTPS (TLS 1.2 or later) instead of HTTP, with this certificate chain and key
  /// (PEM files); the cluster settings default them to the transport's `remote.tls` ones.
  bool https = false;
  std::string certificate;  ///< with `https`: PEM file of the server's certificate (chain)
  std::string private_key;  ///< with `https`: PEM file of its private key
  /// More names the Host and Origin headers may give besides the bound ones: "host" (on
  /// any port) or "host:port" (a DNS name, an IPv4 address or an IPv6 one in brackets),
  /// e.g. the name of a proxy in front, or the port `kubectl port-forward` listens on.
  std::vector<std::string> allowed_hosts;
};

/// Seed discovery (troupe/cluster/discovery.hpp): where to look the contact points up, and
/// Akka Cluster Bootstrap's rule for when to join through them.
struct discovery_settings {
  std::string method = "dns";       ///< the lookup method: "dns" or "postgresql"
  std::string service_name;         ///< the DNS name whose A/AAAA (or SRV) records list the nodes
  std::uint16_t port = 0;           ///< with A/AAAA records: the nodes' port (default: remote.port)
  bool srv = false;                 ///< look up SRV records: each gives a target and a port
  std::size_t required_contact_points = 2;           ///< join only with at least this many
  std::chrono::milliseconds stable_margin{5000};     ///< ...unchanged for this long
  std::chrono::milliseconds interval{1000};          ///< between two lookups
  /// postgresql: the libpq connection string (or TROUPE_PG_CONNECTION, apply_environment).
  std::string connection;
  /// postgresql: rows not refreshed for this long are nodes gone; more than `interval`.
  std::chrono::milliseconds ttl{10000};
  /// The resolver the dns method asks; null (what parsing gives): the system's. Tests and
  /// embedders with their own name service set it.
  std::shared_ptr<dns_resolver> resolver;
};

/// One node's cluster settings; the defaults are Akka cluster's.
struct cluster_settings {
  std::string system = "troupe";      ///< actor system name, shared by every node of the cluster
  remote::remote_settings remote;     ///< the transport: host, port, cookie, TLS, lanes
  std::vector<remote::address> seed_nodes;  ///< contact points, in order; empty: join by hand
  std::set<std::string> roles;        ///< this node's roles

  /// min-nr-of-members (also per role) and weakly up, as the leader applies them.
  model::membership_settings membership;
  /// How long convergence must be blocked before the leader moves joiners to weakly up.
  std::chrono::milliseconds weakly_up_after{7000};

  std::chrono::milliseconds gossip_interval{1000};                ///< one gossip round per interval
  std::chrono::milliseconds heartbeat_interval{1000};             ///< to each monitored node
  std::chrono::milliseconds leader_actions_interval{1000};        ///< leader's tick
  std::chrono::milliseconds unreachable_nodes_reaper_interval{1000};  ///< failure detector check
  std::chrono::milliseconds seed_node_timeout{5000};              ///< wait for seeds to answer InitJoin
  /// The first seed forms a cluster when no other seed answers in `seed_node_timeout`
  /// (Akka); false, the default: it keeps asking and logs why (see the file comment).
  bool first_seed_forms_cluster_when_alone = false;
  /// Where the node keeps the members it last saw, and asks them when it joins; empty: nowhere.
  std::filesystem::path known_members_file;
  std::chrono::milliseconds retry_unsuccessful_join_after{10000}; ///< resend Join without Welcome

  /// Phi accrual tuning; `first_heartbeat_estimate` equals `heartbeat_interval` (as in Akka).
  phi_accrual_settings failure_detector;
  /// Grace before the first heartbeat response of a new receiver is expected.
  std::chrono::milliseconds expected_response_after{1000};
  /// Nodes that watch each node on the heartbeat ring.
  std::size_t monitored_by_nr_of_members = model::default_monitored_by_nr_of_members;

  /// The split brain resolver as downing provider; nullopt when downing is "off".
  std::optional<model::sbr_settings> downing = model::sbr_settings{};
  /// Peers the leader gossips its downing and removal decisions to at once (`downing.
  /// gossips-on-downing`); nullopt ("auto"): every reachable member in clusters of up to
  /// 16 members, none in larger ones (Akka's rule: the gossip rounds spread them).
  std::optional<std::size_t> gossips_on_downing;

  /// A node that is downed or removed runs coordinated shutdown of its actor system.
  bool run_coordinated_shutdown_when_down = true;

  management_settings management;  ///< the HTTP management endpoints
  /// Seed discovery; nullopt (the default): none. Never together with `seed_nodes`.
  std::optional<discovery_settings> discovery;

  /// This node's address: `troupe://system@remote.host:remote.port`.
  remote::address self_address() const { return {system, remote.host, remote.port}; }

  /// Parses and validates `j`; unknown keys are errors, named by their key path.
  static expected<cluster_settings, config_error> parse(const nlohmann::json& j);
  /// Like `parse`, from JSON text; text that is not JSON gives the key "<json>".
  static expected<cluster_settings, config_error> parse(const std::string& json_text);
  /// Like `parse`, from a file; an unreadable or non-JSON file gives an error whose key is
  /// the file's path.
  static expected<cluster_settings, config_error> parse_file(const std::filesystem::path& path);

  /// A copy overridden from the environment, read through `getenv` (injected, e.g. a
  /// lambda calling `std::getenv`): `TROUPE_HOST` (remote.host), `TROUPE_PORT`
  /// (remote.port, 0-65535), `TROUPE_SEEDS` (comma-separated `troupe://system@host:port`
  /// URIs replacing seed-nodes) and `TROUPE_COOKIE` (remote.cookie, and remote.insecure
  /// off). Empty variables count as unset. An error's key is the variable's name;
  /// `TROUPE_SEEDS` with a `discovery` block is one. `TROUPE_PG_CONNECTION` replaces the
  /// postgresql discovery's `connection`.
  expected<cluster_settings, config_error> apply_environment(
      const std::function<const char*(const char*)>& getenv) const;
};

}  // namespace troupe::cluster
