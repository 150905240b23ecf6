#include "troupe/ddata/pncounter.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>

#include "ddata/property.hpp"

using troupe::ddata::gcounter;
using troupe::ddata::pncounter;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);
const replica_id c = test_replica(3);

auto step_op(std::int64_t* total = nullptr) {
  return [total](pncounter& x, const replica_id& self, std::mt19937& rng) {
    const auto n = static_cast<std::int64_t>(pick(rng, 7)) - 3;
    if (chance(rng, 0.5)) {
      x.increment(self, n);
      if (total != nullptr) *total += n;
    } else {
      x.decrement(self, n);
      if (total != nullptr) *total -= n;
    }
  };
}

}  // namespace

TEST_CASE("pncounter counts up and down", "[unit][ddata][pncounter]") {
  pncounter x;
  x.increment(a, 5);
  x.decrement(b, 2);
  x.increment(a, -1);
  x.decrement(c, -4);
  CHECK(x.value() == 6);
  CHECK(x.increments() == gcounter({{a, 5}, {c, 4}}));
  CHECK(x.decrements() == gcounter({{a, 1}, {b, 2}}));
}

TEST_CASE("pncounter goes below zero and handles the extremes", "[unit][ddata][pncounter]") {
  pncounter x;
  x.decrement(a, 3);
  CHECK(x.value() == -3);
  pncounter y;
  y.increment(a, std::numeric_limits<std::int64_t>::min());
  CHECK(y.value() == std::numeric_limits<std::int64_t>::min());
  y.increment(b, std::numeric_limits<std::int64_t>::max());
  CHECK(y.value() == -1);
}

TEST_CASE("pncounter's delta holds both halves' changes", "[unit][ddata][pncounter]") {
  pncounter x;
  x.increment(a, 2);
  x.decrement(a, 1);
  REQUIRE(x.delta());
  CHECK(*x.delta() == x);
  x.reset_delta();
  x.decrement(b, 4);
  CHECK(*x.delta() == pncounter(gcounter{}, gcounter({{b, 4}})));
}

TEST_CASE("pncounter pruning folds both halves", "[unit][ddata][pncounter]") {
  pncounter x;
  x.increment(a, 1);
  x.increment(c, 10);
  x.decrement(c, 3);
  x.prune(c, a);
  CHECK(x.value() == 8);
  CHECK_FALSE(x.needs_pruning_from(c));
  CHECK(x.increments() == gcounter({{a, 11}}));
  CHECK(x.decrements() == gcounter({{a, 3}}));
}

TEST_CASE("pncounter properties", "[unit][ddata][pncounter][property]") {
  check_merge_is_a_join<pncounter>(step_op());
  check_deltas_match_full_merge<pncounter>(step_op());
  check_pruning_keeps_value<pncounter>(step_op(), [](const pncounter& x) { return x.value(); });
}

TEST_CASE("pncounter replicas converge on the sum of every step", "[unit][ddata][pncounter][property]") {
  std::int64_t total = 0;
  auto op = step_op(&total);
  for (std::uint32_t run = 0; run < 40; ++run) {
    total = 0;
    const pncounter last = check_convergence<pncounter>(op, 1, 60, 100 + run);
    CHECK(last.value() == total);
  }
}
