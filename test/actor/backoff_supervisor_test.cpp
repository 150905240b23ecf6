// Backoff supervisor: growing delays with jitter, reset after a quiet run, forwarding.
#include <catch2/catch.hpp>

#include <troupe/actor.hpp>

using namespace std::chrono_literals;
using troupe::behavior;
using troupe::testkit::test_probe;
namespace backoff = troupe::backoff;

namespace {

struct crash {};
struct started {
  int n;
};

/// Reports each start to a probe; fails on `crash`, echoes strings.
class flaky final : public troupe::actor {
 public:
  explicit flaky(troupe::actor_ref report, std::shared_ptr<int> starts) : report_(report), starts_(starts) {}
  void pre_start() override { report_.tell(started{++*starts_}); }
  behavior make_behavior() override {
    return {[](const crash&) { throw std::runtime_error("crash"); },
            [this](const std::string& s) { reply("echo " + s); }};
  }

 private:
  troupe::actor_ref report_;
  std::shared_ptr<int> starts_;
};

}  // namespace

TEST_CASE("backoff delays double up to the maximum, with bounded jitter", "[unit][backoff]") {
  CHECK(backoff::delay(0, 100ms, 10s, 0.0, 0.5) == 100ms);
  CHECK(backoff::delay(1, 100ms, 10s, 0.0, 0.5) == 200ms);
  CHECK(backoff::delay(3, 100ms, 10s, 0.0, 0.5) == 800ms);
  CHECK(backoff::delay(20, 100ms, 10s, 0.0, 0.5) == 10s);
  CHECK(backoff::delay(1000, 100ms, 10s, 0.0, 0.5) == 10s);
  CHECK(backoff::delay(0, 100ms, 10s, 0.5, 0.0) == 100ms);
  CHECK(backoff::delay(0, 100ms, 10s, 0.5, 0.999) < 150ms);
  CHECK(backoff::delay(0, 100ms, 10s, 0.5, 0.5) == 125ms);
  CHECK_THROWS_AS(backoff::props({.child = troupe::props::of<flaky>(troupe::actor_ref{}, nullptr),
                                  .min_backoff = 0ms}),
                  std::invalid_argument);
}

TEST_CASE("a failing child is restarted after exponential backoff", "[unit][backoff]") {
  troupe::actor_system sys("backoff", troupe::testkit::manual_settings());
  test_probe probe(sys);
  auto starts = std::make_shared<int>(0);
  auto sup = sys.spawn(backoff::props({.child = troupe::props::of<flaky>(probe.ref(), starts),
                                       .child_name = "flaky",
                                       .min_backoff = 1s,
                                       .max_backoff = 4s,
                                       .random_factor = 0.0,
                                       .reset_after = 30s}),
                       "sup");
  CHECK(probe.expect_msg<started>().n == 1);
  probe.send(sup, std::string("a"));
  CHECK(probe.expect_msg<std::string>() == "echo a");

  // Each crash: nothing before the delay, a restart right at it; 1 s, 2 s, 4 s, 4 s.
  for (auto d : {1s, 2s, 4s, 4s}) {
    sup.tell(crash{});
    sys.run_until_idle();
    probe.send(sup, std::string("lost"));  // no child right now: a dead letter
    probe.expect_no_msg(d - 1ms);
    sys.advance_time(1ms);
    probe.expect_msg<started>();
  }
  probe.send(sup, backoff::get_restart_count{});
  CHECK(probe.expect_msg<backoff::restart_count>().count == 4);

  sys.advance_time(30s);  // ran quietly for reset_after: the count resets
  probe.send(sup, backoff::get_restart_count{});
  CHECK(probe.expect_msg<backoff::restart_count>().count == 0);
}

TEST_CASE("on_stop mode restarts a child that stopped by itself, on_failure mode does not",
          "[unit][backoff]") {
  troupe::actor_system sys("backoff-modes", troupe::testkit::manual_settings());
  test_probe probe(sys);
  auto starts = std::make_shared<int>(0);
  auto on_stop = sys.spawn(backoff::props({.child = troupe::props::of<flaky>(probe.ref(), starts),
                                           .min_backoff = 1s,
                                           .random_factor = 0.0,
                                           .mode = backoff::mode::on_stop}),
                           "on-stop");
  probe.expect_msg<started>();
  on_stop.tell(troupe::poison_pill{});  // to the supervisor itself: stops it and the child
  probe.watch(on_stop);
  probe.expect_terminated(on_stop);

  auto on_failure = sys.spawn(backoff::props({.child = troupe::props::of<flaky>(probe.ref(), starts),
                                              .min_backoff = 1s,
                                              .random_factor = 0.0,
                                              .mode = backoff::mode::on_failure}),
                              "on-failure");
  probe.expect_msg<started>();
  probe.watch(on_failure);
  sys.stop(*sys.resolve("/user/on-failure/child"));
  probe.expect_terminated(on_failure);  // a clean stop of the child ends its supervisor

  auto limited = sys.spawn(backoff::props({.child = troupe::props::of<flaky>(probe.ref(), starts),
                                           .min_backoff = 1s,
                                           .random_factor = 0.0,
                                           .mode = backoff::mode::on_stop,
                                           .max_restarts = 1}),
                           "limited");
  probe.expect_msg<started>();
  probe.watch(limited);
  sys.stop(*sys.resolve("/user/limited/child"));
  sys.advance_time(1s);
  probe.expect_msg<started>();
  sys.stop(*sys.resolve("/user/limited/child"));
  probe.expect_terminated(limited);  // the budget of one restart is spent
}
