// actor_system::mailbox_size: the depth of one local actor's mailbox, read from any thread;
// nullopt for what has no mailbox of this system.
#include <catch2/catch.hpp>

#include <memory>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/counter_sink.hpp"

namespace {

troupe::actor_system_settings manual_settings() {
  troupe::actor_system_settings s;
  s.dispatcher = troupe::dispatcher_kind::manual;
  s.throughput = 1;
  s.log_min_level = troupe::log_level::error;
  return s;
}

using troupe::test_support::counter_sink;

}  // namespace

TEST_CASE("mailbox size: an unbounded mailbox counts what each turn leaves waiting", "[unit]") {
  troupe::actor_system sys("msize", manual_settings());
  auto seen = std::make_shared<int>(0);
  auto a = sys.spawn<counter_sink>("a", seen);
  sys.run_until_idle();
  CHECK(sys.mailbox_size(a) == 0u);

  for (int i = 0; i < 10; ++i) a.tell(i);
  CHECK(sys.mailbox_size(a) == 0u);  // not fetched by a turn yet
  REQUIRE(sys.run_one());            // one turn of one message: nine left
  CHECK(*seen == 1);
  CHECK(sys.mailbox_size(a) == 9u);
  REQUIRE(sys.run_one());
  CHECK(sys.mailbox_size(a) == 8u);
  sys.run_until_idle();
  CHECK(*seen == 10);
  CHECK(sys.mailbox_size(a) == 0u);
}

TEST_CASE("mailbox size: a bounded mailbox counts each message as it arrives", "[unit]") {
  troupe::actor_system sys("msize-bounded", manual_settings());
  auto seen = std::make_shared<int>(0);
  auto a = sys.spawn(troupe::props::of<counter_sink>(seen).with_mailbox(troupe::mailbox::bounded(100)), "a");
  sys.run_until_idle();
  for (int i = 0; i < 7; ++i) a.tell(i);
  CHECK(sys.mailbox_size(a) == 7u);
  REQUIRE(sys.run_one());
  CHECK(sys.mailbox_size(a) == 6u);
  sys.run_until_idle();
  CHECK(sys.mailbox_size(a) == 0u);
}

TEST_CASE("mailbox size: nullopt for a stopped actor, dead letters, an empty ref and another system's actor",
          "[unit]") {
  troupe::actor_system sys("msize-none", manual_settings());
  troupe::actor_system other("msize-other", manual_settings());
  auto seen = std::make_shared<int>(0);
  auto a = sys.spawn<counter_sink>("a", seen);
  auto b = other.spawn<counter_sink>("b", seen);
  sys.run_until_idle();
  other.run_until_idle();
  CHECK(sys.mailbox_size(a).has_value());
  CHECK_FALSE(sys.mailbox_size(b).has_value());
  CHECK(other.mailbox_size(b).has_value());
  CHECK_FALSE(sys.mailbox_size(sys.dead_letters()).has_value());
  CHECK_FALSE(sys.mailbox_size(troupe::actor_ref{}).has_value());
  sys.stop(a);
  sys.run_until_idle();
  CHECK_FALSE(sys.mailbox_size(a).has_value());
}
