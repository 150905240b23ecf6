// failure_detector_registry: one phi accrual failure detector per node.
//
// The detector itself (Hayashibara et al., with Akka's adjustments) is
// troupe/base/phi_accrual_failure_detector.hpp, shared with the transport's remote death
// watch; its names are brought into this namespace.
//
//   failure_detector_registry reg;                // one detector per node, Akka's defaults
//   reg.heartbeat(node, now);
//   if (!reg.is_available(node, now)) { /* mark node unreachable */ }
//
// Pure value types: no clock, no threads, no I/O; links only the standard library.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>

#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/base/phi_accrual_failure_detector.hpp"

namespace troupe::cluster::model {

// One implementation serves the transport's remote death watch and the cluster's
// heartbeat ring; it lives in the pure `troupe::base` library.
using troupe::phi_accrual_failure_detector;
using troupe::phi_accrual_settings;
using troupe::validate;

/// One failure detector per node, keyed by its unique_address (Akka's
/// `DefaultFailureDetectorRegistry`). A node never heard from counts as available.
class failure_detector_registry {
 public:
  /// A registry whose detectors use Akka's default settings.
  failure_detector_registry() = default;

  /// A registry whose detectors use `settings` (must be valid).
  explicit failure_detector_registry(const phi_accrual_settings& settings);

  /// Records a heartbeat from `node` at `now`, creating its detector on the first one.
  void heartbeat(const unique_address& node, std::chrono::nanoseconds now);

  /// False only when `node` is monitored and its phi reached the threshold at `now`.
  bool is_available(const unique_address& node, std::chrono::nanoseconds now) const;

  /// phi of `node` at `now`; 0 for a node that is not monitored.
  double phi(const unique_address& node, std::chrono::nanoseconds now) const;

  /// True when a heartbeat from `node` has been recorded since it was last removed.
  bool is_monitoring(const unique_address& node) const;

  /// Forgets `node` (it left, or is no longer a heartbeat receiver).
  void remove(const unique_address& node);

  /// Forgets every node.
  void reset();

  /// Number of monitored nodes.
  std::size_t size() const noexcept { return detectors_.size(); }

  /// The detector of `node`, or nullptr.
  const phi_accrual_failure_detector* find(const unique_address& node) const;

 private:
  phi_accrual_settings settings_;
  std::map<unique_address, phi_accrual_failure_detector> detectors_;
};

}  // namespace troupe::cluster::model
