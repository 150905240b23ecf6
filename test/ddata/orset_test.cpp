#include "troupe/ddata/orset.hpp"

#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <set>
#include <string>

#include "ddata/property.hpp"

using troupe::ddata::dot;
using troupe::ddata::orset;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);
const replica_id c = test_replica(3);

using set = orset<std::string>;

/// The first dot of `e`, or nullopt when absent.
std::optional<dot> first_dot(const set& s, const std::string& e) {
  const auto* ds = s.kernel().find(e);
  if (ds == nullptr || ds->empty()) return std::nullopt;
  return ds->begin()->first;
}

std::string element(std::mt19937& rng) { return std::string(1, static_cast<char>('a' + pick(rng, 6))); }

void set_op(set& x, const replica_id& self, std::mt19937& rng) {
  const int what = static_cast<int>(pick(rng, 20));
  if (what < 11) {
    x.add(self, element(rng));
  } else if (what < 19) {
    x.remove(element(rng));
  } else {
    x.clear();
  }
}

}  // namespace

TEST_CASE("orset adds and removes", "[unit][ddata][orset]") {
  set x;
  x.add(a, "x");
  x.add(a, "y");
  x.add(b, "x");
  CHECK(x.elements() == std::set<std::string>{"x", "y"});
  CHECK(first_dot(x, "x") == dot{b, 1});  // a new add supersedes the dots it saw
  CHECK(x.kernel().entries().at("x").size() == 1);
  x.remove("x");
  CHECK_FALSE(x.contains("x"));
  CHECK(x.size() == 1);
  x.clear();
  CHECK(x.empty());
  CHECK(x.kernel().context().versions() == std::map<replica_id, std::uint64_t>{{a, 2}, {b, 1}});
}

TEST_CASE("orset: a concurrent add wins over a remove", "[unit][ddata][orset]") {
  set x;
  x.add(a, "x");
  set y = x;
  x.remove("x");   // removes a's add, the only one it observed
  y.add(b, "x");   // concurrently
  set xy = x;
  xy.merge(y);
  set yx = y;
  yx.merge(x);
  CHECK(xy.contains("x"));
  CHECK(xy == yx);
  CHECK(first_dot(xy, "x") == dot{b, 1});
}

TEST_CASE("orset: a remove wins over the adds it observed", "[unit][ddata][orset]") {
  set x;
  x.add(a, "x");
  x.add(b, "x");
  set y = x;
  y.remove("x");
  x.merge(y);
  CHECK_FALSE(x.contains("x"));
  // Concurrent adds of one element at two replicas both survive one side's remove of the other.
  set p, q;
  p.add(a, "z");
  q.add(b, "z");
  set p2 = p;
  p2.remove("z");  // saw only a's add
  p2.merge(q);
  CHECK(p2.contains("z"));
}

TEST_CASE("orset deltas apply in any order", "[unit][ddata][orset]") {
  set x;
  x.add(a, "x");
  const set d1 = *take_delta(x);
  x.add(a, "y");
  const set d2 = *take_delta(x);
  x.remove("x");
  const set d3 = *take_delta(x);
  set y;
  y.merge_delta(d2);  // early: a:2 before a:1
  CHECK(y.elements() == std::set<std::string>{"y"});
  CHECK(y.kernel().context().cloud().size() == 1);
  y.merge_delta(d3);
  y.merge_delta(d1);  // late: its dot is known removed already
  y.merge_delta(d2);
  CHECK(y == x);
  CHECK(y.elements() == std::set<std::string>{"y"});
  CHECK(y.kernel().context().cloud().empty());
}

TEST_CASE("orset on one replica behaves as a set", "[unit][ddata][orset][property]") {
  const std::uint32_t seed = seed_for(20);
  CAPTURE(Catch::rngSeed(), seed);
  std::mt19937 rng(seed);
  set x;
  std::set<std::string> model;
  for (int i = 0; i < 2000; ++i) {
    const std::string e = element(rng);
    if (chance(rng, 0.55)) {
      x.add(a, e);
      model.insert(e);
    } else {
      x.remove(e);
      model.erase(e);
    }
    REQUIRE(x.elements() == model);
  }
}

TEST_CASE("orset pruning adds the removed replica's elements again", "[unit][ddata][orset]") {
  set x;
  x.add(c, "x");
  x.add(a, "y");
  x.reset_delta();
  x.prune(c, a);
  CHECK(x.elements() == std::set<std::string>{"x", "y"});
  CHECK_FALSE(x.needs_pruning_from(c));
  CHECK(first_dot(x, "x") == dot{a, 2});
  REQUIRE(x.delta());
  CHECK(x.delta()->contains("x"));
}

TEST_CASE("orset properties", "[unit][ddata][orset][property]") {
  check_merge_is_a_join<set>(set_op);
  check_deltas_match_full_merge<set>(set_op);
  check_convergence<set>(set_op);
  check_pruning_keeps_value<set>(set_op, [](const set& x) { return x.elements(); });
}

TEST_CASE("orset of integers", "[unit][ddata][orset][property]") {
  auto op = [](orset<std::int64_t>& x, const replica_id& self, std::mt19937& rng) {
    const auto e = static_cast<std::int64_t>(pick(rng, 8)) - 4;
    if (chance(rng, 0.6)) {
      x.add(self, e);
    } else {
      x.remove(e);
    }
  };
  check_merge_is_a_join<orset<std::int64_t>>(op, 50);
  check_convergence<orset<std::int64_t>>(op, 30);
}
