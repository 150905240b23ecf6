// delivery_batch: the actors a thread's messages wake from idle are scheduled when the
// thread's batch ends, in the order they were woken, their messages in order.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <troupe/actor.hpp>
#include <troupe/actor/delivery_batch.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

namespace {

/// Records the ints it receives, in order.
class recorder final : public troupe::actor {
 public:
  explicit recorder(std::shared_ptr<std::vector<int>> seen) : seen_(std::move(seen)) {}
  troupe::behavior make_behavior() override {
    return {[this](int i) { seen_->push_back(i); }};
  }

 private:
  std::shared_ptr<std::vector<int>> seen_;
};

}  // namespace

TEST_CASE("delivery batch: a woken actor is scheduled when the batch ends, its messages in order", "[unit]") {
  // The manual dispatcher: a turn is one message, and a turn runs only when asked for.
  troupe::actor_system sys("batch", troupe::test_support::quiet_manual());
  auto seen_a = std::make_shared<std::vector<int>>();
  auto seen_b = std::make_shared<std::vector<int>>();
  auto a = sys.spawn<recorder>("a", seen_a);
  auto b = sys.spawn<recorder>("b", seen_b);
  sys.run_until_idle();  // both built and idle

  std::vector<int> sent;
  {
    troupe::delivery_batch batch;
    for (int i = 0; i < 100; ++i) {
      a.tell(i);
      sent.push_back(i);
    }
    b.tell(1000);
    CHECK_FALSE(sys.run_one());  // nothing scheduled yet
  }
  REQUIRE(sys.run_one());  // a, woken first, runs first
  CHECK(*seen_a == std::vector<int>{0});
  CHECK(seen_b->empty());
  sys.run_until_idle();
  CHECK(*seen_a == sent);
  CHECK(*seen_b == std::vector<int>{1000});

  // Without a batch the first message schedules at once.
  a.tell(7);
  CHECK(sys.run_one());
  CHECK(seen_a->back() == 7);
}

TEST_CASE("delivery batch: nested batches join the outermost", "[unit]") {
  troupe::actor_system sys("nested", troupe::test_support::quiet_manual());
  auto seen = std::make_shared<std::vector<int>>();
  auto a = sys.spawn<recorder>("a", seen);
  sys.run_until_idle();
  {
    troupe::delivery_batch outer;
    {
      troupe::delivery_batch inner;
      a.tell(1);
    }
    CHECK_FALSE(sys.run_one());  // the inner batch's end scheduled nothing
    a.tell(2);
  }
  sys.run_until_idle();
  CHECK(*seen == std::vector<int>{1, 2});
}

TEST_CASE("delivery batch: an actor stopped during a burst stops when the batch ends", "[unit]") {
  troupe::actor_system sys("stopping", troupe::test_support::quiet_manual());
  auto seen = std::make_shared<std::vector<int>>();
  auto a = sys.spawn<recorder>("a", seen);
  troupe::testkit::test_probe probe(sys);
  probe.watch(a);
  sys.run_until_idle();
  {
    troupe::delivery_batch batch;
    a.tell(1);
    sys.stop(a);
    a.tell(2);
  }
  CHECK_FALSE(a.is_terminated());  // its stop waits for its turn, after the batch
  sys.run_until_idle();
  probe.expect_terminated(a);
  CHECK(seen->size() <= 2u);  // the stop overtakes the user messages it finds waiting
}

TEST_CASE("delivery batch: a burst that wakes many actors of the worker pool reaches each, in order", "[unit]") {
  // The pool's own dispatcher: the burst is handed over in one piece (schedule_all), and
  // the workers take the actors from there.
  troupe::actor_system sys("burst", troupe::test_support::quiet_threads(2));
  constexpr int actors = 300;
  std::vector<std::shared_ptr<std::vector<int>>> seen;
  std::vector<troupe::actor_ref> refs;
  for (int i = 0; i < actors; ++i) {
    seen.push_back(std::make_shared<std::vector<int>>());
    refs.push_back(sys.spawn<recorder>("r" + std::to_string(i), seen.back()));
  }
  // Each recorder's vector is written by its own turns only; the probe's answer orders
  // them before the checks below.
  troupe::testkit::test_probe probe(sys);
  for (int round = 0; round < 3; ++round) {
    troupe::delivery_batch batch;
    for (int i = 0; i < actors; ++i) refs[static_cast<std::size_t>(i)].tell(round);
  }
  for (auto& r : refs) {
    r.tell(troupe::identify{1}, probe.ref());
    probe.expect_msg<troupe::actor_identity>();
  }
  for (const auto& s : seen) CHECK(*s == std::vector<int>{0, 1, 2});
}

namespace {

/// Asks `at_turn_end` for a call in each handler and records what happens when.
class turn_end_user final : public troupe::actor {
 public:
  explicit turn_end_user(std::shared_ptr<std::vector<std::string>> log) : log_(std::move(log)) {}
  troupe::behavior make_behavior() override {
    return {[this](int i) {
      const bool kept = troupe::at_turn_end(&turn_end_user::ended, log_.get());
      log_->push_back("handler " + std::to_string(i) + (kept ? " kept" : " refused"));
    }};
  }

 private:
  static void ended(void* log) {
    auto* l = static_cast<std::vector<std::string>*>(log);
    // Outside the turn now: a second request is refused (the caller acts at once).
    l->push_back(troupe::at_turn_end(&turn_end_user::ended, log) ? "end, inside a turn" : "end");
  }
  std::shared_ptr<std::vector<std::string>> log_;
};

}  // namespace

TEST_CASE("at_turn_end: runs once the turn is over, on its thread, and is refused outside a turn", "[unit]") {
  troupe::actor_system sys("turns", troupe::test_support::quiet_manual());
  auto log = std::make_shared<std::vector<std::string>>();
  auto a = sys.spawn<turn_end_user>("a", log);
  sys.run_until_idle();
  a.tell(1);
  REQUIRE(sys.run_one());
  CHECK(*log == std::vector<std::string>{"handler 1 kept", "end"});
  a.tell(2);
  sys.run_until_idle();
  CHECK(log->back() == "end");
  CHECK(log->size() == 4);
  int outside = 0;
  CHECK_FALSE(troupe::at_turn_end([](void* n) { ++*static_cast<int*>(n); }, &outside));
  CHECK(outside == 0);
}
