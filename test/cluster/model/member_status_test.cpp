#include "troupe/cluster/model/member_status.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <vector>

using troupe::cluster::model::all_member_statuses;
using troupe::cluster::model::is_allowed_transition;
using troupe::cluster::model::member_status;
using troupe::cluster::model::parse_member_status;
using troupe::cluster::model::to_string;

namespace {

using enum member_status;

// The expected table, written independently of the implementation's.
std::set<member_status> expected_moves(member_status from) {
  switch (from) {
    case joining: return {weakly_up, up, leaving, down, removed};
    case weakly_up: return {up, leaving, down, removed};
    case up: return {leaving, down, removed, preparing_for_shutdown};
    case leaving: return {exiting, down, removed};
    case exiting: return {removed, down};
    case down: return {removed};
    case removed: return {};
    case preparing_for_shutdown: return {ready_for_shutdown, removed, leaving, down};
    case ready_for_shutdown: return {removed, leaving, down};
  }
  return {};
}

}  // namespace

TEST_CASE("every status pair matches the documented state machine", "[unit][member_status]") {
  for (member_status from : all_member_statuses) {
    for (member_status to : all_member_statuses) {
      CAPTURE(to_string(from), to_string(to));
      CHECK(is_allowed_transition(from, to) == expected_moves(from).contains(to));
    }
  }
}

TEST_CASE("a status to itself is not a transition", "[unit][member_status]") {
  for (member_status s : all_member_statuses) {
    CAPTURE(to_string(s));
    CHECK_FALSE(is_allowed_transition(s, s));
  }
}

TEST_CASE("removed is final and every live status can be downed and removed",
          "[unit][member_status]") {
  for (member_status s : all_member_statuses) {
    CAPTURE(to_string(s));
    CHECK_FALSE(is_allowed_transition(removed, s));
    if (s != removed) CHECK(is_allowed_transition(s, removed));
    if (s != removed && s != down) CHECK(is_allowed_transition(s, down));
  }
}

TEST_CASE("the transition graph has no cycle", "[unit][member_status]") {
  // Kahn's algorithm: repeatedly drop statuses nothing live moves into.
  std::vector<member_status> left(all_member_statuses.begin(), all_member_statuses.end());
  while (!left.empty()) {
    const auto source = std::find_if(left.begin(), left.end(), [&](member_status to) {
      return std::none_of(left.begin(), left.end(),
                          [&](member_status from) { return is_allowed_transition(from, to); });
    });
    REQUIRE(source != left.end());
    left.erase(source);
  }
}

TEST_CASE("names round-trip and unknown names are rejected", "[unit][member_status]") {
  std::set<std::string_view> names;
  for (member_status s : all_member_statuses) {
    names.insert(to_string(s));
    CHECK(parse_member_status(to_string(s)) == s);
  }
  CHECK(names.size() == all_member_statuses.size());
  CHECK(to_string(weakly_up) == "weakly_up");
  CHECK_FALSE(parse_member_status("Up").has_value());
  CHECK_FALSE(parse_member_status("").has_value());
}

TEST_CASE("values outside the enum are never allowed", "[unit][member_status]") {
  const auto bogus = static_cast<member_status>(200);
  CHECK_FALSE(is_allowed_transition(bogus, up));
  CHECK_FALSE(is_allowed_transition(joining, bogus));
  CHECK(to_string(bogus) == "invalid");
}
