// The least-loaded choice: round robin while nothing is reported, the smallest estimate
// (reported size plus messages sent since it was asked for) otherwise, reports kept across
// changes of the routees; a property test that each choice has the smallest estimate.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <troupe/routers/load_balance.hpp>

namespace tr = troupe::routers;

namespace {

std::vector<std::size_t> choose_n(tr::load_balance& lb, int n) {
  std::vector<std::size_t> out;
  for (int i = 0; i < n; ++i) out.push_back(lb.choose());
  return out;
}

}  // namespace

TEST_CASE("load balance: without reports, round robin", "[unit]") {
  tr::load_balance lb;
  lb.set_routees({"a", "b", "c"});
  CHECK(choose_n(lb, 7) == std::vector<std::size_t>{0, 1, 2, 0, 1, 2, 0});
  CHECK(lb.sent("a") == 3);
  CHECK(lb.sent("b") == 2);
  CHECK(lb.sent("z") == 0);
  CHECK_FALSE(lb.reported(0).has_value());
}

TEST_CASE("load balance: a reported backlog is avoided until the others catch up", "[unit]") {
  tr::load_balance lb;
  lb.set_routees({"a", "b", "c"});
  REQUIRE(lb.report("c", 4, lb.sent("c")));
  CHECK(lb.estimate(2) == 4);
  // a and b take turns until they reach 4 each; then the three are equal: round robin.
  CHECK(choose_n(lb, 8) == std::vector<std::size_t>{0, 1, 0, 1, 0, 1, 0, 1});
  CHECK(lb.estimate(0) == 4);
  CHECK(choose_n(lb, 3) == std::vector<std::size_t>{2, 0, 1});
  CHECK_FALSE(lb.report("zz", 1, 0));  // not a routee
}

TEST_CASE("load balance: messages sent after the size was asked for are added to it", "[unit]") {
  tr::load_balance lb;
  lb.set_routees({"a", "b"});
  choose_n(lb, 4);  // two each
  const auto asked_a = lb.sent("a");
  choose_n(lb, 2);  // one more each, while the query travels
  lb.report("a", 10, asked_a);
  CHECK(lb.reported(0) == 10u);
  CHECK(lb.estimate(0) == 11);  // 10 reported, 1 sent since the query
  CHECK(lb.estimate(1) == 3);   // no report: what was sent
  lb.report("b", 0, lb.sent("b"));
  CHECK(lb.estimate(1) == 0);
  // A report naming a count above the routee's (it left and came back) adds nothing.
  lb.report("b", 2, 1'000);
  CHECK(lb.estimate(1) == 2);
}

TEST_CASE("load balance: a change of routees keeps the reports of those that stay", "[unit]") {
  tr::load_balance lb;
  lb.set_routees({"a", "b", "c"});
  lb.report("b", 7, 0);
  lb.report("c", 3, 0);
  lb.set_routees({"c", "d", "b"});
  CHECK(lb.keys() == std::vector<std::string>{"c", "d", "b"});
  CHECK(lb.estimate(0) == 3);
  CHECK(lb.estimate(1) == 0);  // new: no report, nothing sent
  CHECK(lb.estimate(2) == 7);
  CHECK(lb.choose() == 1);
  lb.set_routees({"a"});  // a comes back with nothing: its count restarted
  CHECK(lb.sent("a") == 0);
  CHECK(lb.choose() == 0);
}

TEST_CASE("load balance: every choice has the smallest estimate, ties in round robin order", "[unit]") {
  const auto seed = Catch::rngSeed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  tr::load_balance lb;
  std::vector<std::string> keys;
  for (int i = 0; i < 6; ++i) keys.push_back("r" + std::to_string(i));
  lb.set_routees(keys);
  std::size_t last = lb.size() - 1;
  for (int step = 0; step < 2'000; ++step) {
    if (rng() % 5 == 0) {
      const auto& k = keys[rng() % keys.size()];
      lb.report(k, static_cast<std::uint32_t>(rng() % 20), lb.sent(k) - std::min<std::uint64_t>(lb.sent(k), rng() % 3));
      continue;
    }
    std::vector<std::uint64_t> before;
    for (std::size_t i = 0; i < lb.size(); ++i) before.push_back(lb.estimate(i));
    const auto lowest = *std::min_element(before.begin(), before.end());
    const std::size_t chosen = lb.choose();
    REQUIRE(before[chosen] == lowest);
    // Among the routees with the lowest estimate, the first after the last choice.
    for (std::size_t k = 1; k < lb.size(); ++k) {
      const std::size_t i = (last + k) % lb.size();
      if (i == chosen) break;
      REQUIRE(before[i] > lowest);
    }
    REQUIRE(lb.estimate(chosen) == lowest + 1);
    last = chosen;
  }
}
