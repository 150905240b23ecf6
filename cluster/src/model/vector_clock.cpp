#include "troupe/cluster/model/vector_clock.hpp"


namespace troupe::cluster::model {

std::string_view to_string(clock_ordering o) noexcept {
  switch (o) {
    case clock_ordering::before: return "before";
    case clock_ordering::after: return "after";
    case clock_ordering::same: return "same";
    case clock_ordering::concurrent: return "concurrent";
  }
  return "invalid";
}

vector_clock::node_id vector_clock::node_of(const unique_address& node) noexcept {
  // FNV-1a, 64 bit (Fowler, Noll, Vo): offset basis and prime from the reference.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : to_string(node)) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

vector_clock::vector_clock(std::map<node_id, std::uint64_t> versions)
    : versions_(std::move(versions)) {
  std::erase_if(versions_, [](const auto& entry) { return entry.second == 0; });
}

vector_clock vector_clock::increment(node_id node) const {
  vector_clock v = *this;
  ++v.versions_[node];
  return v;
}

clock_ordering vector_clock::compare(const vector_clock& other) const noexcept {
  // Walk both sorted maps together; a node missing on one side counts as 0 there.
  bool this_greater = false;
  bool other_greater = false;
  auto a = versions_.begin();
  auto b = other.versions_.begin();
  while ((a != versions_.end() || b != other.versions_.end()) && !(this_greater && other_greater)) {
    if (b == other.versions_.end() || (a != versions_.end() && a->first < b->first)) {
      this_greater = true;
      ++a;
    } else if (a == versions_.end() || b->first < a->first) {
      other_greater = true;
      ++b;
    } else {
      if (a->second > b->second) this_greater = true;
      if (b->second > a->second) other_greater = true;
      ++a;
      ++b;
    }
  }
  if (this_greater && other_greater) return clock_ordering::concurrent;
  if (this_greater) return clock_ordering::after;
  if (other_greater) return clock_ordering::before;
  return clock_ordering::same;
}

vector_clock vector_clock::merge(const vector_clock& other) const {
  vector_clock v = *this;
  for (const auto& [node, count] : other.versions_) {
    auto& mine = v.versions_[node];
    if (count > mine) mine = count;
  }
  return v;
}

vector_clock vector_clock::prune(node_id node) const {
  if (!versions_.contains(node)) return *this;
  vector_clock v = *this;
  v.versions_.erase(node);
  return v;
}

std::uint64_t vector_clock::version_of(node_id node) const noexcept {
  const auto it = versions_.find(node);
  return it == versions_.end() ? 0 : it->second;
}

std::string to_string(const vector_clock& v) {
  std::string s = "{";
  bool first = true;
  for (const auto& [node, count] : v.versions()) {
    if (!first) s += ", ";
    for (int shift = 60; shift >= 0; shift -= 4) s += "0123456789abcdef"[(node >> shift) & 0xf];
    s += ":" + std::to_string(count);
    first = false;
  }
  return s + "}";
}

}  // namespace troupe::cluster::model
