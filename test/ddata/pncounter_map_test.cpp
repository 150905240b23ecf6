#include "troupe/ddata/pncounter_map.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>

#include "ddata/property.hpp"

using troupe::ddata::pncounter_map;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);
const replica_id c = test_replica(3);

using votes = pncounter_map<std::string>;

void votes_op(votes& x, const replica_id& self, std::mt19937& rng) {
  const std::string k(1, static_cast<char>('k' + pick(rng, 4)));
  const int what = static_cast<int>(pick(rng, 10));
  if (what < 5) {
    x.increment(self, k, static_cast<std::int64_t>(pick(rng, 3)));
  } else if (what < 8) {
    x.decrement(self, k, static_cast<std::int64_t>(pick(rng, 3)));
  } else {
    x.remove(k);
  }
}

}  // namespace

TEST_CASE("pncounter_map counts per key", "[unit][ddata][pncounter_map]") {
  votes x;
  x.increment(a, "yes", 2);
  x.decrement(b, "yes");
  x.increment(a, "no");
  CHECK(x.get("yes") == 1);
  CHECK(x.entries() == std::map<std::string, std::int64_t>{{"no", 1}, {"yes", 1}});
  x.remove("no");
  CHECK_FALSE(x.contains("no"));
  CHECK_FALSE(x.get("no"));
}

TEST_CASE("pncounter_map: concurrent increments of one key add up", "[unit][ddata][pncounter_map]") {
  votes x;
  x.increment(a, "k", 1);
  votes y = x, z = x;
  x.increment(a, "k", 2);
  y.increment(b, "k", 3);
  z.decrement(c, "k", 1);
  x.merge(y);
  x.merge(z);
  CHECK(x.get("k") == 5);
}

TEST_CASE("pncounter_map pruning keeps every key's count", "[unit][ddata][pncounter_map]") {
  votes x;
  x.increment(c, "k", 5);
  x.increment(a, "k", 1);
  x.decrement(c, "l", 2);
  x.prune(c, a);
  CHECK(x.entries() == std::map<std::string, std::int64_t>{{"k", 6}, {"l", -2}});
  CHECK_FALSE(x.needs_pruning_from(c));
}

TEST_CASE("pncounter_map properties", "[unit][ddata][pncounter_map][property]") {
  check_merge_is_a_join<votes>(votes_op);
  check_deltas_match_full_merge<votes>(votes_op);
  check_convergence<votes>(votes_op);
  check_pruning_keeps_value<votes>(votes_op, [](const votes& x) { return x.entries(); });
}
