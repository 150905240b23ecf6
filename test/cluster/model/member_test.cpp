#include "troupe/cluster/model/member.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <vector>

using troupe::cluster::model::age_ordering;
using troupe::cluster::model::all_member_statuses;
using troupe::cluster::model::app_version;
using troupe::cluster::model::highest_priority_of;
using troupe::cluster::model::is_allowed_transition;
using troupe::cluster::model::leader_status_ordering;
using troupe::cluster::model::member;
using troupe::cluster::model::member_ordering;
using troupe::cluster::model::member_status;
using troupe::cluster::model::merge_precedence;
using troupe::cluster::model::unique_address;

namespace {

using enum member_status;

unique_address node(const char* host, std::uint16_t port, std::uint64_t uid = 1) {
  return {{"sys", host, port}, uid};
}

member with_status(const unique_address& n, member_status s, std::int32_t up_number = 1) {
  return member::restore(n, s, {}, {}, up_number);
}

}  // namespace

TEST_CASE("a new member is joining, without age, with its roles", "[unit][member]") {
  const member m{node("10.0.0.1", 2551), {"backend", "api"}, app_version{"1.2.0"}};
  CHECK(m.status() == joining);
  CHECK(m.up_number() == member::no_up_number);
  CHECK(m.has_role("api"));
  CHECK_FALSE(m.has_role("frontend"));
  CHECK(m.roles() == std::set<std::string>{"api", "backend"});
  CHECK(m.address() == node("10.0.0.1", 2551).address);
  CHECK(m.app_version().text() == "1.2.0");
}

TEST_CASE("copy_with_status follows the transition table", "[unit][member]") {
  for (member_status from : all_member_statuses) {
    for (member_status to : all_member_statuses) {
      CAPTURE(to_string(from), to_string(to));
      const member m = with_status(node("h", 1), from);
      const auto moved = m.copy_with_status(to);
      if (from == to) {
        REQUIRE(moved);
        CHECK(*moved == m);
      } else if (is_allowed_transition(from, to)) {
        REQUIRE(moved);
        CHECK(moved->status() == to);
        CHECK(moved->unique_address() == m.unique_address());
        CHECK(moved->up_number() == m.up_number());
      } else {
        CHECK_FALSE(moved);
      }
    }
  }
}

TEST_CASE("copy_up sets the age and refuses members past up", "[unit][member]") {
  const member j{node("h", 1)};
  const auto u = j.copy_up(7);
  REQUIRE(u);
  CHECK(u->status() == up);
  CHECK(u->up_number() == 7);
  CHECK(j.copy_with_status(weakly_up)->copy_up(3)->up_number() == 3);
  CHECK(u->copy_up(9)->up_number() == 9);
  CHECK_FALSE(with_status(node("h", 1), leaving).copy_up(2));
  CHECK_FALSE(with_status(node("h", 1), down).copy_up(2));
}

TEST_CASE("age: lower up number is older, address breaks ties", "[unit][member]") {
  const member a = with_status(node("10.0.0.2", 1), up, 1);
  const member b = with_status(node("10.0.0.1", 1), up, 2);
  const member c = with_status(node("10.0.0.1", 2), up, 2);
  CHECK(a.is_older_than(b));
  CHECK_FALSE(b.is_older_than(a));
  CHECK(b.is_older_than(c));
  CHECK_FALSE(c.is_older_than(b));
  CHECK_FALSE(a.is_older_than(a));
  const member joiner{node("10.0.0.0", 1)};
  CHECK(c.is_older_than(joiner));

  std::vector<member> ms{joiner, c, a, b};
  std::sort(ms.begin(), ms.end(), age_ordering{});
  CHECK(ms == std::vector<member>{a, b, c, joiner});
}

TEST_CASE("canonical order: host, then port, then uid", "[unit][member]") {
  std::vector<member> ms{member{node("10.0.0.2", 1)}, member{node("10.0.0.1", 3, 2)},
                         member{node("10.0.0.1", 3, 1)}, member{node("10.0.0.1", 20)}};
  std::sort(ms.begin(), ms.end(), member_ordering{});
  CHECK(ms[0].unique_address() == node("10.0.0.1", 3, 1));
  CHECK(ms[1].unique_address() == node("10.0.0.1", 3, 2));
  CHECK(ms[2].unique_address() == node("10.0.0.1", 20));
  CHECK(ms[3].unique_address() == node("10.0.0.2", 1));
}

