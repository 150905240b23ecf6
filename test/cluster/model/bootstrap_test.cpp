// Cluster bootstrap's rule (model/bootstrap.hpp): join once the discovered contact points
// are enough and unchanged for the stable margin, through the set sorted by address.
#include "troupe/cluster/model/bootstrap.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using troupe::cluster::model::address;
using troupe::cluster::model::bootstrap;
using troupe::cluster::model::bootstrap_decision;
using troupe::cluster::model::bootstrap_reason;
using troupe::cluster::model::bootstrap_settings;
using troupe::cluster::model::bootstrap_step;

namespace {

address node(int i, std::uint16_t port = 2552) { return {"sys", "10.0.0." + std::to_string(i), port}; }

bootstrap_settings settings(std::size_t required = 2, std::chrono::nanoseconds margin = 5s) {
  return {required, margin};
}

/// A fake clock: the time of each lookup, advanced by the test.
struct fake_clock {
  std::chrono::nanoseconds now{0};
  std::chrono::nanoseconds advance(std::chrono::nanoseconds d) { return now += d; }
};

}  // namespace

TEST_CASE("bootstrap: joins once enough contact points are stable for the margin", "[unit][bootstrap]") {
  fake_clock clock;
  bootstrap b{settings(3, 5s)};
  const std::vector<address> found{node(3), node(1), node(2)};
  auto d = b.on_lookup(found, clock.now);
  CHECK(d.step == bootstrap_step::keep_looking);
  CHECK(d.reason == bootstrap_reason::settling);
  CHECK(d.changed);
  d = b.on_lookup(found, clock.advance(4999ms));
  CHECK(d.step == bootstrap_step::keep_looking);
  CHECK_FALSE(d.changed);
  d = b.on_lookup(found, clock.advance(1ms));
  REQUIRE(d.step == bootstrap_step::join);
  CHECK(d.reason == bootstrap_reason::stable);
  CHECK(d.seeds == std::vector<address>{node(1), node(2), node(3)});
  CHECK(b.joined());
}

TEST_CASE("bootstrap: too few contact points never join, however long stable", "[unit][bootstrap]") {
  fake_clock clock;
  bootstrap b{settings(3, 1s)};
  for (int i = 0; i < 10; ++i) {
    const auto d = b.on_lookup({node(1), node(2)}, clock.advance(1s));
    CHECK(d.step == bootstrap_step::keep_looking);
    CHECK(d.reason == bootstrap_reason::too_few);
  }
  // The third arrives: the set changed, so the margin starts again.
  CHECK(b.on_lookup({node(1), node(2), node(3)}, clock.advance(1s)).reason == bootstrap_reason::settling);
  CHECK(b.on_lookup({node(1), node(2), node(3)}, clock.advance(1s)).step == bootstrap_step::join);
}

TEST_CASE("bootstrap: a changed set restarts the stability timer", "[unit][bootstrap]") {
  fake_clock clock;
  bootstrap b{settings(2, 5s)};
  b.on_lookup({node(1), node(2)}, clock.now);
  auto d = b.on_lookup({node(1), node(2), node(3)}, clock.advance(4s));
  CHECK(d.changed);
  CHECK(b.stable_since() == 4s);
  CHECK(b.on_lookup({node(1), node(2), node(3)}, clock.advance(4s)).step == bootstrap_step::keep_looking);
  // A node gone is a change too.
  CHECK(b.on_lookup({node(1), node(3)}, clock.advance(1s)).changed);
  CHECK(b.on_lookup({node(3), node(1)}, clock.advance(4s)).step == bootstrap_step::keep_looking);
  d = b.on_lookup({node(1), node(3)}, clock.advance(1s));
  REQUIRE(d.step == bootstrap_step::join);
  CHECK(d.seeds == std::vector<address>{node(1), node(3)});
}

