#include "troupe/actor/testkit.hpp"

#include <atomic>
#include <cstdlib>
#include <thread>

namespace troupe::testkit {

namespace {
std::atomic<std::uint64_t> probe_ids{0};

double time_factor() {
  static const double f = [] {
    const char* v = std::getenv("TROUPE_TEST_TIME_FACTOR");
    const double d = v ? std::atof(v) : 1.0;
    return d > 0 ? d : 1.0;
  }();
  return f;
}
}  // namespace

actor_system_settings manual_settings(std::uint64_t random_seed) {
  actor_system_settings s;
  s.dispatcher = dispatcher_kind::manual;
  s.random_seed = random_seed;
  return s;
}

std::chrono::nanoseconds dilated(std::chrono::nanoseconds d) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(d.count()) * time_factor()));
}

void await_condition(actor_system& sys, const std::function<bool()>& condition, std::chrono::nanoseconds timeout,
                     const std::string& what, std::chrono::nanoseconds interval) {
  if (sys.is_manual()) {
    sys.run_until_idle();
    const auto until = sys.scheduler().now() + timeout;
    while (!condition()) {
      if (sys.scheduler().now() >= until) {
        throw testkit_error("await_condition: " + what + " did not hold within the (manual) timeout");
      }
      sys.advance_time(std::min<std::chrono::nanoseconds>(interval, until - sys.scheduler().now()));
    }
    return;
  }
  const auto deadline = std::chrono::steady_clock::now() + dilated(timeout);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw testkit_error("await_condition: " + what + " did not hold within the timeout");
    }
    std::this_thread::sleep_for(interval);
  }
}

/// The probe's actor: queues every message for the test, except watch requests.
class test_probe_actor final : public actor {
 public:
  explicit test_probe_actor(std::shared_ptr<test_probe::mailbox_queue> q) : q_(std::move(q)) {}
  behavior make_behavior() override {
    return {[this](const watch_order& w) {
              if (w.on) {
                watch(w.target);
              } else {
                unwatch(w.target);
              }
            },
            [this](message& m) {
              {
                std::lock_guard lock(q_->mutex);
                q_->messages.push_back(std::move(m));
              }
              q_->cv.notify_all();
            }};
  }

 private:
  std::shared_ptr<test_probe::mailbox_queue> q_;
};

test_probe::test_probe(actor_system& sys, std::string name)
    : sys_(sys), queue_(std::make_shared<mailbox_queue>()) {
  if (name.empty()) name = "testProbe-" + std::to_string(++probe_ids);
  ref_ = sys.spawn_system_actor(props::of<test_probe_actor>(queue_), std::move(name));
  if (sys.is_manual()) sys.run_until_idle();
}

test_probe::~test_probe() {
  if (!sys_.is_terminated()) sys_.stop(ref_);
}

std::chrono::steady_clock::time_point test_probe::now() const {
  return sys_.is_manual() ? sys_.scheduler().now() : std::chrono::steady_clock::now();
}

message test_probe::receive_one_until(duration timeout, bool dilate) {
  auto take = [this]() -> message {
    std::lock_guard lock(queue_->mutex);
    if (queue_->messages.empty()) return message{};
    message m = std::move(queue_->messages.front());
    queue_->messages.pop_front();
    return m;
  };
  message m;
  if (sys_.is_manual()) {
    sys_.run_until_idle();
    m = take();
    auto& clock = dynamic_cast<manual_scheduler&>(sys_.scheduler());
    const auto until = clock.now() + timeout;
    while (!m) {  // let the timers that fall due within the timeout fire, one instant at a time
      const auto next = clock.next_due();
      if (!next || *next > until) break;
      sys_.advance_time(*next > clock.now() ? *next - clock.now() : duration::zero());
      m = take();
    }
  } else {
    std::unique_lock lock(queue_->mutex);
    const auto t = dilate ? dilated(timeout) : timeout;
    if (queue_->cv.wait_for(lock, t, [this] { return !queue_->messages.empty(); })) {
      m = std::move(queue_->messages.front());
      queue_->messages.pop_front();
    }
  }
  if (m) last_sender_ = m.sender();
  return m;
}

message test_probe::receive_one(duration timeout) {
  message m = receive_one_until(timeout, true);
  if (!m) {
    throw testkit_error("timeout (" +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                        " ms) while waiting for a message on " + ref_.path());
  }
  return m;
}

void test_probe::expect_no_msg(duration d) {
  if (sys_.is_manual()) {
    sys_.advance_time(d);
  } else {
    std::this_thread::sleep_for(dilated(d));  // the point of this call is to let time pass
  }
  std::lock_guard lock(queue_->mutex);
  if (!queue_->messages.empty()) {
    throw testkit_error("expected no message, got a " + queue_->messages.front().type_name());
  }
}

void test_probe::watch(const actor_ref& r) {
  ref_.tell(watch_order{r, true}, actor_ref{});
  if (sys_.is_manual()) sys_.run_until_idle();
}

void test_probe::unwatch(const actor_ref& r) {
  ref_.tell(watch_order{r, false}, actor_ref{});
  if (sys_.is_manual()) sys_.run_until_idle();
}

terminated test_probe::expect_terminated(const actor_ref& r, duration timeout) {
  auto t = expect_msg<terminated>(timeout);
  if (t.actor != r) throw testkit_error("expected terminated of " + r.path() + ", got it for " + t.actor.path());
  return t;
}

std::size_t test_probe::queued() const {
  std::lock_guard lock(queue_->mutex);
  return queue_->messages.size();
}

}  // namespace troupe::testkit
