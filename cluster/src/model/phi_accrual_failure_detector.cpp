#include "troupe/cluster/model/phi_accrual_failure_detector.hpp"

#include <cassert>

namespace troupe::cluster::model {

failure_detector_registry::failure_detector_registry(const phi_accrual_settings& settings)
    : settings_(settings) {
  assert(!validate(settings) && "invalid phi_accrual_settings");
}

void failure_detector_registry::heartbeat(const unique_address& node,
                                          std::chrono::nanoseconds now) {
  auto it = detectors_.find(node);
  if (it == detectors_.end()) it = detectors_.emplace(node, phi_accrual_failure_detector{settings_}).first;
  it->second.heartbeat(now);
}

bool failure_detector_registry::is_available(const unique_address& node,
                                             std::chrono::nanoseconds now) const {
  const auto* fd = find(node);
  return fd == nullptr || fd->is_available(now);
}

double failure_detector_registry::phi(const unique_address& node,
                                      std::chrono::nanoseconds now) const {
  const auto* fd = find(node);
  return fd == nullptr ? 0.0 : fd->phi(now);
}

bool failure_detector_registry::is_monitoring(const unique_address& node) const {
  const auto* fd = find(node);
  return fd != nullptr && fd->is_monitoring();
}

void failure_detector_registry::remove(const unique_address& node) { detectors_.erase(node); }

void failure_detector_registry::reset() { detectors_.clear(); }

const phi_accrual_failure_detector* failure_detector_registry::find(
    const unique_address& node) const {
  const auto it = detectors_.find(node);
  return it == detectors_.end() ? nullptr : &it->second;
}

}  // namespace troupe::cluster::model
