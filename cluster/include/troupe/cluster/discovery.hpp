// discovery: finding the seed nodes instead of listing them (Akka Cluster Bootstrap).
//
// A node whose settings have a `discovery` block and no `seed-nodes` looks its contact
// points up every `interval-ms` on a thread of its own (lookups block: DNS may take
// seconds, and never on an actor's turn), feeds each result to the bootstrap model
// (model/bootstrap.hpp) and, once the set is large enough and stable, calls
// `cluster::join_seed_nodes` with the set sorted by address. Then it stops; it also stops
// when the node stops. The seed process does the rest: the lowest address forms a new
// cluster only when every other contact point answers that it is not a member, so a node
// that finds a running cluster joins it.
//
// Methods (settings.hpp, `discovery`):
// - `dns`, A/AAAA: every IP address of `service-name` with `port` (a Kubernetes headless
//   service lists the ready pods' IPs);
// - `dns`, `srv: true`: each SRV record of `service-name` (e.g.
//   `_troupe._tcp.troupe.shop.svc.cluster.local`) gives a target, resolved to its IP
//   addresses, and a port.
// - `postgresql`: a table `troupe_discovery(system, address, updated_at)` in the spirit of
//   Orleans' membership table. Each node upserts its own row at every lookup and, after
//   the join, every interval until it stops, then deletes it; a lookup returns its
//   system's rows fresher than `ttl-ms` (by the database's clock, so the nodes' clocks
//   need not agree).
//
//   auto resolver = troupe::cluster::system_dns_resolver();   // or a fake in tests
//   troupe::cluster::dns_seed_provider p{"shop", {"troupe.shop.svc", 2552, false}, resolver};
//   auto found = p.lookup();   // blocking: the discovery thread's call
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troupe/base/expected.hpp"
#include "troupe/actor/log.hpp"
#include "troupe/cluster/model/bootstrap.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster {

struct cluster_settings;

/// One SRV record (RFC 2782).
struct srv_record {
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;  ///< a host name, without the final dot

  friend bool operator==(const srv_record&, const srv_record&) = default;
};

/// Name resolution behind an interface: the system's, or a fake that tests fill in.
/// Calls block; they come from the discovery thread, one at a time.
class dns_resolver {
 public:
  virtual ~dns_resolver() = default;
  /// The IP addresses (A and AAAA records) of `name` as numeric text; an IP literal gives
  /// itself. An error says why (no such name, a server failure).
  virtual expected<std::vector<std::string>, std::string> resolve_ip(const std::string& name) = 0;
  /// The SRV records of `name`.
  virtual expected<std::vector<srv_record>, std::string> resolve_srv(const std::string& name) = 0;
};

/// The system's resolver: getaddrinfo for A/AAAA, glibc's res_query for SRV.
std::shared_ptr<dns_resolver> system_dns_resolver();

/// The SRV records in the answer section of the DNS response `msg` (wire format, as
/// res_query returns it); other records are skipped. Bounded: a malformed message is an
/// error, never a read past `size`.
expected<std::vector<srv_record>, std::string> parse_srv_answer(const unsigned char* msg, std::size_t size);

/// A lookup method. `lookup` blocks; the discovery thread calls it, one call at a time.
class seed_provider {
 public:
  virtual ~seed_provider() = default;
  /// The contact points found now; an error says why the lookup failed.
  virtual expected<std::vector<model::address>, std::string> lookup() = 0;
  /// What it looks up, for logs: `dns A/AAAA troupe.shop.svc port 2552`.
  virtual std::string describe() const = 0;
  /// True when this node registers itself (a table): `refresh` then goes on after the
  /// join, every interval, and `withdraw` runs when the discovery stops.
  virtual bool registers() const { return false; }
  /// Keeps this node's registration fresh; nullopt, or why it could not.
  virtual std::optional<std::string> refresh() { return std::nullopt; }
  /// Removes this node's registration (the node stops); nullopt, or why it could not.
  virtual std::optional<std::string> withdraw() { return std::nullopt; }
};

/// The `dns` method's parameters (settings.hpp's `discovery` block).
struct dns_lookup {
  std::string service_name;  ///< the name to look up
  std::uint16_t port = 0;    ///< with A/AAAA records: every contact point's port
  bool srv = false;          ///< SRV records: each gives its target and port
};

/// The `dns` method: contact points of system `system` from A/AAAA or SRV records.
class dns_seed_provider final : public seed_provider {
 public:
  dns_seed_provider(std::string system, dns_lookup what, std::shared_ptr<dns_resolver> resolver);
  expected<std::vector<model::address>, std::string> lookup() override;
  std::string describe() const override;

 private:
  std::string system_;
  dns_lookup what_;
  std::shared_ptr<dns_resolver> resolver_;
};

/// The `postgresql` method's parameters.
struct postgres_lookup {
  std::string connection;                    ///< a libpq connection string
  std::chrono::milliseconds ttl{10000};      ///< rows older than this are gone nodes
};

/// The `postgresql` method: this node (`self`) registers in, and looks its system's
/// contact points up in, the table `troupe_discovery` (created when missing).
class postgres_seed_provider final : public seed_provider {
 public:
  postgres_seed_provider(model::address self, postgres_lookup what);
  ~postgres_seed_provider() override;
  postgres_seed_provider(const postgres_seed_provider&) = delete;
  postgres_seed_provider& operator=(const postgres_seed_provider&) = delete;
  /// Upserts this node's row, then reads the fresh rows of its system.
  expected<std::vector<model::address>, std::string> lookup() override;
  std::string describe() const override;
  bool registers() const override { return true; }
  std::optional<std::string> refresh() override;
  std::optional<std::string> withdraw() override;

 private:
  struct connection;
  model::address self_;
  postgres_lookup what_;
  std::unique_ptr<connection> db_;
};

/// The provider that `settings.discovery` names (for dns its resolver, or the system's),
/// for this node at `settings.self_address()`; null when the settings have no discovery block.
std::unique_ptr<seed_provider> make_seed_provider(const cluster_settings& settings);

/// The discovery component: a thread that looks up every `interval`, feeds the
/// bootstrap model and calls `join` once with the seeds, then ends; with a registering
/// provider it refreshes every `interval` until `stop`, then withdraws. Lookup failures
/// are logged (at warning, the first of a run; then at debug) and keep the model's state.
class seed_discovery {
 public:
  seed_discovery(std::unique_ptr<seed_provider> provider, model::bootstrap_settings rule,
                 std::chrono::milliseconds interval, logger log,
                 std::function<void(std::vector<model::address>)> join);
  ~seed_discovery();  ///< `stop()`
  seed_discovery(const seed_discovery&) = delete;
  seed_discovery& operator=(const seed_discovery&) = delete;

  /// Starts the thread (once).
  void start();
  /// Ends the thread and waits for it (a lookup in progress finishes first); idempotent.
  /// Never call it from `join`.
  void stop();
  /// True once `join` was called.
  bool joined() const;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace troupe::cluster
