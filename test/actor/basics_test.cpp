// Spawning, messaging, replies, paths and selection: the first things a user does.
#include <catch2/catch.hpp>

#include <troupe/actor.hpp>

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::testkit::test_probe;

namespace {

struct get_count {};
struct increment {
  int by = 1;
};

class counter final : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [this](const increment& i) { count_ += i.by; },
        [this](const get_count&) { return count_; },
    };
  }

 private:
  int count_ = 0;
};

}  // namespace

TEST_CASE("a spawned actor processes messages in order and replies to the sender", "[unit][basics]") {
  troupe::actor_system sys("basics");
  test_probe probe(sys);
  auto c = sys.spawn<counter>("counter");
  for (int i = 0; i < 100; ++i) c.tell(increment{i});
  probe.send(c, get_count{});
  CHECK(probe.expect_msg<int>() == 4950);
  CHECK(probe.last_sender() == c);
}

TEST_CASE("refs print their path and resolve by path", "[unit][basics]") {
  troupe::actor_system sys("paths");
  auto c = sys.spawn<counter>("counter");
  CHECK(c.path() == "troupe://paths/user/counter");
  REQUIRE(sys.resolve("/user/counter").has_value());
  CHECK(*sys.resolve("/user/counter") == c);
  CHECK(*sys.resolve("troupe://paths/user/counter") == c);
  CHECK_FALSE(sys.resolve("/user/nobody").has_value());
  CHECK_THROWS_AS(sys.spawn<counter>("counter"), std::invalid_argument);
  CHECK_THROWS_AS(sys.spawn<counter>("a/b"), std::invalid_argument);
  CHECK(std::hash<actor_ref>{}(c) == std::hash<actor_ref>{}(*sys.resolve("/user/counter")));
}

TEST_CASE("the manual dispatcher steps actors message by message", "[unit][basics][testkit]") {
  troupe::actor_system sys("manual", troupe::testkit::manual_settings());
  auto c = sys.spawn<counter>("counter");
  c.tell(increment{2});
  c.tell(increment{3});
  CHECK(sys.run_one());  // create
  test_probe probe(sys);
  probe.send(c, get_count{});
  CHECK(probe.expect_msg<int>() == 5);
  CHECK_FALSE(sys.run_one());
}
