// Routers: one ref in front of many routees.
//
// A router is an actor that forwards each message (keeping its sender) to one routee, or
// to all for `broadcast`. Pools create their routees as the router's children (and drop
// them as they stop: the router stops when none is left); groups route to existing actors
// given by path, resolved when a message is sent.
//
//   auto workers = system.spawn(troupe::routing::pool(5, troupe::props::of<worker>(),
//                                                     troupe::routing::round_robin()), "workers");
//   workers.tell(job{1});                                     // to one worker
//   workers.tell(troupe::routing::broadcast(flush{}));        // to every worker
//
//   auto by_user = troupe::routing::consistent_hashing(
//       [](const troupe::message& m) { return m.get_if<order>()->user_id; });
//   auto shards = system.spawn(troupe::routing::pool(8, shard_props, by_user), "shards");
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "troupe/actor/actor.hpp"

namespace troupe::routing {

/// Sends the wrapped message to every routee (copies; the message must be copyable).
struct broadcast {
  message msg;
  template <class T>
  explicit broadcast(T value) : msg(make_message(std::move(value))) {}
};
/// Asks a router for its current routees; it replies `routees`.
struct get_routees {};
struct routees {
  std::vector<actor_ref> refs;
};

/// Chooses routees for a message. Implementations are used by one router at a time.
class routing_logic {
 public:
  virtual ~routing_logic() = default;
  /// Index of the routee for `m` among `n > 0` routees (`refs` holds them).
  virtual std::size_t select(const message& m, const std::vector<actor_ref>& refs) = 0;
  /// True when every message goes to all routees.
  virtual bool is_broadcast() const noexcept { return false; }
  /// The routees changed.
  virtual void routees_changed(const std::vector<actor_ref>&) {}
  /// A fresh copy with the same configuration (each router gets its own).
  virtual std::unique_ptr<routing_logic> clone() const = 0;
};

/// A routing logic configuration, copyable into props.
using logic = std::shared_ptr<const routing_logic>;

/// Each routee in turn.
logic round_robin();
/// A random routee, drawn from an engine seeded by `seed` (0: the system's seed).
logic random(std::uint64_t seed = 0);
/// Every routee.
logic broadcast_all();
/// The routee owning the hash of `key(message)` on a ring with `virtual_nodes` points
/// per routee (so adding or removing a routee moves few keys).
logic consistent_hashing(std::function<std::string(const message&)> key, int virtual_nodes = 16);

/// Pool options beyond size and logic.
struct pool_options {
  troupe::supervisor_strategy strategy = supervisor_strategy::default_strategy();
};

/// A router that starts `size` routees from `routee` as its children.
props pool(std::size_t size, props routee, logic l, pool_options options = {});
/// A router over the actors at `paths` (resolved when each message is routed).
props group(std::vector<std::string> paths, logic l);

/// A consistent-hash ring of strings (the routees' ids), usable on its own.
class hash_ring {
 public:
  explicit hash_ring(int virtual_nodes = 16) : virtual_nodes_(virtual_nodes) {}
  /// Rebuilds the ring for `nodes`.
  void assign(const std::vector<std::string>& nodes);
  /// Index into the nodes given to `assign` owning `key`; the ring must not be empty.
  std::size_t node_for(std::string_view key) const;
  bool empty() const noexcept { return points_.empty(); }
  /// A stable 64-bit hash (FNV-1a), the same on every node and run.
  static std::uint64_t hash(std::string_view s) noexcept;

 private:
  int virtual_nodes_;
  std::vector<std::pair<std::uint64_t, std::size_t>> points_;
};

}  // namespace troupe::routing
