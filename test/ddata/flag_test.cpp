#include "troupe/ddata/flag.hpp"

#include <catch2/catch.hpp>

#include <random>

#include "ddata/property.hpp"

using troupe::ddata::flag;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

auto switch_op(bool* any = nullptr) {
  return [any](flag& x, const replica_id&, std::mt19937& rng) {
    if (chance(rng, 0.1)) {
      x.switch_on();
      if (any != nullptr) *any = true;
    }
  };
}

}  // namespace

TEST_CASE("flag switches on once and for all", "[unit][ddata][flag]") {
  flag x;
  CHECK_FALSE(x.enabled());
  CHECK_FALSE(x.delta());
  x.switch_on();
  CHECK(x.enabled());
  CHECK(*x.delta() == flag(true));
  x.reset_delta();
  x.switch_on();
  CHECK_FALSE(x.delta());  // no change
  flag off;
  off.merge(x);
  CHECK(off.enabled());
  x.merge(flag{});
  CHECK(x.enabled());
}

TEST_CASE("flag properties", "[unit][ddata][flag][property]") {
  check_merge_is_a_join<flag>(switch_op());
  check_deltas_match_full_merge<flag>(switch_op());
  bool any = false;
  auto op = switch_op(&any);
  for (std::uint32_t run = 0; run < 40; ++run) {
    any = false;
    const flag last = check_convergence<flag>(op, 1, 30, 100 + run);
    CHECK(last.enabled() == any);
  }
}
