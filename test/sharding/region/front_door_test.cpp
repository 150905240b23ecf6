// The hosting region's front door on its own: which messages it hands straight to an
// entity, which it lets through to the region, and when (region/front_door.hpp). Probes
// stand for the region and the entity; the test calls what the I/O thread and the region
// would.
#include <catch2/catch.hpp>

#include <string>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>

#include "region/front_door.hpp"

using namespace std::chrono_literals;
using troupe::testkit::test_probe;
namespace ts = troupe::sharding;

namespace {

const ts::model::region_id here{{"stest", "127.0.0.1", 2551}, 7};
const ts::model::region_id earlier{{"stest", "127.0.0.1", 2551}, 6};

/// What another region forwards: `text` for `entity`, from `sender`.
troupe::message forwarded(const std::string& entity, const std::string& text, const troupe::actor_ref& sender,
                          const ts::model::region_id& to = here) {
  return troupe::make_message(
      ts::detail::region_forward{to.uid, entity, troupe::make_message(std::string(text)), false}, sender);
}

/// The region's side of a message the door let through: it was counted, for `entity`.
void through_region(test_probe& region, const std::string& entity, const std::string& text) {
  const auto f = region.expect_msg<ts::detail::region_forward>();
  CHECK(f.through_door);
  CHECK(f.entity_id == entity);
  CHECK(*f.payload.get_if<std::string>() == text);
}

}  // namespace

TEST_CASE("front door: an entity gets forwarded messages straight only once none waits in the region",
          "[unit][sharding]") {
  troupe::actor_system sys("stest");
  test_probe region(sys, "region"), entity(sys, "entity"), sender(sys, "sender");
  ts::detail::front_door door(here.uid);

  // Closed: counted and let through, in order.
  door.route(region.ref(), forwarded("e", "1", sender.ref()));
  door.route(region.ref(), forwarded("e", "2", sender.ref()));
  through_region(region, "e", "1");
  through_region(region, "e", "2");
  // The region routed the first; the second is still on its way: the door stays shut.
  door.settle("e", &entity.ref());
  door.route(region.ref(), forwarded("e", "3", sender.ref()));
  through_region(region, "e", "3");
  door.settle("e", &entity.ref());
  door.settle("e", &entity.ref());  // the last one routed: open now
  CHECK(door.handed_over() == 0);

  // Open: the entity gets the payload with its original sender, and nothing else sees it.
  door.route(region.ref(), forwarded("e", "4", sender.ref()));
  CHECK(entity.expect_msg<std::string>() == "4");
  CHECK(entity.last_sender() == sender.ref());
  region.expect_no_msg(50ms);
  CHECK(door.handed_over() == 1);
  CHECK(door.take_touched() == std::vector<std::string>{"e"});
  CHECK(door.take_touched().empty());

  // Another entity, a message for an earlier incarnation and anything else pass by.
  door.route(region.ref(), forwarded("f", "5", sender.ref()));
  through_region(region, "f", "5");
  door.route(region.ref(), forwarded("e", "6", sender.ref(), earlier));
  CHECK_FALSE(region.expect_msg<ts::detail::region_forward>().through_door);
  door.route(region.ref(), troupe::make_message(std::string("not forwarded"), sender.ref()));
  CHECK(region.expect_msg<std::string>() == "not forwarded");
  entity.expect_no_msg(50ms);

  // Closed before the entity is told to stop: what follows waits in the region again.
  door.close("e");
  door.route(region.ref(), forwarded("e", "7", sender.ref()));
  through_region(region, "e", "7");
  door.settle("e", nullptr);  // not deliverable (it stops): stays shut
  door.route(region.ref(), forwarded("e", "8", sender.ref()));
  through_region(region, "e", "8");
  entity.expect_no_msg(50ms);

  // The region stops: nothing is counted or handed over any more.
  door.settle("e", &entity.ref());
  door.shut();
  door.route(region.ref(), forwarded("e", "9", sender.ref()));
  CHECK_FALSE(region.expect_msg<ts::detail::region_forward>().through_door);
  entity.expect_no_msg(50ms);
  door.settle("f", &entity.ref());  // after the shut: opens nothing
  door.route(region.ref(), forwarded("f", "10", sender.ref()));
  CHECK_FALSE(region.expect_msg<ts::detail::region_forward>().through_door);
  sys.terminate();
  sys.await_termination(10s);
}
