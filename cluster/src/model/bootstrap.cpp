#include "troupe/cluster/model/bootstrap.hpp"

namespace troupe::cluster::model {

std::string_view to_string(bootstrap_reason r) noexcept {
  switch (r) {
    case bootstrap_reason::lookup_failed: return "lookup failed";
    case bootstrap_reason::too_few: return "too few contact points";
    case bootstrap_reason::settling: return "contact points not yet stable";
    case bootstrap_reason::stable: return "contact points stable";
    case bootstrap_reason::already_joined: return "already joined";
  }
  return "unknown";
}

bootstrap_decision bootstrap::on_lookup(const std::vector<address>& contact_points, std::chrono::nanoseconds now) {
  if (joined_) return {bootstrap_step::joined, bootstrap_reason::already_joined, {}, false};
  // 1. A different set (or the first one) restarts the stability timer.
  std::set<address> found(contact_points.begin(), contact_points.end());
  const bool changed = !stable_since_ || found != contact_points_;
  if (changed) {
    contact_points_ = std::move(found);
    stable_since_ = now;
  }
  // 2. Enough and stable: join.
  return decide(now, changed);
}

bootstrap_decision bootstrap::on_lookup_failed(std::chrono::nanoseconds) {
  if (joined_) return {bootstrap_step::joined, bootstrap_reason::already_joined, {}, false};
  return {bootstrap_step::keep_looking, bootstrap_reason::lookup_failed, {}, false};
}

bootstrap_decision bootstrap::decide(std::chrono::nanoseconds now, bool changed) {
  if (contact_points_.size() < settings_.required_contact_points || contact_points_.empty())
    return {bootstrap_step::keep_looking, bootstrap_reason::too_few, {}, changed};
  if (now - *stable_since_ < settings_.stable_margin)
    return {bootstrap_step::keep_looking, bootstrap_reason::settling, {}, changed};
  joined_ = true;
  return {bootstrap_step::join, bootstrap_reason::stable,
          std::vector<address>(contact_points_.begin(), contact_points_.end()), changed};
}

}  // namespace troupe::cluster::model
