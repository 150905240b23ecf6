#include "troupe/cluster/model/member.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

namespace troupe::cluster::model {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = s.find(sep);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

bool is_number(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Numbers compare by value (without overflow: strip leading zeros, then length, then
// digits), numbers before words, words by text.
std::strong_ordering compare_segment(std::string_view a, std::string_view b) {
  const bool na = is_number(a);
  const bool nb = is_number(b);
  if (na != nb) return na ? std::strong_ordering::less : std::strong_ordering::greater;
  if (!na) return a.compare(b) <=> 0;
  a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
  b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
  if (a.size() != b.size()) return a.size() <=> b.size();
  return a.compare(b) <=> 0;
}

std::strong_ordering compare_segments(std::string_view a, std::string_view b) {
  const auto sa = split(a, '.');
  const auto sb = split(b, '.');
  for (std::size_t i = 0; i < std::max(sa.size(), sb.size()); ++i) {
    const std::string_view x = i < sa.size() && !sa[i].empty() ? sa[i] : "0";
    const std::string_view y = i < sb.size() && !sb[i].empty() ? sb[i] : "0";
    if (const auto c = compare_segment(x, y); c != 0) return c;
  }
  return std::strong_ordering::equal;
}

// Splits "1.2.3-RC1+build" into core "1.2.3" and pre-release "RC1" (build text ignored).
std::pair<std::string_view, std::string_view> core_and_pre_release(std::string_view text) {
  text = text.substr(0, text.find('+'));
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return {text, {}};
  return {text.substr(0, dash), text.substr(dash + 1)};
}

// Rank of a status in the leader candidate order; lower is a better candidate.
int leader_rank(member_status s) noexcept {
  switch (s) {
    case member_status::weakly_up: return 1;
    case member_status::joining: return 2;
    case member_status::exiting: return 3;
    case member_status::down: return 4;
    case member_status::removed: return 5;
    default: return 0;  // up, leaving, preparing_for_shutdown, ready_for_shutdown
  }
}

}  // namespace

std::strong_ordering operator<=>(const app_version& a, const app_version& b) {
  // 1. The unknown (empty) version is the lowest.
  if (a.text_.empty() || b.text_.empty()) return !a.text_.empty() <=> !b.text_.empty();
  // 2. Numeric core segments.
  const auto [core_a, pre_a] = core_and_pre_release(a.text_);
  const auto [core_b, pre_b] = core_and_pre_release(b.text_);
  if (const auto c = compare_segments(core_a, core_b); c != 0) return c;
  // 3. A pre-release sorts before its release; two pre-releases by their segments.
  if (pre_a.empty() != pre_b.empty())
    return pre_a.empty() ? std::strong_ordering::greater : std::strong_ordering::less;
  if (const auto c = compare_segments(pre_a, pre_b); c != 0) return c;
  // 4. The text breaks the tie, so that <=> agrees with ==.
  return a.text_.compare(b.text_) <=> 0;
}

member::member(model::unique_address node, std::set<std::string> roles,
               model::app_version version)
    : member(std::move(node), member_status::joining, std::move(roles), std::move(version),
             no_up_number) {}

member::member(model::unique_address node, member_status status, std::set<std::string> roles,
               model::app_version version, std::int32_t up_number)
    : node_(std::move(node)),
      status_(status),
      roles_(std::move(roles)),
      version_(std::move(version)),
      up_number_(up_number) {}

member member::restore(model::unique_address node, member_status status,
                       std::set<std::string> roles, model::app_version version,
                       std::int32_t up_number) {
  return member{std::move(node), status, std::move(roles), std::move(version), up_number};
}

member member::removed_placeholder(model::unique_address node) {
  return member{std::move(node), member_status::removed, {}, {}, no_up_number};
}

bool member::is_older_than(const member& other) const noexcept {
  if (up_number_ != other.up_number_) return up_number_ < other.up_number_;
  return node_ < other.node_;
}

std::optional<member> member::copy_with_status(member_status to) const {
  if (to == status_) return *this;
  if (!is_allowed_transition(status_, to)) return std::nullopt;
  member m = *this;
  m.status_ = to;
  return m;
}

std::optional<member> member::copy_up(std::int32_t up_number) const {
  auto m = copy_with_status(member_status::up);
  if (m) m->up_number_ = up_number;
  return m;
}

bool leader_status_ordering::operator()(const member& a, const member& b) const noexcept {
  const int ra = leader_rank(a.status());
  const int rb = leader_rank(b.status());
  if (ra != rb) return ra < rb;
  return a.unique_address() < b.unique_address();
}

int merge_precedence(member_status s) noexcept {
  switch (s) {
    case member_status::joining: return 0;
    case member_status::weakly_up: return 1;
    case member_status::up: return 2;
    case member_status::preparing_for_shutdown: return 3;
    case member_status::leaving: return 4;
    case member_status::exiting: return 5;
    case member_status::down: return 6;
    case member_status::ready_for_shutdown: return 7;
    case member_status::removed: return 8;
  }
  return 0;
}

const member& highest_priority_of(const member& a, const member& b) {
  const int pa = merge_precedence(a.status());
  const int pb = merge_precedence(b.status());
  if (pa != pb) return pa > pb ? a : b;
  if (a.up_number() != b.up_number()) return a.up_number() < b.up_number() ? a : b;
  return b < a ? b : a;
}

std::string to_string(const member& m) {
  std::string s = "member(" + to_string(m.unique_address()) + ", ";
  s += to_string(m.status());
  if (m.up_number() != member::no_up_number) s += ", up_number=" + std::to_string(m.up_number());
  if (!m.roles().empty()) {
    s += ", roles=[";
    bool first = true;
    for (const auto& r : m.roles()) {
      if (!first) s += ",";
      s += r;
      first = false;
    }
    s += "]";
  }
  if (!m.app_version().text().empty()) s += ", version=" + m.app_version().text();
  return s + ")";
}

}  // namespace troupe::cluster::model
