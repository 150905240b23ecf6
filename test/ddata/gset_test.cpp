#include "troupe/ddata/gset.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <string>

#include "ddata/property.hpp"

using troupe::ddata::gset;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

auto add_op(std::set<std::string>* added = nullptr) {
  return [added](gset<std::string>& x, const replica_id&, std::mt19937& rng) {
    const std::string e(1, static_cast<char>('a' + pick(rng, 12)));
    x.add(e);
    if (added != nullptr) added->insert(e);
  };
}

}  // namespace

TEST_CASE("gset grows by union", "[unit][ddata][gset]") {
  gset<std::string> x;
  x.add("a");
  x.add("b");
  CHECK(x.contains("a"));
  CHECK(x.size() == 2);
  gset<std::string> y({"b", "c"});
  x.merge(y);
  CHECK(x.elements() == std::set<std::string>{"a", "b", "c"});
}

TEST_CASE("gset's delta holds the added elements", "[unit][ddata][gset]") {
  gset<std::int64_t> x({1});
  x.add(1);
  CHECK_FALSE(x.delta());
  x.add(2);
  x.add(-3);
  CHECK(*x.delta() == gset<std::int64_t>({2, -3}));
  x.reset_delta();
  CHECK_FALSE(x.delta());
  CHECK(x.size() == 3);
}

TEST_CASE("gset properties", "[unit][ddata][gset][property]") {
  check_merge_is_a_join<gset<std::string>>(add_op());
  check_deltas_match_full_merge<gset<std::string>>(add_op());
  std::set<std::string> added;
  auto op = add_op(&added);
  for (std::uint32_t run = 0; run < 40; ++run) {
    added.clear();
    const auto last = check_convergence<gset<std::string>>(op, 1, 40, 100 + run);
    CHECK(last.elements() == added);
  }
}
