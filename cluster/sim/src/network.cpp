#include "troupe/cluster/sim/network.hpp"

#include <cmath>

#include "troupe/cluster/model/gossip_target_selector.hpp"

namespace troupe::cluster::sim {

simulated_network::simulated_network(std::size_t nodes, network_settings settings)
    : settings_(settings), side_(nodes, 0) {}

std::size_t simulated_network::add_node() {
  side_.push_back(0);
  return side_.size() - 1;
}

void simulated_network::split(const std::vector<std::vector<std::size_t>>& groups) {
  heal();
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (const std::size_t node : groups[g]) side_[node] = static_cast<int>(g) + 1;
  const int sides = static_cast<int>(groups.size()) + 1;
  for (int a = 0; a < sides; ++a)
    for (int b = 0; b < sides; ++b)
      if (a != b) blocked_.emplace(a, b);
}

void simulated_network::block(int from, int to) {
  if (from != to) blocked_.emplace(from, to);
}

void simulated_network::heal() {
  std::fill(side_.begin(), side_.end(), 0);
  blocked_.clear();
}

bool simulated_network::connected(std::size_t from, std::size_t to) const {
  const int a = side_[from];
  const int b = side_[to];
  return a == b || !blocked_.contains({a, b});
}

std::optional<std::chrono::nanoseconds> simulated_network::draw_delay(std::size_t from,
                                                                      std::size_t to,
                                                                      std::mt19937_64& rng) const {
  if (!connected(from, to)) return std::nullopt;
  if (settings_.loss > 0.0 && model::uniform_unit(rng) < settings_.loss) return std::nullopt;
  // Inverse transform sampling of the exponential tail.
  const double u = model::uniform_unit(rng);
  const double tail = -std::log1p(-u) * static_cast<double>(settings_.jitter_mean.count());
  return settings_.base_latency + std::chrono::nanoseconds{static_cast<std::int64_t>(tail)};
}

}  // namespace troupe::cluster::sim
