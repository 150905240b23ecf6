#include "troupe/actor/backoff.hpp"

#include <cmath>
#include <random>
#include <stdexcept>

#include "troupe/actor/actor_system.hpp"

namespace troupe::backoff {

std::chrono::nanoseconds delay(int n, std::chrono::nanoseconds min_backoff, std::chrono::nanoseconds max_backoff,
                               double random_factor, double u) noexcept {
  const double base = static_cast<double>(min_backoff.count()) * std::pow(2.0, std::min(n, 62));
  const double capped = std::min(base, static_cast<double>(max_backoff.count()));
  const double jittered = capped * (1.0 + random_factor * u);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(jittered, 9.0e18)));
}

namespace {

struct start_child {};
struct reset_count {
  std::uint64_t incarnation;
};

class backoff_supervisor final : public actor {
 public:
  explicit backoff_supervisor(options o) : o_(std::move(o)) {}

  void pre_start() override {
    engine_.seed(o_.seed ? o_.seed : system().random_seed());
    start();
  }

  behavior make_behavior() override {
    return {
        [this](const start_child&) { start(); },
        [this](const reset_count& r) {
          if (r.incarnation == incarnation_ && child_) restarts_ = 0;
        },
        [this](const get_restart_count&) { reply(restart_count{restarts_}); },
        [this](const terminated& t) {
          if (!(t.actor == child_)) return;
          child_ = actor_ref{};
          timers().cancel("reset");
          if (o_.mode == mode::on_failure && !failed_) {
            stop_self();  // the child stopped by itself: so does its supervisor
            return;
          }
          failed_ = false;
          schedule_restart();
        },
        [this](message& m) {
          if (child_) {
            forward(child_);
          } else {
            system().dead_letters().tell(std::move(m));
          }
        },
    };
  }

  troupe::supervisor_strategy supervisor_strategy() const override {
    // Every failure stops the child; the restart comes later, after the backoff delay.
    auto* self = const_cast<backoff_supervisor*>(this);
    return supervisor_strategy::one_for_one(-1, {}, decider::from([self](const std::exception_ptr&) {
                                              self->failed_ = true;
                                              return directive::stop;
                                            }));
  }

 private:
  void start() {
    child_ = spawn(o_.child, o_.child_name);
    watch(child_);
    ++incarnation_;
    timers().start_single_timer("reset", reset_count{incarnation_},
                                o_.reset_after.count() > 0 ? o_.reset_after : o_.min_backoff);
  }

  void schedule_restart() {
    if (o_.max_restarts >= 0 && restarts_ >= o_.max_restarts) {
      TROUPE_LOG(log(), warning) << "child " << o_.child_name << " stopped " << restarts_
                                 << " times: giving up";
      stop_self();
      return;
    }
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
    const auto d = delay(restarts_, o_.min_backoff, o_.max_backoff, o_.random_factor, u);
    ++restarts_;
    timers().start_single_timer("restart", start_child{}, d);
  }

  options o_;
  actor_ref child_;
  int restarts_ = 0;
  std::uint64_t incarnation_ = 0;
  bool failed_ = false;
  std::mt19937_64 engine_;
};

}  // namespace

troupe::props props(options o) {
  if (!o.child.has_factory()) throw std::invalid_argument("backoff: child props have no factory");
  if (o.min_backoff.count() <= 0) throw std::invalid_argument("backoff: min_backoff must be > 0");
  if (o.max_backoff < o.min_backoff) throw std::invalid_argument("backoff: max_backoff must be >= min_backoff");
  if (o.random_factor < 0) throw std::invalid_argument("backoff: random_factor must be >= 0");
  return troupe::props::from([o]() -> std::unique_ptr<actor> { return std::make_unique<backoff_supervisor>(o); });
}

}  // namespace troupe::backoff
