#include "troupe/cluster/model/member_status.hpp"

namespace troupe::cluster::model {
namespace {

constexpr std::size_t index(member_status s) noexcept { return static_cast<std::size_t>(s); }

using row = std::array<bool, member_status_count>;

// Builds one row of the table from the statuses a state may move to.
template <typename... To>
constexpr row moves_to(To... to) noexcept {
  row r{};
  ((r[index(to)] = true), ...);
  return r;
}

using enum member_status;

// The membership state machine, after Akka's `MemberStatus.allowedTransitions`. Every move
// goes forward in life order (joining, weakly_up, up, preparing_for_shutdown,
// ready_for_shutdown, leaving, exiting, down, removed), so there is no cycle; the unit test
// checks that.
constexpr std::array<row, member_status_count> transitions = [] {
  std::array<row, member_status_count> t{};
  t[index(joining)] = moves_to(weakly_up, up, leaving, down, removed);
  t[index(weakly_up)] = moves_to(up, leaving, down, removed);
  t[index(up)] = moves_to(leaving, down, removed, preparing_for_shutdown);
  t[index(leaving)] = moves_to(exiting, down, removed);
  t[index(exiting)] = moves_to(removed, down);
  t[index(down)] = moves_to(removed);
  t[index(removed)] = moves_to();
  t[index(preparing_for_shutdown)] = moves_to(ready_for_shutdown, removed, leaving, down);
  t[index(ready_for_shutdown)] = moves_to(removed, leaving, down);
  return t;
}();

constexpr std::array<std::string_view, member_status_count> names{
    "joining", "weakly_up", "up",          "leaving",
    "exiting", "down",      "removed",     "preparing_for_shutdown",
    "ready_for_shutdown"};

}  // namespace

bool is_allowed_transition(member_status from, member_status to) noexcept {
  if (index(from) >= member_status_count || index(to) >= member_status_count) return false;
  return transitions[index(from)][index(to)];
}

std::string_view to_string(member_status s) noexcept {
  return index(s) < member_status_count ? names[index(s)] : std::string_view{"invalid"};
}

std::optional<member_status> parse_member_status(std::string_view name) noexcept {
  for (member_status s : all_member_statuses)
    if (names[index(s)] == name) return s;
  return std::nullopt;
}

}  // namespace troupe::cluster::model
