#include "troupe/cluster/sim/network.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <random>

using namespace troupe::cluster::sim;
using namespace std::chrono_literals;

TEST_CASE("a split blocks both directions between sides, not within one", "[unit][sim_network]") {
  simulated_network net{5, {}};
  CHECK_FALSE(net.partitioned());
  net.split({{0, 1}, {2, 3, 4}});
  CHECK(net.partitioned());
  CHECK(net.connected(0, 1));
  CHECK(net.connected(2, 4));
  CHECK_FALSE(net.connected(0, 2));
  CHECK_FALSE(net.connected(3, 1));
  net.heal();
  CHECK(net.connected(0, 2));
  CHECK_FALSE(net.partitioned());
}

TEST_CASE("a one-way partition blocks one direction only", "[unit][sim_network]") {
  simulated_network net{3, {}};
  net.set_side(2, 1);
  net.block(1, 0);
  CHECK_FALSE(net.connected(2, 0));
  CHECK(net.connected(0, 2));
  CHECK(net.connected(0, 1));
}

TEST_CASE("blocked messages are dropped, others delayed at least the base latency",
          "[unit][sim_network]") {
  network_settings s;
  s.base_latency = 1ms;
  s.jitter_mean = 2ms;
  simulated_network net{2, s};
  std::mt19937_64 rng{7};
  double sum = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto d = net.draw_delay(0, 1, rng);
    REQUIRE(d);
    CHECK(*d >= 1ms);
    sum += std::chrono::duration<double, std::milli>(*d).count();
  }
  CHECK(sum / 2000 == Approx(3.0).epsilon(0.1));  // base + mean of the exponential tail
  net.split({{0}});
  CHECK_FALSE(net.draw_delay(0, 1, rng));
}

TEST_CASE("loss drops about the given share of messages", "[unit][sim_network]") {
  network_settings s;
  s.loss = 0.25;
  simulated_network net{2, s};
  std::mt19937_64 rng{11};
  int lost = 0;
  for (int i = 0; i < 4000; ++i) lost += net.draw_delay(0, 1, rng) ? 0 : 1;
  CHECK(lost / 4000.0 == Approx(0.25).margin(0.03));
}

TEST_CASE("delays replay from the seed", "[unit][sim_network]") {
  simulated_network net{2, {}};
  std::mt19937_64 a{42}, b{42};
  for (int i = 0; i < 100; ++i) CHECK(net.draw_delay(0, 1, a) == net.draw_delay(0, 1, b));
}
