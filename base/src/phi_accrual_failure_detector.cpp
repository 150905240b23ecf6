#include "troupe/base/phi_accrual_failure_detector.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace troupe {

namespace {

double to_double_ns(std::chrono::nanoseconds d) noexcept { return static_cast<double>(d.count()); }

}  // namespace

std::optional<std::string> validate(const phi_accrual_settings& s) {
  if (!(s.threshold > 0.0) || !std::isfinite(s.threshold))
    return "failure-detector.threshold must be a finite number > 0, got " +
           std::to_string(s.threshold);
  if (s.max_sample_size == 0) return "failure-detector.max-sample-size must be > 0, got 0";
  if (s.min_std_deviation <= std::chrono::nanoseconds::zero())
    return "failure-detector.min-std-deviation must be > 0 ns, got " +
           std::to_string(s.min_std_deviation.count()) + " ns";
  if (s.acceptable_heartbeat_pause < std::chrono::nanoseconds::zero())
    return "failure-detector.acceptable-heartbeat-pause must be >= 0 ns, got " +
           std::to_string(s.acceptable_heartbeat_pause.count()) + " ns";
  if (s.first_heartbeat_estimate <= std::chrono::nanoseconds::zero())
    return "failure-detector.first-heartbeat-estimate must be > 0 ns, got " +
           std::to_string(s.first_heartbeat_estimate.count()) + " ns";
  return std::nullopt;
}

phi_accrual_failure_detector::phi_accrual_failure_detector()
    : phi_accrual_failure_detector(phi_accrual_settings{}) {}

phi_accrual_failure_detector::phi_accrual_failure_detector(const phi_accrual_settings& settings)
    : settings_(settings) {
  assert(!validate(settings) && "invalid phi_accrual_settings");
  intervals_.reserve(std::min<std::size_t>(settings_.max_sample_size, 64));
}

void phi_accrual_failure_detector::heartbeat(std::chrono::nanoseconds now) {
  if (!last_heartbeat_) {
    // 1. First beat: seed the history with two intervals around the estimate and a wide
    //    deviation (estimate / 4), so a node that beats only once still becomes suspect.
    const std::int64_t mean = settings_.first_heartbeat_estimate.count();
    const std::int64_t deviation = mean / 4;
    push_interval(mean - deviation);
    push_interval(mean + deviation);
  } else {
    // 2. Later beats: record the interval only while the node is still available; the
    //    first beat after a failure would stretch the statistics.
    assert(now >= *last_heartbeat_ && "time went backwards for a failure detector");
    const std::int64_t interval = std::max<std::int64_t>(0, (now - *last_heartbeat_).count());
    if (is_available(now)) push_interval(interval);
  }
  last_heartbeat_ = now;
}

double phi_accrual_failure_detector::phi(std::chrono::nanoseconds now) const {
  if (!last_heartbeat_ || count_ == 0) return 0.0;
  const double elapsed = to_double_ns(now - *last_heartbeat_);
  const double mean =
      static_cast<double>(sum_) / static_cast<double>(count_) +
      to_double_ns(settings_.acceptable_heartbeat_pause);
  const double deviation =
      std::max(std::sqrt(variance_ns2()), to_double_ns(settings_.min_std_deviation));
  return phi_of(elapsed, mean, deviation);
}

bool phi_accrual_failure_detector::is_available(std::chrono::nanoseconds now) const {
  return phi(now) < settings_.threshold;
}

std::chrono::nanoseconds phi_accrual_failure_detector::mean_interval() const noexcept {
  if (count_ == 0) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds{sum_ / static_cast<std::int64_t>(count_)};
}

std::chrono::nanoseconds phi_accrual_failure_detector::std_deviation() const noexcept {
  return std::chrono::nanoseconds{static_cast<std::int64_t>(std::llround(std::sqrt(variance_ns2())))};
}

double phi_accrual_failure_detector::phi_of(double elapsed, double mean,
                                            double std_deviation) noexcept {
  // 1 - F(y) = 1 / (1 + exp(z)) with z = y * (1.5976 + 0.070566 * y^2), so
  // phi = -log10(1 - F(y)) = log10(1 + exp(z)). Evaluated as a softplus so it stays finite
  // and accurate both for a long silence (z >> 0) and early on (z << 0).
  const double y = (elapsed - mean) / std_deviation;
  const double z = y * (1.5976 + 0.070566 * y * y);
  const double softplus = z > 0.0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
  return softplus / std::log(10.0);
}

void phi_accrual_failure_detector::push_interval(std::int64_t interval_ns) {
  const double x = static_cast<double>(interval_ns);
  if (count_ < settings_.max_sample_size) {
    intervals_.push_back(interval_ns);
    ++count_;
  } else {
    // Window full: the new interval replaces the oldest one.
    const std::int64_t oldest = intervals_[head_];
    const double o = static_cast<double>(oldest);
    sum_ -= oldest;
    sum_of_squares_ -= o * o;
    intervals_[head_] = interval_ns;
    head_ = (head_ + 1) % settings_.max_sample_size;
  }
  sum_ += interval_ns;
  sum_of_squares_ += x * x;
  // The running sum of squares is a double: subtracting evicted samples lets rounding
  // errors accumulate, so it is recomputed from the window once per full turn.
  if (++pushes_since_recompute_ >= settings_.max_sample_size) recompute_sum_of_squares();
}

void phi_accrual_failure_detector::recompute_sum_of_squares() noexcept {
  double s = 0.0;
  for (const std::int64_t v : intervals_) {
    const double x = static_cast<double>(v);
    s += x * x;
  }
  sum_of_squares_ = s;
  pushes_since_recompute_ = 0;
}

double phi_accrual_failure_detector::variance_ns2() const noexcept {
  if (count_ == 0) return 0.0;
  const double n = static_cast<double>(count_);
  const double mean = static_cast<double>(sum_) / n;
  return std::max(0.0, sum_of_squares_ / n - mean * mean);
}

}  // namespace troupe
