#include "troupe/actor/supervision.hpp"

namespace troupe {

const char* to_string(directive d) noexcept {
  switch (d) {
    case directive::resume: return "resume";
    case directive::restart: return "restart";
    case directive::stop: return "stop";
    case directive::escalate: return "escalate";
  }
  return "?";
}

decider::decider() {
  on<actor_initialization_error>(directive::stop);
  on<actor_killed_error>(directive::stop);
  on<death_pact_error>(directive::stop);
}

decider&& decider::otherwise(directive d) && {
  fallback_ = d;
  return std::move(*this);
}

decider& decider::otherwise(directive d) & {
  fallback_ = d;
  return *this;
}

decider decider::from(std::function<directive(const std::exception_ptr&)> f) {
  decider d{empty_tag{}};
  d.custom_ = std::move(f);
  return d;
}

directive decider::operator()(const std::exception_ptr& e) const {
  if (custom_) return custom_(e);
  for (const auto& rule : rules_) {
    const int r = rule(e);
    if (r >= 0) return static_cast<directive>(r);
  }
  return fallback_;
}

bool restart_budget::request_restart(time_point now) noexcept {
  if (max_ < 0) return true;
  if (max_ == 0) return false;
  if (within_.count() > 0 && (count_ == 0 || now - window_start_ > within_)) {
    window_start_ = now;
    count_ = 1;
    return true;
  }
  if (within_.count() <= 0 && count_ == 0) window_start_ = now;
  ++count_;
  return count_ <= max_;
}

supervisor_strategy supervisor_strategy::one_for_one(int max_restarts, std::chrono::nanoseconds within,
                                                     troupe::decider d) {
  supervisor_strategy s;
  s.kind = scope::one_for_one;
  s.max_restarts = max_restarts;
  s.within = within;
  s.decide = std::move(d);
  return s;
}

supervisor_strategy supervisor_strategy::all_for_one(int max_restarts, std::chrono::nanoseconds within,
                                                     troupe::decider d) {
  supervisor_strategy s = one_for_one(max_restarts, within, std::move(d));
  s.kind = scope::all_for_one;
  return s;
}

supervisor_strategy supervisor_strategy::stopping_strategy() {
  return one_for_one(-1, {}, decider::from([](const std::exception_ptr&) { return directive::stop; }));
}

}  // namespace troupe
