#include "troupe/cluster/model/phi_accrual_failure_detector.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <random>

using namespace std::chrono_literals;
using troupe::cluster::model::address;
using troupe::cluster::model::failure_detector_registry;
using troupe::cluster::model::phi_accrual_failure_detector;
using troupe::cluster::model::phi_accrual_settings;
using troupe::cluster::model::unique_address;
using troupe::cluster::model::validate;
using std::chrono::nanoseconds;

namespace {

// Feeds `beats` heartbeats `interval` apart starting at `start`; returns the last beat time.
nanoseconds beat_regularly(phi_accrual_failure_detector& fd, nanoseconds start, int beats,
                           nanoseconds interval) {
  nanoseconds t = start;
  for (int i = 0; i < beats; ++i, t += interval) fd.heartbeat(t);
  return t - interval;
}

// First time (1 ms steps) after `last` at which `fd` reports the node unavailable.
nanoseconds detection_delay(const phi_accrual_failure_detector& fd, nanoseconds last) {
  nanoseconds silence = 0ms;
  while (fd.is_available(last + silence) && silence < 60s) silence += 1ms;
  return silence;
}

double ms(nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

unique_address node(std::uint16_t port) { return {{"sys", "127.0.0.1", port}, 7}; }

}  // namespace

TEST_CASE("phi settings default to Akka's and are validated", "[unit][phi]") {
  const phi_accrual_settings s;
  CHECK(s.threshold == 8.0);
  CHECK(s.max_sample_size == 1000);
  CHECK(s.min_std_deviation == 100ms);
  CHECK(s.acceptable_heartbeat_pause == 3s);
  CHECK(s.first_heartbeat_estimate == 1s);
  CHECK_FALSE(validate(s));

  auto bad = s;
  bad.threshold = 0.0;
  REQUIRE(validate(bad));
  CHECK_THAT(*validate(bad), Catch::Contains("threshold") && Catch::Contains("> 0"));
  bad = s;
  bad.max_sample_size = 0;
  CHECK_THAT(*validate(bad), Catch::Contains("max-sample-size"));
  bad = s;
  bad.min_std_deviation = 0ms;
  CHECK_THAT(*validate(bad), Catch::Contains("min-std-deviation"));
  bad = s;
  bad.acceptable_heartbeat_pause = -1ms;
  CHECK_THAT(*validate(bad), Catch::Contains("acceptable-heartbeat-pause") && Catch::Contains(">= 0"));
  bad = s;
  bad.acceptable_heartbeat_pause = 0ms;
  CHECK_FALSE(validate(bad));
  bad = s;
  bad.first_heartbeat_estimate = 0ms;
  CHECK_THAT(*validate(bad), Catch::Contains("first-heartbeat-estimate"));
}

TEST_CASE("a node never heard from is available with phi 0", "[unit][phi]") {
  const phi_accrual_failure_detector fd;
  CHECK_FALSE(fd.is_monitoring());
  CHECK(fd.phi(1000s) == 0.0);
  CHECK(fd.is_available(1000s));
}

TEST_CASE("regular 1 s heartbeats keep phi low", "[unit][phi]") {
  phi_accrual_failure_detector fd;
  nanoseconds t = 5s;
  for (int i = 0; i < 2000; ++i, t += 1s) {
    fd.heartbeat(t);
    CHECK(fd.is_monitoring());
    // Just before the next beat is due, and even a 2 s late beat, is far from suspect.
    CHECK(fd.phi(t + 1s) < 0.01);
    CHECK(fd.phi(t + 3s) < 0.5);
  }
  CHECK(fd.sample_count() == 1000);
  CHECK(fd.mean_interval() == 1s);
  CHECK(fd.std_deviation() == 0ns);
}

TEST_CASE("with Akka's defaults a silence of about 4.52 s crosses phi 8", "[unit][phi]") {
  phi_accrual_failure_detector fd;
  const nanoseconds last = beat_regularly(fd, 0s, 60, 1s);
  const nanoseconds detected = detection_delay(fd, last);
  INFO("detected after " << ms(detected) << " ms of silence");
  // mean 1 s + pause 3 s, deviation at its 100 ms floor: phi = 8 at y = 5.226.
  CHECK(ms(detected) == Approx(4523.0).margin(5.0));
  CHECK(fd.phi(last + 4s) < 1.0);
  CHECK(fd.phi(last + 5s) > 8.0);
  // A crash anywhere between two beats is detected 3.52 to 4.52 s later.
}

TEST_CASE("early on the seeded history makes detection slower", "[unit][phi]") {
  phi_accrual_failure_detector fd;
  const nanoseconds last = beat_regularly(fd, 0s, 3, 1s);
  // Seed {750 ms, 1250 ms} plus two 1 s intervals: deviation 177 ms.
  CHECK(ms(fd.std_deviation()) == Approx(176.8).margin(0.1));
  CHECK(ms(detection_delay(fd, last)) == Approx(4924.0).margin(5.0));
  CHECK(fd.is_available(6s));
  CHECK_FALSE(fd.is_available(8s));
}

TEST_CASE("jittery heartbeats delay detection", "[unit][phi]") {
  phi_accrual_failure_detector steady;
  phi_accrual_failure_detector jittery;
  const nanoseconds last_steady = beat_regularly(steady, 0s, 100, 1s);
  nanoseconds t = 0s;
  for (int i = 0; i < 100; ++i) {
    jittery.heartbeat(t);
    t += (i % 2 == 0) ? 600ms : 1400ms;
  }
  const nanoseconds last_jittery = t - 1400ms;  // the last step added was 1400 ms
  CHECK(ms(jittery.std_deviation()) > 350.0);
  CHECK(detection_delay(jittery, last_jittery) > detection_delay(steady, last_steady) + 1s);
}

TEST_CASE("phi grows with the silence", "[unit][phi]") {
  phi_accrual_failure_detector fd;
  const nanoseconds last = beat_regularly(fd, 0s, 30, 1s);
  double previous = -1.0;
  for (nanoseconds s = 0ms; s <= 20s; s += 50ms) {
    const double p = fd.phi(last + s);
    CHECK(std::isfinite(p));
    CHECK(p >= previous);
    previous = p;
  }
  CHECK(previous > 100.0);
}

TEST_CASE("phi_of is log10(2) at the mean and finite far away", "[unit][phi]") {
  CHECK(phi_accrual_failure_detector::phi_of(4000.0, 4000.0, 100.0) ==
        Approx(std::log10(2.0)));
  CHECK(phi_accrual_failure_detector::phi_of(0.0, 4000.0, 100.0) == Approx(0.0).margin(1e-12));
  const double far = phi_accrual_failure_detector::phi_of(1e9, 4000.0, 100.0);
  CHECK(std::isfinite(far));
  CHECK(far > 1e6);
}

TEST_CASE("the first beat after a failure is left out of the history", "[unit][phi]") {
  phi_accrual_failure_detector fd;
  nanoseconds last = beat_regularly(fd, 0s, 20, 1s);
  const std::size_t before = fd.sample_count();
  last += 30s;
  REQUIRE_FALSE(fd.is_available(last));
  fd.heartbeat(last);
  CHECK(fd.sample_count() == before);
  CHECK(fd.mean_interval() < 1100ms);
  CHECK(fd.is_available(last + 1s));
  fd.heartbeat(last + 1s);
  CHECK(fd.sample_count() == before + 1);
}

TEST_CASE("the history keeps only the newest max_sample_size intervals", "[unit][phi]") {
  phi_accrual_settings s;
  s.max_sample_size = 5;
  phi_accrual_failure_detector fd{s};
  const nanoseconds last = beat_regularly(fd, 0s, 10, 1s);
  CHECK(fd.sample_count() == 5);
  CHECK(fd.mean_interval() == 1s);  // the seed intervals were evicted
  for (nanoseconds t = last + 2s; t < last + 12s; t += 2s) fd.heartbeat(t);
  CHECK(fd.sample_count() == 5);
  CHECK(fd.mean_interval() == 2s);
  CHECK(fd.std_deviation() == 0ns);
}

TEST_CASE("running mean and deviation match a recomputation", "[unit][phi]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  phi_accrual_settings s;
  s.max_sample_size = 37;
  s.acceptable_heartbeat_pause = 1000s;  // every interval is recorded
  phi_accrual_failure_detector fd{s};
  std::vector<std::int64_t> all{750'000'000, 1'250'000'000};
  nanoseconds t = 0s;
  fd.heartbeat(t);
  for (int i = 0; i < 5000; ++i) {
    const std::int64_t interval = 1'000'000 + static_cast<std::int64_t>(rng() % 3'000'000'000ULL);
    t += nanoseconds{interval};
    fd.heartbeat(t);
    all.push_back(interval);
  }
  REQUIRE(fd.sample_count() == 37);
  double sum = 0.0;
  double squares = 0.0;
  for (std::size_t i = all.size() - 37; i < all.size(); ++i) {
    sum += static_cast<double>(all[i]);
    squares += static_cast<double>(all[i]) * static_cast<double>(all[i]);
  }
  const double mean = sum / 37.0;
  const double deviation = std::sqrt(squares / 37.0 - mean * mean);
  CHECK(static_cast<double>(fd.mean_interval().count()) == Approx(mean).epsilon(1e-9));
  CHECK(static_cast<double>(fd.std_deviation().count()) == Approx(deviation).epsilon(1e-6));
}

TEST_CASE("the registry keeps one detector per node", "[unit][phi]") {
  failure_detector_registry reg;
  const auto a = node(1);
  const auto b = node(2);
  CHECK(reg.is_available(a, 100s));
  CHECK_FALSE(reg.is_monitoring(a));
  CHECK(reg.phi(a, 100s) == 0.0);

  for (nanoseconds t = 0s; t < 20s; t += 1s) {
    reg.heartbeat(a, t);
    if (t < 10s) reg.heartbeat(b, t);
  }
  CHECK(reg.size() == 2);
  CHECK(reg.is_monitoring(a));
  CHECK(reg.is_available(a, 20s));
  CHECK_FALSE(reg.is_available(b, 20s));  // silent since 9 s
  CHECK(reg.phi(b, 20s) > 8.0);
  REQUIRE(reg.find(a) != nullptr);
  CHECK(reg.find(a)->sample_count() == 21);

  // A new incarnation at the same address is a different node.
  unique_address a2 = a;
  a2.uid = 8;
  CHECK_FALSE(reg.is_monitoring(a2));

  reg.remove(b);
  CHECK_FALSE(reg.is_monitoring(b));
  CHECK(reg.is_available(b, 20s));
  reg.reset();
  CHECK(reg.size() == 0);
  CHECK_FALSE(reg.is_monitoring(a));
}

TEST_CASE("the registry applies its settings to new detectors", "[unit][phi]") {
  phi_accrual_settings s;
  s.acceptable_heartbeat_pause = 0ms;
  failure_detector_registry reg{s};
  for (nanoseconds t = 0s; t < 30s; t += 1s) reg.heartbeat(node(1), t);
  CHECK(reg.find(node(1))->settings().acceptable_heartbeat_pause == 0ms);
  CHECK_FALSE(reg.is_available(node(1), 29s + 2s));
}
