#include "troupe/ddata/gcounter.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>

#include "ddata/property.hpp"

using troupe::ddata::gcounter;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);
const replica_id c = test_replica(3);

auto increment_op(std::uint64_t* total = nullptr) {
  return [total](gcounter& x, const replica_id& self, std::mt19937& rng) {
    const std::uint64_t n = pick(rng, 4);
    x.increment(self, n);
    if (total != nullptr) *total += n;
  };
}

}  // namespace

TEST_CASE("gcounter sums the replicas' counts", "[unit][ddata][gcounter]") {
  gcounter x;
  CHECK(x.value() == 0);
  x.increment(a, 2);
  x.increment(b);
  x.increment(a, 3);
  CHECK(x.value() == 6);
  CHECK(x.value_of(a) == 5);
  CHECK(x.value_of(c) == 0);
}

TEST_CASE("gcounter merges by the larger count per replica", "[unit][ddata][gcounter]") {
  gcounter x({{a, 5}, {b, 1}});
  gcounter y({{a, 3}, {b, 4}, {c, 2}});
  x.merge(y);
  CHECK(x == gcounter({{a, 5}, {b, 4}, {c, 2}}));
  CHECK(x.value() == 11);
}

TEST_CASE("gcounter's delta holds the new counts of the replicas that incremented", "[unit][ddata][gcounter]") {
  gcounter x({{b, 7}});
  CHECK_FALSE(x.delta());
  x.increment(a, 0);
  CHECK_FALSE(x.delta());
  x.increment(a, 2);
  x.increment(a, 1);
  REQUIRE(x.delta());
  CHECK(*x.delta() == gcounter({{a, 3}}));
  x.reset_delta();
  CHECK_FALSE(x.delta());
  CHECK(x.value() == 10);  // the delta does not touch the value, nor equality
  CHECK(x == gcounter({{a, 3}, {b, 7}}));
}

TEST_CASE("gcounter pruning folds a removed replica's count into another", "[unit][ddata][gcounter]") {
  gcounter x({{a, 1}, {b, 2}, {c, 4}});
  CHECK(x.needs_pruning_from(c));
  CHECK(x.modified_by() == std::set<replica_id>{a, b, c});
  x.prune(c, a);
  CHECK(x == gcounter({{a, 5}, {b, 2}}));
  CHECK_FALSE(x.needs_pruning_from(c));
  CHECK(*x.delta() == gcounter({{a, 5}}));
  gcounter other({{a, 1}, {b, 2}, {c, 4}});
  other.merge(x);
  CHECK(other.value() == 11);  // counted twice until the cleanup
  other.pruning_cleanup(c);
  CHECK(other == x);
}

TEST_CASE("gcounter properties", "[unit][ddata][gcounter][property]") {
  check_merge_is_a_join<gcounter>(increment_op());
  check_deltas_match_full_merge<gcounter>(increment_op());
  check_pruning_keeps_value<gcounter>(increment_op(), [](const gcounter& x) { return x.value(); });
}

TEST_CASE("gcounter replicas converge on the total of every increment", "[unit][ddata][gcounter][property]") {
  std::uint64_t total = 0;
  auto op = increment_op(&total);
  // One run at a time, to know the total of that run.
  for (std::uint32_t run = 0; run < 40; ++run) {
    total = 0;
    const gcounter last = check_convergence<gcounter>(op, 1, 60, 100 + run);
    CHECK(last.value() == total);
  }
}
