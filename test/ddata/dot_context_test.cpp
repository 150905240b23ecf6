#include "troupe/ddata/dot_context.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <vector>

#include "ddata/property.hpp"

using troupe::ddata::dot;
using troupe::ddata::dot_context;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);

}  // namespace

TEST_CASE("dot_context keeps early dots in the cloud until the gap fills", "[unit][ddata][dot_context]") {
  dot_context c;
  CHECK(c.next_dot(a) == dot{a, 1});
  c.insert({a, 3});
  c.insert({a, 2});
  CHECK(c.contains({a, 3}));
  CHECK_FALSE(c.contains({a, 1}));
  CHECK(c.versions().empty());
  CHECK(c.cloud().size() == 2);
  CHECK(c.next_dot(a) == dot{a, 4});  // past the highest seen, even across a gap
  c.insert({a, 1});
  CHECK(c.cloud().empty());
  CHECK(c.versions() == std::map<replica_id, std::uint64_t>{{a, 3}});
  CHECK(c.contains({a, 2}));
  CHECK(c.contains({b, 0}));
}

TEST_CASE("dot_context merge is set union, compacted", "[unit][ddata][dot_context]") {
  dot_context x({{a, 2}}, {dot{b, 2}});
  dot_context y({{b, 1}}, {dot{a, 4}});
  x.merge(y);
  CHECK(x == dot_context({{a, 2}, {b, 2}}, {dot{a, 4}}));
  CHECK(x.mentions(b));
  x.drop(a);
  CHECK_FALSE(x.mentions(a));
  CHECK(x == dot_context({{b, 2}}, {}));
}

TEST_CASE("dot_context is canonical: equal dot sets compare equal", "[unit][ddata][dot_context]") {
  const std::uint32_t seed = seed_for(10);
  CAPTURE(Catch::rngSeed(), seed);
  std::mt19937 rng(seed);
  for (int run = 0; run < 200; ++run) {
    CAPTURE(run);
    std::vector<dot> dots;
    for (int i = 0; i < 20; ++i) dots.push_back(dot{test_replica(1 + static_cast<int>(pick(rng, 3))), 1 + pick(rng, 10)});
    dot_context one;
    for (const dot& d : dots) one.insert(d);
    std::shuffle(dots.begin(), dots.end(), rng);
    dot_context halves[2];
    for (std::size_t i = 0; i < dots.size(); ++i) halves[i % 2].insert(dots[i]);
    halves[0].merge(halves[1]);
    REQUIRE(halves[0] == one);
    for (const dot& d : dots) REQUIRE(one.contains(d));
    const std::set<dot> set(dots.begin(), dots.end());
    for (int r = 1; r <= 3; ++r)
      for (std::uint64_t n = 1; n <= 10; ++n)
        REQUIRE(one.contains(dot{test_replica(r), n}) == (set.count(dot{test_replica(r), n}) > 0));
  }
}
