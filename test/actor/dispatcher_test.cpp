// Dispatchers: an actor that blocks on the "pinned" dispatcher does not hold up the others,
// and unknown dispatcher names are rejected.
#include <catch2/catch.hpp>

#include <future>
#include <string>
#include <thread>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/ask.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::props;
using troupe::testkit::test_probe;
using troupe::test_support::quiet_threads;

namespace {

struct block_until {
  std::shared_future<void> release;
};
struct get_thread {};

/// Blocks its thread in a handler until released (at most 30 s, so a failed test still ends).
class blocker : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [this](const block_until& b) {
          sender().tell(std::string("blocking"));
          const bool released = b.release.wait_for(troupe::testkit::dilated(30s)) == std::future_status::ready;
          return std::string(released ? "released" : "gave up");
        },
        [](const get_thread&) { return std::this_thread::get_id(); },
    };
  }
};

class message_counter : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {[this](int n) { return total_ += n; }};
  }

 private:
  int total_ = 0;
};

/// Sets the promise when it goes, so a blocked actor never outlives a failing test.
struct release_on_exit {
  std::promise<void> p;
  std::shared_future<void> f = p.get_future().share();
  void release() {
    if (!done) {
      done = true;
      p.set_value();
    }
  }
  ~release_on_exit() { release(); }
  bool done = false;
};

}  // namespace

TEST_CASE("an actor blocking on the pinned dispatcher does not stop the others", "[integration][dispatcher]") {
  // One worker: a blocked default-dispatcher actor would stall everything.
  troupe::actor_system sys("pinned", quiet_threads(1));
  release_on_exit gate;  // after sys: released before the system waits for its actors
  test_probe probe(sys);
  test_probe probe2(sys);
  auto b1 = sys.spawn(props::of<blocker>().with_dispatcher("pinned"), "b1");
  auto b2 = sys.spawn(props::of<blocker>().with_dispatcher("pinned"), "b2");
  auto c = sys.spawn(props::of<message_counter>(), "c");

  probe.send(b1, block_until{gate.f});
  probe2.send(b2, block_until{gate.f});
  CHECK(probe.expect_msg<std::string>() == "blocking");
  CHECK(probe2.expect_msg<std::string>() == "blocking");
  // Both blocked in a handler; the default dispatcher's only worker still serves c.
  test_probe probe3(sys);
  for (int i = 1; i <= 100; ++i) probe3.send(c, i);
  for (int i = 1; i <= 100; ++i) REQUIRE(probe3.expect_msg<int>() == i * (i + 1) / 2);
  CHECK(troupe::ask<int>(sys, c, 0, 3s).get() == 5050);

  gate.release();
  CHECK(probe.expect_msg<std::string>() == "released");
  CHECK(probe2.expect_msg<std::string>() == "released");
  // Each pinned actor has a thread of its own, which is not the test's.
  const auto t1 = troupe::ask<std::thread::id>(sys, b1, get_thread{}, 3s).get();
  const auto t2 = troupe::ask<std::thread::id>(sys, b2, get_thread{}, 3s).get();
  CHECK(t1 != t2);
  CHECK(t1 != std::this_thread::get_id());
}

TEST_CASE("a pinned actor stops, restarts and is watched like any other", "[integration][dispatcher]") {
  troupe::actor_system sys("pinned", quiet_threads(1));
  test_probe probe(sys);
  struct fragile : troupe::actor {
    behavior make_behavior() override {
      return {[this](int n) -> int {
        if (n < 0) throw std::runtime_error("negative");
        return total_ += n;
      }};
    }
    int total_ = 0;
  };
  auto a = sys.spawn(props::of<fragile>().with_dispatcher("pinned"), "a");
  probe.send(a, 5);
  CHECK(probe.expect_msg<int>() == 5);
  probe.send(a, -1);  // restarted by /user: state reset
  probe.send(a, 2);
  CHECK(probe.expect_msg<int>() == 2);
  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a);
}

TEST_CASE("an unknown dispatcher name is rejected at spawn", "[unit][dispatcher]") {
  troupe::actor_system sys("pinned", troupe::testkit::manual_settings());
  CHECK_THROWS_AS(sys.spawn(props::of<message_counter>().with_dispatcher("turbo"), "x"), std::invalid_argument);
  CHECK_FALSE(sys.resolve("/user/x").has_value());
}

namespace {

struct volley {
  actor_ref other;
  actor_ref bystander;  ///< told once, from this worker (so it waits in the worker's own queue)
  bool serve = true;    ///< false: only learn the partner (and answer "ready")
};
struct hit {};
struct stop_volley {};

/// Two of these send `hit` to each other for ever (each message makes the next), until
/// told to stop: the pair that never gives its worker back to the queue by itself.
class volleyer : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [this](const volley& v) {
          other_ = v.other;
          if (!v.serve) return std::string("ready");
          if (v.bystander) v.bystander.tell(std::string("ping"), self());
          other_.tell(hit{}, self());
          return std::string("serving");
        },
        [this](const hit&) {
          if (!stopped_) other_.tell(hit{}, self());
        },
        [this](const stop_volley&) { stopped_ = true; },
        [](const std::string&) {},
    };
  }

 private:
  actor_ref other_;
  bool stopped_ = false;
};

/// Reports the first message it gets to `report_to`.
class bystander : public troupe::actor {
 public:
  explicit bystander(actor_ref report_to) : report_to_(std::move(report_to)) {}
  behavior make_behavior() override {
    return {[this](const std::string& s) { report_to_.tell(s); }};
  }

 private:
  actor_ref report_to_;
};

}  // namespace

TEST_CASE("an actor queued behind two actors messaging each other for ever still runs (one worker)",
          "[integration][dispatcher]") {
  troupe::actor_system sys("fair", quiet_threads(1));
  test_probe probe(sys);
  auto a = sys.spawn<volleyer>("a");
  auto b = sys.spawn<volleyer>("b");
  auto c = sys.spawn<bystander>("c", probe.ref());
  probe.send(b, volley{a, actor_ref{}, false});
  REQUIRE(probe.expect_msg<std::string>() == "ready");
  probe.send(a, volley{b, c});
  REQUIRE(probe.expect_msg<std::string>() == "serving");
  // c was scheduled from the worker, then the volley began; c must still get a turn.
  CHECK(probe.expect_msg<std::string>(5s) == "ping");
  a.tell(stop_volley{});
  b.tell(stop_volley{});
}
