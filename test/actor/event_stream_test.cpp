// The event stream: a subscriber function that throws is logged and skipped; the
// publisher (user code, dead letters, the failure path of an actor) and the other
// subscribers go on.
#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/log.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/testkit.hpp>

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::props;
using troupe::testkit::test_probe;

namespace {

struct news {
  int n;
};
struct fail_now {};
struct get_events_seen {};

/// Counts ints; throws on fail_now (the default strategy restarts it).
class event_counter : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [this](int n) { count_ += n; },
        [this](const get_events_seen&) { return count_; },
        [](const fail_now&) -> void { throw std::runtime_error("asked to fail"); },
    };
  }

 private:
  int count_ = 0;
};

/// Collects the log records of a test (the sink is process-wide: restored on destruction).
class captured_log {
 public:
  captured_log() {
    troupe::logger::set_sink([this](const troupe::log_record& r) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(r.text);
    });
  }
  ~captured_log() { troupe::logger::set_sink({}); }
  /// Records containing `part`.
  int count(const std::string& part) const {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& l : lines_) n += l.find(part) != std::string::npos ? 1 : 0;
    return n;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

troupe::actor_system_settings manual_errors_only() {
  auto s = troupe::testkit::manual_settings();
  s.log_min_level = troupe::log_level::error;
  return s;
}

}  // namespace

TEST_CASE("a throwing subscriber function neither reaches the publisher nor stops the others",
          "[unit][events]") {
  captured_log log;
  troupe::actor_system sys("events", manual_errors_only());
  test_probe probe(sys);
  int seen = 0;
  sys.events().subscribe<news>(std::function<void(const news&)>([](const news&) { throw std::runtime_error("bad subscriber"); }));
  sys.events().subscribe<news>(std::function<void(const news&)>([](const news&) { throw 42; }));
  sys.events().subscribe<news>(std::function<void(const news&)>([&seen](const news& e) { seen += e.n; }));
  sys.events().subscribe<news>(probe.ref());

  CHECK_NOTHROW(sys.events().publish(news{3}));
  CHECK(seen == 3);
  CHECK(probe.expect_msg<news>(0ms).n == 3);
  CHECK(log.count("threw: bad subscriber") == 1);
  CHECK(log.count("threw: unknown exception") == 1);
}

TEST_CASE("a throwing actor_failed subscriber leaves the failure to the supervisor",
          "[unit][events][supervision]") {
  captured_log log;
  troupe::actor_system sys("events", manual_errors_only());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(
      std::function<void(const troupe::actor_failed&)>([](const troupe::actor_failed&) { throw std::runtime_error("subscriber down"); }));
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto c = sys.spawn(props::of<event_counter>(), "c");
  c.tell(5);
  c.tell(fail_now{});
  c.tell(2);
  sys.run_until_idle();

  CHECK(failures.expect_msg<troupe::actor_failed>(0ms).actor == c);
  probe.send(c, get_events_seen{});
  CHECK(probe.expect_msg<int>(0ms) == 2);  // restarted (fresh state), the next message kept
  CHECK(log.count("threw: subscriber down") == 1);
}

TEST_CASE("a throwing dead_letter subscriber does not hide dead letters from the others",
          "[unit][events]") {
  captured_log log;
  troupe::actor_system sys("events", manual_errors_only());
  test_probe dead(sys);
  sys.events().subscribe<troupe::dead_letter>(
      std::function<void(const troupe::dead_letter&)>([](const troupe::dead_letter&) { throw std::runtime_error("dl subscriber down"); }));
  sys.events().subscribe<troupe::dead_letter>(dead.ref());
  sys.dead_letters().tell(7, actor_ref{});
  sys.run_until_idle();

  auto d = dead.expect_msg<troupe::dead_letter>(0ms);
  REQUIRE(d.msg->get_if<int>());
  CHECK(*d.msg->get_if<int>() == 7);
  CHECK(log.count("threw: dl subscriber down") == 1);
}