TEST_CASE("leader order: up-like first, then weakly up, joining, exiting, down",
          "[unit][member]") {
  const std::vector<member> expected{
      with_status(node("a", 2), up),     with_status(node("a", 3), leaving),
      with_status(node("a", 4), preparing_for_shutdown),
      with_status(node("a", 5), up),     with_status(node("a", 1), weakly_up),
      with_status(node("a", 0), joining), with_status(node("a", 6), joining),
      with_status(node("a", 0), exiting, 2), with_status(node("a", 0), down, 3)};
  std::vector<member> ms = expected;
  std::mt19937_64 rng{Catch::rngSeed()};
  CAPTURE(Catch::rngSeed());
  for (int round = 0; round < 20; ++round) {
    std::shuffle(ms.begin(), ms.end(), rng);
    std::sort(ms.begin(), ms.end(), leader_status_ordering{});
    CHECK(ms == expected);
  }
}

TEST_CASE("merge precedence: further along the life cycle wins", "[unit][member]") {
  const std::vector<member_status> order{joining, weakly_up, up, preparing_for_shutdown,
                                         leaving, exiting, down, ready_for_shutdown, removed};
  for (std::size_t i = 0; i + 1 < order.size(); ++i)
    CHECK(merge_precedence(order[i]) < merge_precedence(order[i + 1]));

  const auto n = node("h", 1);
  for (member_status x : all_member_statuses) {
    for (member_status y : all_member_statuses) {
      CAPTURE(to_string(x), to_string(y));
      const member a = with_status(n, x, 4);
      const member b = with_status(n, y, 4);
      CHECK(highest_priority_of(a, b) == highest_priority_of(b, a));
      const member& w = highest_priority_of(a, b);
      CHECK(merge_precedence(w.status()) == std::max(merge_precedence(x), merge_precedence(y)));
    }
  }
}

TEST_CASE("merge precedence keeps the older of two equal statuses, whatever the order",
          "[unit][member]") {
  const auto n = node("h", 1);
  const member older = with_status(n, up, 2);
  const member younger = with_status(n, up, 5);
  CHECK(highest_priority_of(older, younger) == older);
  CHECK(highest_priority_of(younger, older) == older);
  const member r1 = member::restore(n, up, {"a"}, {}, 2);
  CHECK(highest_priority_of(older, r1) == highest_priority_of(r1, older));
}

TEST_CASE("app versions compare like semver", "[unit][member]") {
  CHECK(app_version{"1.2.3"} < app_version{"1.10.0"});
  CHECK(app_version{"1.2"} < app_version{"1.2.1"});
  CHECK(app_version{"2.0.0-RC1"} < app_version{"2.0.0"});
  CHECK(app_version{"2.0.0-RC1"} < app_version{"2.0.0-RC2"});
  CHECK(app_version{"1.9.9"} < app_version{"2.0.0-M1"});
  CHECK(app_version{} < app_version{"0.0.0-a"});
  CHECK(app_version{"1.02"} != app_version{"1.2"});
  CHECK(std::is_neq(app_version{"1.02"} <=> app_version{"1.2"}));
  CHECK(app_version{"12345678901234567890123.0"} > app_version{"9.0"});
  CHECK(std::is_eq(app_version{"1.0"} <=> app_version{"1.0"}));
}

TEST_CASE("to_string names address, status, age, roles and version", "[unit][member]") {
  const member m = member::restore(node("10.0.0.1", 2551, 9), up, {"a", "b"},
                                   app_version{"1.0"}, 3);
  CHECK(to_string(m) ==
        "member(troupe://sys@10.0.0.1:2551#9, up, up_number=3, roles=[a,b], version=1.0)");
  CHECK(to_string(member{node("h", 1)}) == "member(troupe://sys@h:1#1, joining)");
}
