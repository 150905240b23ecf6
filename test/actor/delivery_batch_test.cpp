// delivery_batch: the actors a thread's messages wake from idle are scheduled when the
// thread's batch ends, in the order they were woken, their messages in order.
#include <catch2/catch.hpp>

#include <memory>
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
