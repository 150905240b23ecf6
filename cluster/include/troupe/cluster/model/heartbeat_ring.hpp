// heartbeat_ring: who sends heartbeats to whom (Akka's `HeartbeatNodeRing`).
//
// Every node is placed on a ring by a stable hash of its unique_address, so physically
// neighbouring nodes (consecutive ports, one rack) are scattered. A node sends heartbeats
// to (and runs failure detectors for) the `monitored_by_nr_of_members` nodes that follow
// it on the ring; in a cluster of n nodes each node is therefore watched by
// min(monitored_by_nr_of_members, n - 1) others. Unreachable nodes met on the way are
// kept as receivers while fewer than `monitored_by_nr_of_members` have been picked, but do
// not count: the walk goes on until that many reachable receivers are found, so downing or
// crashing many nodes at once does not leave the others unwatched (Akka issue #16624).
//
// The hash is `ring_hash` (64-bit FNV-1a over a fixed byte encoding), never std::hash, so
// every node computes the same ring in every run and on every platform.
//
//   heartbeat_ring ring{self, {self, a, b, c}, /*unreachable=*/{}, 9};
//   for (const auto& peer : ring.my_receivers()) { /* send heartbeat to peer */ }
//   auto watchers = ring.monitors_of(a);   // the nodes whose detectors judge `a`
//
// Pure value type: links only the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

/// Akka's default `monitored-by-nr-of-members`.
inline constexpr std::size_t default_monitored_by_nr_of_members = 9;

/// Stable 64-bit FNV-1a hash of `node`: system, host (each followed by a 0 byte), port
/// (2 bytes, little endian) and uid (8 bytes, little endian). Identical everywhere.
std::uint64_t ring_hash(const unique_address& node) noexcept;

/// The heartbeat ring of one node's view: immutable, operations return new rings.
class heartbeat_ring {
 public:
  /// The ring over `nodes` (and `self`, added if missing), seen from `self`.
  /// `unreachable` nodes that are not in `nodes` are ignored.
  heartbeat_ring(unique_address self, std::set<unique_address> nodes,
                 std::set<unique_address> unreachable = {},
                 std::size_t monitored_by_nr_of_members = default_monitored_by_nr_of_members);

  /// The nodes `sender` sends heartbeats to: the first `monitored_by_nr_of_members`
  /// reachable nodes after it on the ring, plus the unreachable ones met while fewer than
  /// `monitored_by_nr_of_members` were picked. Empty for a node not on the ring.
  std::set<unique_address> receivers(const unique_address& sender) const;

  /// `receivers(sender)` for a node on the ring; for one that is not (a joining node
  /// watching the members before they watch it), the receivers it would have if it were
  /// added. Lets many nodes share one ring (O(log n) to find the place).
  std::set<unique_address> receivers_from_place(const unique_address& sender) const;

  /// `receivers(self())`, computed once.
  const std::set<unique_address>& my_receivers() const noexcept { return my_receivers_; }

  /// The nodes whose receivers include `node`: those that monitor it.
  std::set<unique_address> monitors_of(const unique_address& node) const;

  /// This ring with `node` added.
  heartbeat_ring with_node(const unique_address& node) const;

  /// This ring with `node` removed from the nodes and the unreachable ones; self stays.
  heartbeat_ring without_node(const unique_address& node) const;

  /// This ring with `unreachable` as the set of unreachable nodes.
  heartbeat_ring with_unreachable(std::set<unique_address> unreachable) const;

  /// The node whose view this is.
  const unique_address& self() const noexcept { return self_; }

  /// All nodes, self included.
  const std::set<unique_address>& nodes() const noexcept { return nodes_; }

  /// The unreachable nodes (a subset of `nodes()`).
  const std::set<unique_address>& unreachable() const noexcept { return unreachable_; }

  /// The nodes in ring order: ascending `ring_hash`, ties by unique_address.
  const std::vector<unique_address>& ring_order() const noexcept { return ring_; }

  /// How many reachable nodes each node sends heartbeats to.
  std::size_t monitored_by_nr_of_members() const noexcept { return monitored_by_nr_of_members_; }

 private:
  unique_address self_;
  std::set<unique_address> nodes_;
  std::set<unique_address> unreachable_;
  std::size_t monitored_by_nr_of_members_;
  std::vector<unique_address> ring_;
  std::set<unique_address> my_receivers_;
};

}  // namespace troupe::cluster::model
