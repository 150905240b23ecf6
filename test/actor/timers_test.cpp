// Keyed timers and the receive timeout, on manual time.
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/scheduler.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::props;
using troupe::testkit::test_probe;
using troupe::test_support::quiet_manual;

namespace {

struct tick {
  int n;
};
struct start_single {
  std::string key;
  int n;
  std::chrono::nanoseconds delay;
};
struct start_periodic {
  std::string key;
  int n;
  std::chrono::nanoseconds interval;
};
struct start_move_only {
  std::string key;
  std::chrono::nanoseconds delay;
};
struct cancel_timer {
  std::string key;
};
struct cancel_all {};
struct is_active {
  std::string key;
};
struct fail {};
struct set_timeout {
  std::chrono::nanoseconds d;
};
struct nudge {};
struct timed_out {};

/// Timers on request; everything it gets from its timers goes to `out`.
class timed : public troupe::actor {
 public:
  explicit timed(actor_ref out) : out_(std::move(out)) {}
  behavior make_behavior() override {
    return {
        [this](const start_single& s) { timers().start_single_timer(s.key, tick{s.n}, s.delay); },
        [this](const start_periodic& s) { timers().start_periodic_timer(s.key, tick{s.n}, s.interval); },
        [this](const start_move_only& s) {
          timers().start_single_timer(s.key, std::make_unique<int>(99), s.delay);
        },
        [this](const cancel_timer& c) { timers().cancel(c.key); },
        [this](const cancel_all&) { timers().cancel_all(); },
        [this](const is_active& a) { return timers().is_timer_active(a.key); },
        [this](const tick& t) { out_.tell(t); },
        [this](std::unique_ptr<int>& p) { out_.tell(*p); },
        [](const fail&) -> void { throw std::runtime_error("fail"); },
        [this](const set_timeout& s) { set_receive_timeout(s.d); },
        [](const nudge&) {},
        [this](const troupe::receive_timeout&) { out_.tell(timed_out{}); },
    };
  }

 private:
  actor_ref out_;
};

bool ask_active(test_probe& probe, const actor_ref& a, const std::string& key) {
  probe.send(a, is_active{key});
  return probe.expect_msg<bool>(0ms);
}

troupe::manual_scheduler& clock_of(troupe::actor_system& sys) {
  return dynamic_cast<troupe::manual_scheduler&>(sys.scheduler());
}

}  // namespace

TEST_CASE("a single timer fires once, after its delay", "[unit][timers]") {
  troupe::actor_system sys("timers", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  a.tell(start_single{"k", 1, 5s});
  CHECK(ask_active(probe, a, "k"));
  sys.advance_time(5s - 1ns);
  probe.expect_no_msg(0ms);
  sys.advance_time(1ns);
  CHECK(probe.expect_msg<tick>(0ms).n == 1);
  CHECK_FALSE(ask_active(probe, a, "k"));
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);
}