TEST_CASE("bootstrap: order and duplicates of a lookup do not count as changes", "[unit][bootstrap]") {
  fake_clock clock;
  bootstrap b{settings(2, 2s)};
  b.on_lookup({node(2), node(1)}, clock.now);
  CHECK_FALSE(b.on_lookup({node(1), node(2), node(1)}, clock.advance(1s)).changed);
  CHECK(b.on_lookup({node(1), node(2)}, clock.advance(1s)).step == bootstrap_step::join);
}

TEST_CASE("bootstrap: failed lookups keep the set and its timer but never join alone", "[unit][bootstrap]") {
  fake_clock clock;
  bootstrap b{settings(2, 5s)};
  b.on_lookup({node(1), node(2)}, clock.now);
  for (int i = 0; i < 10; ++i) {
    const auto d = b.on_lookup_failed(clock.advance(1s));
    CHECK(d.step == bootstrap_step::keep_looking);
    CHECK(d.reason == bootstrap_reason::lookup_failed);
  }
  CHECK(b.contact_points().size() == 2);
  CHECK(b.stable_since() == 0s);
  // The next successful lookup with the same set decides at once: the margin passed.
  CHECK(b.on_lookup({node(1), node(2)}, clock.advance(1s)).step == bootstrap_step::join);
}

TEST_CASE("bootstrap: an empty lookup is a change and too few", "[unit][bootstrap]") {
  fake_clock clock;
  bootstrap b{settings(1, 1s)};
  b.on_lookup({node(1)}, clock.now);
  auto d = b.on_lookup({}, clock.advance(1s));
  CHECK(d.changed);
  CHECK(d.reason == bootstrap_reason::too_few);
  CHECK(b.on_lookup({}, clock.advance(10s)).reason == bootstrap_reason::too_few);
}

TEST_CASE("bootstrap: seeds sort by host then port, and a zero margin joins at the first lookup", "[unit][bootstrap]") {
  bootstrap b{settings(3, 0s)};
  const auto d = b.on_lookup({node(1, 2553), node(2, 2551), node(1, 2552)}, 0s);
  REQUIRE(d.step == bootstrap_step::join);
  CHECK(d.seeds == std::vector<address>{node(1, 2552), node(1, 2553), node(2, 2551)});
}

TEST_CASE("bootstrap: after the join the model answers joined", "[unit][bootstrap]") {
  bootstrap b{settings(1, 0s)};
  REQUIRE(b.on_lookup({node(1)}, 0s).step == bootstrap_step::join);
  auto d = b.on_lookup({node(1), node(2)}, 1s);
  CHECK(d.step == bootstrap_step::joined);
  CHECK(d.seeds.empty());
  CHECK(b.on_lookup_failed(2s).step == bootstrap_step::joined);
}

TEST_CASE("bootstrap: nodes that see the same set in any order agree on the seeds", "[unit][bootstrap][property]") {
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::vector<address> all;
  for (int i = 1; i <= 7; ++i) all.push_back(node(i, static_cast<std::uint16_t>(2550 + (i * 7) % 5)));
  std::vector<std::vector<address>> chosen;
  for (int n = 0; n < 5; ++n) {
    bootstrap b{settings(7, 3s)};
    std::chrono::nanoseconds now{0};
    bootstrap_decision d;
    // Each node sees the set grow in its own order, with failures in between.
    std::vector<address> seen;
    auto order = all;
    std::shuffle(order.begin(), order.end(), rng);
    for (const auto& a : order) {
      seen.push_back(a);
      now += std::chrono::milliseconds(rng() % 2000);
      if (rng() % 3 == 0) b.on_lookup_failed(now);
      d = b.on_lookup(seen, now);
      REQUIRE(d.step == bootstrap_step::keep_looking);
    }
    while (d.step == bootstrap_step::keep_looking) {
      now += std::chrono::milliseconds(1 + rng() % 1000);
      auto shuffled = seen;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      d = b.on_lookup(shuffled, now);
    }
    REQUIRE(d.step == bootstrap_step::join);
    chosen.push_back(d.seeds);
  }
  for (const auto& c : chosen) CHECK(c == chosen.front());
  CHECK(std::is_sorted(chosen.front().begin(), chosen.front().end()));
}
