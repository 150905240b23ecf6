// phi_accrual_failure_detector: how suspicious the silence of one node is.
//
// The phi accrual failure detector of Hayashibara, Defago, Yared and Katayama, "The phi
// accrual failure detector" (SRDS 2004), with the adjustments Akka's
// `PhiAccrualFailureDetector` made to it: an acceptable heartbeat pause is added to the
// mean, the standard deviation has a floor, the first heartbeat seeds the history with an
// estimate, and the normal CDF is the logistic approximation
// `F(y) = 1 / (1 + exp(-y * (1.5976 + 0.070566 * y^2)))` (Bowling et al., "A logistic
// approximation to the cumulative normal distribution", 2009; error below 0.00014). phi = -log10(1 - F(y)), y = (silence - mean - pause) / stddev.
//
// Time is an argument: a `std::chrono::nanoseconds` since an epoch the caller chooses and
// keeps (e.g. `steady_clock::now().time_since_epoch()`, or a fake clock in the simulator).
// It must not go backwards for one detector.
//
//   phi_accrual_failure_detector fd;              // Akka's defaults
//   fd.heartbeat(0s); fd.heartbeat(1s); fd.heartbeat(2s);
//   assert(fd.is_available(3s));                  // phi ~ 0
//   assert(!fd.is_available(8s));                 // ~5 s of silence: phi > 8
//
// Used by the transport (remote death watch) and the cluster model (heartbeat ring).
// Pure value type: no clock, no threads, no I/O; links only the standard library.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace troupe {

/// Tuning of a phi accrual failure detector; the defaults are Akka cluster's.
struct phi_accrual_settings {
  /// phi at or above which the node is considered unavailable; > 0.
  double threshold = 8.0;
  /// Number of inter-arrival intervals kept for mean and variance; > 0.
  std::size_t max_sample_size = 1000;
  /// Floor of the standard deviation, so regular beats do not make phi hair-trigger; > 0.
  std::chrono::nanoseconds min_std_deviation = std::chrono::milliseconds{100};
  /// Pause (lost or delayed beats, GC) tolerated on top of the mean interval; >= 0.
  std::chrono::nanoseconds acceptable_heartbeat_pause = std::chrono::seconds{3};
  /// Expected heartbeat interval, seeding the history at the first beat; > 0.
  std::chrono::nanoseconds first_heartbeat_estimate = std::chrono::seconds{1};
};

/// Why `settings` is invalid, naming the field and its allowed range; nullopt when valid.
std::optional<std::string> validate(const phi_accrual_settings& settings);

/// Suspicion level of one monitored node, fed with the arrival times of its heartbeats.
class phi_accrual_failure_detector {
 public:
  /// A detector with Akka's default settings.
  phi_accrual_failure_detector();

  /// A detector with `settings`, which must be valid (`validate` returns nullopt).
  explicit phi_accrual_failure_detector(const phi_accrual_settings& settings);

  /// Records a heartbeat that arrived at `now`. The interval since the previous beat joins
  /// the history only if the node was still available at `now`: the first beat after a
  /// failure would skew the statistics (as in Akka).
  void heartbeat(std::chrono::nanoseconds now);

  /// Suspicion level at `now`: 0 before the first heartbeat, growing with the silence.
  double phi(std::chrono::nanoseconds now) const;

  /// True while `phi(now) < threshold`; true before the first heartbeat.
  bool is_available(std::chrono::nanoseconds now) const;

  /// True once a heartbeat has been recorded.
  bool is_monitoring() const noexcept { return last_heartbeat_.has_value(); }

  /// Mean of the recorded intervals (0 before the first heartbeat).
  std::chrono::nanoseconds mean_interval() const noexcept;

  /// Standard deviation of the recorded intervals, before the floor is applied.
  std::chrono::nanoseconds std_deviation() const noexcept;

  /// Number of intervals in the history (at most `max_sample_size`).
  std::size_t sample_count() const noexcept { return count_; }

  /// The settings this detector was made with.
  const phi_accrual_settings& settings() const noexcept { return settings_; }

  /// phi for a silence of `elapsed` given the mean and standard deviation of the expected
  /// interval (pause included), in the logistic approximation; finite for any input.
  static double phi_of(double elapsed, double mean, double std_deviation) noexcept;

 private:
  void push_interval(std::int64_t interval_ns);
  void recompute_sum_of_squares() noexcept;
  double variance_ns2() const noexcept;

  phi_accrual_settings settings_;
  std::vector<std::int64_t> intervals_;  // ring buffer of the newest `count_` intervals (ns)
  std::size_t head_ = 0;                 // index of the oldest interval once full
  std::size_t count_ = 0;
  std::int64_t sum_ = 0;                  // exact sum of the intervals (ns)
  double sum_of_squares_ = 0.0;           // running, recomputed exactly at each wrap
  std::size_t pushes_since_recompute_ = 0;
  std::optional<std::chrono::nanoseconds> last_heartbeat_;
};

}  // namespace troupe
