#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "troupe/cluster/model/gossip_target_selector.hpp"
#include "troupe/cluster/model/gossip_peer_pools.hpp"

using namespace troupe::cluster;

namespace {

model::unique_address node(int i) {
  return {{"troupe-sim", "10.0.0." + std::to_string(i), 2552}, static_cast<std::uint64_t>(i + 1)};
}

}  // namespace

TEST_CASE("pooled gossip target selection makes the model's choice with the model's draws",
          "[unit][gossip_peer_pools]") {
  const auto base = Catch::rngSeed();
  for (std::uint64_t round = 0; round < 300; ++round) {
    const std::uint64_t seed = base + round;
    CAPTURE(seed);
    std::mt19937_64 gen{seed};
    model::gossip_target_input in;
    const int n = 1 + static_cast<int>(model::uniform_below(gen, 40));
    for (int i = 0; i < n; ++i) in.members.push_back(node(i));
    in.self = node(static_cast<int>(model::uniform_below(gen, static_cast<std::uint64_t>(n))));
    for (int i = 0; i < n; ++i) {
      if (model::uniform_below(gen, 2) == 0) in.seen_by.insert(node(i));
      if (model::uniform_below(gen, 8) == 0) in.excluded.insert(node(i));
    }
    model::gossip_target_settings settings;
    settings.reduce_gossip_different_view_probability = 1 + model::uniform_below(gen, 30);

    const model::gossip_peer_pools pools = model::make_gossip_peer_pools(in);
    std::mt19937_64 a{seed * 31}, b{seed * 31};
    for (int draw = 0; draw < 5; ++draw) {
      const auto expected = model::select_gossip_target(settings, in, a);
      const auto actual = model::select_gossip_target(settings, pools, b);
      REQUIRE(expected == actual);
    }
    CHECK(a() == b());  // the engines advanced alike
  }
}

TEST_CASE("pools made from a view choose as the model does on the daemon's input", "[unit][gossip_peer_pools]") {
  const auto base = Catch::rngSeed();
  for (std::uint64_t round = 0; round < 200; ++round) {
    const std::uint64_t seed = base + round;
    CAPTURE(seed);
    std::mt19937_64 gen{seed};
    const int n = 1 + static_cast<int>(model::uniform_below(gen, 150));
    std::vector<model::member> members;
    for (int i = 0; i < n; ++i) members.emplace_back(node(i));
    model::gossip g{members};
    const model::unique_address self = node(static_cast<int>(model::uniform_below(gen, static_cast<std::uint64_t>(n))));
    model::reachability r;
    for (int i = 0; i < n; ++i) {
      if (model::uniform_below(gen, 2) == 0) g = g.seen(node(i));
      if (model::uniform_below(gen, 10) == 0) r = r.unreachable(self, node(i));
    }
    g = g.with_reachability(r);

    // The input the daemon gives the model: every member, excluding those self finds unreachable.
    model::gossip_target_input in;
    in.self = self;
    for (const auto& m : g.members()) in.members.push_back(m.unique_address());
    in.seen_by = g.seen_by();
    for (const auto& rec : r.records_from(self)) in.excluded.insert(rec.subject);

    model::gossip_target_settings settings;
    settings.reduce_gossip_different_view_probability = 1 + model::uniform_below(gen, 100);
    const model::gossip_peer_pools pools = model::make_gossip_peer_pools(g, self);
    std::mt19937_64 a{seed * 31}, b{seed * 31};
    for (int draw = 0; draw < 5; ++draw)
      REQUIRE(model::select_gossip_target(settings, in, a) == model::select_gossip_target(settings, pools, b));
    CHECK(a() == b());
  }
}
