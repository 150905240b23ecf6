#include "troupe/ddata/lww_register.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <random>
#include <string>

#include "ddata/property.hpp"

using troupe::ddata::lww_register;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);

using reg = lww_register<std::string>;

void set_op(reg& x, const replica_id& self, std::mt19937& rng) {
  // Few distinct timestamps, so ties are common.
  x.set(self, std::string(1, static_cast<char>('a' + pick(rng, 5))), static_cast<std::int64_t>(pick(rng, 6)));
}

}  // namespace

TEST_CASE("lww_register keeps the later write", "[unit][ddata][lww_register]") {
  reg x;
  CHECK(x.timestamp() == reg::no_timestamp);
  x.set(a, "blue", 100);
  reg y;
  y.set(b, "red", 200);
  reg xy = x;
  xy.merge(y);
  reg yx = y;
  yx.merge(x);
  CHECK(xy.value() == "red");
  CHECK(xy == yx);
}

TEST_CASE("lww_register breaks timestamp ties by the larger replica id", "[unit][ddata][lww_register]") {
  REQUIRE(a < b);
  reg x;
  x.set(a, "from a", 100);
  reg y;
  y.set(b, "from b", 100);
  x.merge(y);
  y.merge(x);
  CHECK(x.value() == "from b");
  CHECK(y.value() == "from b");
  CHECK(x.writer() == b);
  // Same timestamp and replica (only bad input does that): the larger value, on both sides.
  reg p(a, "p", 5), q(a, "q", 5);
  reg pq = p, qp = q;
  pq.merge(q);
  qp.merge(p);
  CHECK(pq.value() == "q");
  CHECK(pq == qp);
}

TEST_CASE("lww_register: a write wins over what its replica has seen", "[unit][ddata][lww_register]") {
  reg x;
  x.set(a, "blue", 1000);
  x.set(b, "red", 900);  // a lagging clock
  CHECK(x.value() == "red");
  CHECK(x.timestamp() == 1001);
  CHECK(x.writer() == b);
  reg top(a, "top", std::numeric_limits<std::int64_t>::max());
  top.set(b, "still", 0);
  CHECK(top.timestamp() == std::numeric_limits<std::int64_t>::max());
  CHECK(top.value() == "still");
}

TEST_CASE("lww_register's delta is the register once written", "[unit][ddata][lww_register]") {
  reg x;
  CHECK_FALSE(x.delta());
  x.set(a, "v", 7);
  CHECK(*x.delta() == x);
  x.reset_delta();
  CHECK_FALSE(x.delta());
}

TEST_CASE("lww_register properties", "[unit][ddata][lww_register][property]") {
  check_merge_is_a_join<reg>(set_op);
  check_deltas_match_full_merge<reg>(set_op);
  check_convergence<reg>(set_op);
}