TEST_CASE("a single timer may carry a move-only message", "[unit][timers]") {
  troupe::actor_system sys("timers", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  a.tell(start_move_only{"m", 1s});
  sys.advance_time(1s);
  CHECK(probe.expect_msg<int>(0ms) == 99);
}

TEST_CASE("a periodic timer fires every interval until cancelled", "[unit][timers]") {
  troupe::actor_system sys("timers", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  a.tell(start_periodic{"p", 7, 1s});
  sys.run_until_idle();
  sys.advance_time(999ms);
  probe.expect_no_msg(0ms);
  sys.advance_time(2501ms);  // t = 3.5 s
  for (int i = 0; i < 3; ++i) CHECK(probe.expect_msg<tick>(0ms).n == 7);
  probe.expect_no_msg(0ms);
  sys.advance_time(100s);
  for (int i = 0; i < 100; ++i) REQUIRE(probe.expect_msg<tick>(0ms).n == 7);
  probe.expect_no_msg(0ms);
  CHECK(ask_active(probe, a, "p"));

  a.tell(cancel_timer{"p"});
  CHECK_FALSE(ask_active(probe, a, "p"));
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);
}

TEST_CASE("starting a timer with a key in use replaces the old one", "[unit][timers]") {
  troupe::actor_system sys("timers", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  a.tell(start_single{"k", 1, 5s});
  sys.advance_time(2s);
  a.tell(start_single{"k", 2, 5s});  // due at 7 s
  sys.advance_time(3s);              // t = 5 s: the first would have fired now
  probe.expect_no_msg(0ms);
  sys.advance_time(2s);
  CHECK(probe.expect_msg<tick>(0ms).n == 2);
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);

  // A periodic timer replaced by a single one under the same key.
  a.tell(start_periodic{"k", 3, 1s});
  sys.advance_time(1s);
  CHECK(probe.expect_msg<tick>(0ms).n == 3);
  a.tell(start_single{"k", 4, 10s});
  sys.advance_time(1h);
  CHECK(probe.expect_msg<tick>(0ms).n == 4);
  probe.expect_no_msg(0ms);
}

TEST_CASE("a timer cancelled or replaced after it fired is not delivered", "[unit][timers]") {
  troupe::actor_system sys("timers", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  auto& clock = clock_of(sys);

  SECTION("cancelled") {
    a.tell(start_single{"k", 1, 5s});
    sys.run_until_idle();
    a.tell(cancel_timer{"k"});
    clock.advance(5s);  // fires: its message queues behind the cancel, unprocessed
    sys.run_until_idle();
    probe.expect_no_msg(0ms);
  }
  SECTION("replaced") {
    a.tell(start_single{"k", 1, 5s});
    sys.run_until_idle();
    a.tell(start_single{"k", 2, 5s});
    clock.advance(5s);
    sys.run_until_idle();
    probe.expect_no_msg(0ms);
    sys.advance_time(5s);
    CHECK(probe.expect_msg<tick>(0ms).n == 2);
  }
  SECTION("all cancelled") {
    a.tell(start_periodic{"p", 1, 1s});
    a.tell(start_single{"s", 2, 1s});
    sys.run_until_idle();
    a.tell(cancel_all{});
    clock.advance(1s);
    sys.run_until_idle();
    probe.expect_no_msg(0ms);
    CHECK_FALSE(ask_active(probe, a, "p"));
    CHECK_FALSE(ask_active(probe, a, "s"));
  }
}

TEST_CASE("timers are cancelled when the actor restarts", "[unit][timers]") {
  troupe::actor_system sys("timers", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  auto& clock = clock_of(sys);
  a.tell(start_single{"s", 1, 5s});
  a.tell(start_periodic{"p", 2, 1s});
  sys.run_until_idle();
  a.tell(fail{});
  clock.advance(1s);  // the periodic timer fires before the failure is handled
  sys.run_until_idle();
  CHECK_FALSE(ask_active(probe, a, "s"));
  CHECK_FALSE(ask_active(probe, a, "p"));
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);
  // The restarted actor can start timers again.
  a.tell(start_single{"s", 3, 1s});
  sys.advance_time(1s);
  CHECK(probe.expect_msg<tick>(0ms).n == 3);
}

TEST_CASE("timers are cancelled when the actor stops", "[unit][timers]") {
  troupe::actor_system sys("timers", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  sys.run_until_idle();
  const auto pending_before = sys.scheduler().pending();
  a.tell(start_single{"s", 1, 5s});
  a.tell(start_periodic{"p", 2, 1s});
  sys.run_until_idle();
  CHECK(sys.scheduler().pending() == pending_before + 2);
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a, 0ms);
  CHECK(sys.scheduler().pending() == pending_before);
  const auto dead_before = sys.dead_letter_count();
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);
  CHECK(sys.dead_letter_count() == dead_before);
}

TEST_CASE("the receive timeout fires after a quiet period and each message resets it", "[unit][timers]") {
  troupe::actor_system sys("timeout", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  a.tell(set_timeout{5s});
  sys.run_until_idle();
  sys.advance_time(4s);
  probe.expect_no_msg(0ms);
  a.tell(nudge{});  // t = 4 s: the next timeout is due at 9 s
  sys.advance_time(5s - 1ns);
  probe.expect_no_msg(0ms);
  sys.advance_time(1ns);
  probe.expect_msg<timed_out>(0ms);
  // It keeps firing while nothing arrives.
  sys.advance_time(5s);
  probe.expect_msg<timed_out>(0ms);
  // Zero turns it off.
  a.tell(set_timeout{0s});
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);
}

TEST_CASE("the receive timeout is off after a restart and cancelled on stop", "[unit][timers]") {
  troupe::actor_system sys("timeout", quiet_manual());
  test_probe probe(sys);
  auto a = sys.spawn(props::of<timed>(probe.ref()), "a");
  a.tell(set_timeout{5s});
  a.tell(fail{});
  sys.run_until_idle();
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);

  const auto pending_before = sys.scheduler().pending();
  a.tell(set_timeout{5s});
  sys.run_until_idle();
  CHECK(sys.scheduler().pending() == pending_before + 1);
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a, 0ms);
  CHECK(sys.scheduler().pending() == pending_before);
  sys.advance_time(1h);
  probe.expect_no_msg(0ms);
}
