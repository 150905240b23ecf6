// least_loaded: the cluster routers' routing logic that sends each message to the routee
// with the fewest messages waiting.
//
// A cluster group or pool router with this logic asks, every `load-report-interval-ms`
// (cluster_router_settings::load_report_interval), each node that runs its routees for
// their mailbox sizes (troupe/routers/load_protocol.hpp), and measures its own node's
// routees directly (actor_system::mailbox_size). It sends each message to the routee with
// the smallest reported size plus the messages it sent there since that size was asked
// for; round robin among equals (load_balance.hpp). A routee with no report yet counts as
// size 0. It is Akka's SmallestMailboxRoutingLogic made cluster-aware, with sizes that are
// up to one interval old.
//
//   troupe::routers::cluster_router_settings s;
//   s.routees_paths = {"/user/worker"};
//   auto router = system.spawn(troupe::routers::cluster_group(s, troupe::routers::least_loaded()), "workers");
//
// Every node hosting routees needs its routee host running to answer: pools' hosts do;
// for a group, call `cluster_routers::get(system).host()` on the routees' nodes. A node
// without one sends no report: its routees count as size 0 plus all ever sent to them, so
// they get fewer and fewer messages beside routees that report.
// In a local router (troupe::routing::pool or group) nothing reports sizes, and the logic
// sends each message to the routee that got the fewest.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "troupe/actor/routing.hpp"
#include "troupe/routers/load_balance.hpp"

namespace troupe::routers {

/// The least-loaded routing logic, for `cluster_group` and `cluster_pool`.
routing::logic least_loaded();

/// Asks a cluster router for its routees' load estimates; it replies `routee_loads` (empty
/// unless its logic is `least_loaded`). For asks on the router's node: it is not
/// registered for the wire.
struct get_routee_loads {};

/// One routee's load as the router sees it.
struct routee_load {
  actor_ref routee;
  std::optional<std::uint32_t> reported;  ///< the mailbox size last reported, if any
  std::uint64_t estimate = 0;             ///< reported size + messages sent since it was asked for
};

struct routee_loads {
  std::vector<routee_load> loads;  ///< in routing order
};

/// The logic behind `least_loaded()`; the cluster routers feed it the reports. Keys are
/// the routees' paths (`actor_ref::path()`).
class least_loaded_logic final : public routing::routing_logic {
 public:
  std::size_t select(const message& m, const std::vector<actor_ref>& refs) override;
  void routees_changed(const std::vector<actor_ref>& refs) override;
  std::unique_ptr<routing::routing_logic> clone() const override;

  /// The messages sent to `routee` so far (to pass back with its report).
  std::uint64_t sent(const actor_ref& routee) const;
  /// `routee`'s mailbox held `size` messages when asked, after `sent_when_asked` were sent
  /// to it. False when it is not a routee.
  bool report(const actor_ref& routee, std::uint32_t size, std::uint64_t sent_when_asked);
  /// The estimates of `refs` (the routees given to `routees_changed`).
  std::vector<routee_load> loads(const std::vector<actor_ref>& refs) const;

 private:
  load_balance balance_;
};

}  // namespace troupe::routers
