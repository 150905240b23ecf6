// Durable state actors: the state survives restarts; a stale revision fails instead of
// overwriting; commands wait while the state loads.
#include <catch2/catch.hpp>

#include <troupe/actor.hpp>
#include <troupe/persistence.hpp>

using namespace std::chrono_literals;
namespace tp = troupe::persistence;
using troupe::testkit::test_probe;

namespace {

struct cart_state {
  std::vector<std::string> items;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(cart_state, items)

struct add_item {
  std::string item;
};
struct clear_cart {};
struct get_cart {};
struct cart_view {
  std::vector<std::string> items;
  std::int64_t revision;
};
struct added {
  std::int64_t revision;
};
struct cleared {};

class cart final : public tp::durable_state_actor<cart_state> {
 public:
  explicit cart(std::string id) : durable_state_actor("cart-" + id) {}
  troupe::behavior receive_command() override {
    return {[this](const add_item& a) {
              cart_state next = state();
              next.items.push_back(a.item);
              persist_state(std::move(next), [this, to = sender()] { to.tell(added{revision()}); });
            },
            [this](const clear_cart&) { delete_state([to = sender()] { to.tell(cleared{}); }); },
            [this](const get_cart&) { return cart_view{state().items, revision()}; }};
  }
};

void start_state_persistence(troupe::actor_system& sys, const tp::plugin& store) {
  auto& p = tp::persistence::get(sys);
  p.register_type<cart_state>("test.cart");
  p.use(store);
}

}  // namespace

TEST_CASE("a durable state actor gets its state back after a stop", "[unit][persistence]") {
  troupe::actor_system sys("state");
  const auto store = tp::make_in_memory_plugin();
  start_state_persistence(sys, store);
  test_probe probe(sys);

  auto c = sys.spawn<cart>("c", "1");
  probe.send(c, add_item{"apple"});
  probe.send(c, add_item{"pear"});  // sent before the first write is done: it waits
  CHECK(probe.expect_msg<added>().revision == 1);
  CHECK(probe.expect_msg<added>().revision == 2);
  probe.watch(c);
  sys.stop(c);
  probe.expect_terminated(c);

  auto again = sys.spawn<cart>("again", "1");
  probe.send(again, get_cart{});
  auto view = probe.expect_msg<cart_view>();
  CHECK(view.items == std::vector<std::string>{"apple", "pear"});
  CHECK(view.revision == 2);

  probe.send(again, clear_cart{});
  probe.expect_msg<cleared>();
  probe.send(again, get_cart{});
  view = probe.expect_msg<cart_view>();
  CHECK(view.items.empty());
  CHECK(view.revision == 0);
}

TEST_CASE("a write against a stale revision fails instead of overwriting", "[unit][persistence]") {
  const auto store = tp::make_in_memory_plugin();
  troupe::actor_system one("one"), two("two");
  start_state_persistence(one, store);
  start_state_persistence(two, store);
  test_probe p1(one), p2(two);

  auto first = one.spawn<cart>("c", "shared");
  auto second = two.spawn<cart>("c", "shared");
  p1.send(first, get_cart{});
  p1.expect_msg<cart_view>();
  p2.send(second, get_cart{});
  p2.expect_msg<cart_view>();

  p1.send(first, add_item{"from one"});
  CHECK(p1.expect_msg<added>().revision == 1);
  p2.watch(second);
  p2.send(second, add_item{"from two"});
  p2.expect_terminated(second);

  auto reread = two.spawn<cart>("c2", "shared");
  p2.send(reread, get_cart{});
  const auto view = p2.expect_msg<cart_view>();
  CHECK(view.items == std::vector<std::string>{"from one"});
  CHECK(view.revision == 1);
}

TEST_CASE("persistence settings name the key and the expected value", "[unit][persistence]") {
  auto ok = tp::persistence_settings::parse(nlohmann::json::parse(
      R"({"plugin": "sqlite", "sqlite": {"path": "x.db", "synchronous": "normal"}, "snapshot-every": 100})"));
  REQUIRE(ok);
  CHECK(ok->sqlite.path == "x.db");
  CHECK(ok->sqlite.synchronous == "normal");
  CHECK(ok->snapshot_every == 100);

  auto bad_plugin = tp::persistence_settings::parse(nlohmann::json::parse(R"({"plugin": "mysql"})"));
  REQUIRE_FALSE(bad_plugin);
  CHECK(bad_plugin.error().key == "plugin");
  CHECK(std::string(bad_plugin.error().what()).find("\"sqlite\", \"postgresql\" or \"in-memory\"") !=
        std::string::npos);

  auto bad_sync = tp::persistence_settings::parse(nlohmann::json::parse(R"({"sqlite": {"synchronous": "off"}})"));
  REQUIRE_FALSE(bad_sync);
  CHECK(bad_sync.error().key == "sqlite.synchronous");

  auto typo = tp::persistence_settings::parse(nlohmann::json::parse(R"({"postgresql": {"pool": 4}})"));
  REQUIRE_FALSE(typo);
  CHECK(typo.error().key == "postgresql.pool");
}
