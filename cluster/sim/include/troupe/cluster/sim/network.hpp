// network: the simulated wire between model nodes (latency, loss, partitions).
//
// Nodes are numbered 0..n-1. Every node sits on a `side` (0 by default); messages between
// nodes on one side always pass, messages between sides pass unless that direction is
// blocked, so a partition of any shape is "assign sides, block directions", and a one-way
// partition blocks only one direction. A message that passes is delayed by a latency drawn
// from `base + exponential(jitter_mean)` and lost with probability `loss`.
//
//   simulated_network net{5, {}};
//   net.split({{0, 1}, {2, 3, 4}});      // two sides, both directions blocked
//   assert(!net.connected(0, 2) && net.connected(2, 3));
//   net.heal(); net.set_side(4, 1);
//   net.block(1, 0);                     // node 4 hears everyone, nobody hears it
//   net.heal();                          // one side again
//   if (auto d = net.draw_delay(0, 2, rng)) deliver_at(now + *d);
//
// The random engine is an argument, and draws use the model's portable helpers, so a seed
// replays the same delays on every platform.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace troupe::cluster::sim {

/// Latency and loss of every link.
struct network_settings {
  /// Fixed part of the one-way latency.
  std::chrono::nanoseconds base_latency = std::chrono::microseconds{300};
  /// Mean of the exponential part added to `base_latency` (a long tail, as on real networks).
  std::chrono::nanoseconds jitter_mean = std::chrono::microseconds{200};
  /// Probability that a message is lost; in [0, 1).
  double loss = 0.0;
};

/// Links between simulated nodes.
class simulated_network {
 public:
  /// `nodes` nodes, all on side 0, with `settings` on every link.
  simulated_network(std::size_t nodes, network_settings settings);

  /// Adds a node on side 0; returns its number.
  std::size_t add_node();
  /// Number of nodes.
  std::size_t size() const noexcept { return side_.size(); }

  /// Puts each group on its own side (group i on side i + 1; unlisted nodes stay on
  /// side 0) and blocks every direction between different sides.
  void split(const std::vector<std::vector<std::size_t>>& groups);
  /// Moves `node` to `side` (no direction is blocked by this alone).
  void set_side(std::size_t node, int side) { side_[node] = side; }
  /// Blocks messages from side `from` to side `to` (a one-way partition).
  void block(int from, int to);
  /// Everyone back on side 0, nothing blocked.
  void heal();

  /// Side of `node`.
  int side_of(std::size_t node) const { return side_[node]; }
  /// True if a message from `from` to `to` may pass (ignoring loss).
  bool connected(std::size_t from, std::size_t to) const;
  /// True if some direction is blocked.
  bool partitioned() const noexcept { return !blocked_.empty(); }

  /// The delay of a message from `from` to `to`, or nullopt if it is blocked or lost.
  std::optional<std::chrono::nanoseconds> draw_delay(std::size_t from, std::size_t to,
                                                     std::mt19937_64& rng) const;

  /// The settings in force.
  const network_settings& settings() const noexcept { return settings_; }

 private:
  network_settings settings_;
  std::vector<int> side_;
  std::set<std::pair<int, int>> blocked_;
};

}  // namespace troupe::cluster::sim
