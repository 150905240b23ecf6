#include "troupe/ddata/lww_map.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>

#include "ddata/property.hpp"

using troupe::ddata::lww_map;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);

using map = lww_map<std::string, std::int64_t>;

void map_op(map& x, const replica_id& self, std::mt19937& rng) {
  const std::string k(1, static_cast<char>('k' + pick(rng, 4)));
  if (chance(rng, 0.75)) {
    x.put(self, k, static_cast<std::int64_t>(pick(rng, 100)), static_cast<std::int64_t>(pick(rng, 5)));
  } else {
    x.remove(k);
  }
}

}  // namespace

TEST_CASE("lww_map puts and removes", "[unit][ddata][lww_map]") {
  map x;
  x.put(a, "x", 1, 10);
  x.put(a, "y", 2, 10);
  x.put(a, "x", 3, 5);  // stamped 11: a write wins over what its replica has seen
  CHECK(x.get("x") == 3);
  x.remove("y");
  CHECK(x.entries() == std::map<std::string, std::int64_t>{{"x", 3}});
  CHECK_FALSE(x.get("y"));
}

TEST_CASE("lww_map: concurrent puts keep the later write, ties the larger replica", "[unit][ddata][lww_map]") {
  map x, y;
  x.put(a, "k", 1, 100);
  y.put(b, "k", 2, 100);
  map xy = x, yx = y;
  xy.merge(y);
  yx.merge(x);
  CHECK(xy == yx);
  CHECK(xy.get("k") == 2);
  map p, q;
  p.put(b, "k", 1, 100);
  q.put(a, "k", 2, 101);
  p.merge(q);
  CHECK(p.get("k") == 2);
}

TEST_CASE("lww_map: a put concurrent with a remove keeps the key", "[unit][ddata][lww_map]") {
  map x;
  x.put(a, "k", 1, 1);
  map y = x;
  x.remove("k");
  y.put(b, "k", 2, 2);
  x.merge(y);
  CHECK(x.get("k") == 2);
}

TEST_CASE("lww_map properties", "[unit][ddata][lww_map][property]") {
  check_merge_is_a_join<map>(map_op);
  check_deltas_match_full_merge<map>(map_op);
  check_convergence<map>(map_op);
  check_pruning_keeps_value<map>(map_op, [](const map& x) { return x.entries(); });
}
