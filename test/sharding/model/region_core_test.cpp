// region_core on its own: homes, hosting, passivation, hand-off with markers, coordinator
// changes, fencing, remember-entities and shutdown, effect by effect.
#include <catch2/catch.hpp>

#include <algorithm>
#include <variant>

#include <troupe/sharding/model/region_core.hpp>

using namespace std::chrono_literals;
namespace model = troupe::sharding::model;
using model::region_core;
using model::region_id;
using model::route_kind;

namespace {

region_id node(std::uint16_t port, std::uint64_t uid = 1) { return {{"sys", "127.0.0.1", port}, uid}; }

const region_id self = node(1), other = node(2), third = node(3);
const model::coordinator_id coord{self, 42};

template <class T>
std::vector<T> of(const std::vector<model::region_effect>& es) {
  std::vector<T> r;
  for (const auto& e : es)
    if (std::holds_alternative<T>(e)) r.push_back(std::get<T>(e));
  return r;
}

template <class T>
std::vector<T> to_coordinator(const std::vector<model::region_effect>& es) {
  std::vector<T> r;
  for (const auto& s : of<model::send_to_coordinator>(es))
    if (std::holds_alternative<T>(s.message)) r.push_back(std::get<T>(s.message));
  return r;
}

model::region_settings settings() {
  model::region_settings s;
  s.idle_timeout = std::nullopt;
  s.handoff_timeout = 5s;
  s.retry_interval = 1s;
  return s;
}

/// A region registered with `coord` (on its own node).
struct fixture {
  region_core core;
  std::uint64_t next_token = 1;

  explicit fixture(model::region_settings s = settings()) : core(s, self) {
    core.set_coordinator(self, 0s);
    core.receive(model::register_ack{coord}, 0s);
    (void)core.take_effects();
  }
  /// Routes a message; buffers it under a fresh token when told to; returns the decision
  /// and the token (0 when not buffered).
  std::pair<model::route_decision, std::uint64_t> send(const std::string& e, const std::string& s, bool from_region = false) {
    const auto d = core.route(e, s, from_region);
    if (d.kind != route_kind::buffer) return {d, 0};
    const auto t = next_token++;
    REQUIRE(core.buffer(e, s, t, from_region));
    return {d, t};
  }
  void host(const std::string& s) {
    core.receive(model::host_shard{coord, s}, 0s);
  }
  std::vector<model::region_effect> effects() { return core.take_effects(); }
};

}  // namespace

TEST_CASE("region_core: registers with the coordinator's node and takes orders only from the one that acknowledged",
          "[unit][sharding][region]") {
  region_core core{settings(), self};
  core.set_coordinator(other, 0s);
  auto es = core.take_effects();
  const auto sends = of<model::send_to_coordinator>(es);
  REQUIRE(sends.size() == 1);
  CHECK(sends[0].node == other);
  CHECK(std::holds_alternative<model::register_region>(sends[0].message));
  // An ack from another node is not taken; neither are orders before the ack.
  core.receive(model::register_ack{{third, 1}}, 0s);
  CHECK_FALSE(core.coordinator());
  core.receive(model::host_shard{{other, 5}, "1"}, 0s);
  CHECK(core.local_shard_count() == 0);
  core.receive(model::register_ack{{other, 5}}, 0s);
  REQUIRE(core.coordinator());
  core.receive(model::host_shard{{other, 6}, "1"}, 0s);  // another incarnation
  CHECK(core.local_shard_count() == 0);
  CHECK(core.stats().rejected >= 2);
  // Unacknowledged registration is resent every retry interval.
  region_core fresh{settings(), self};
  fresh.set_coordinator(other, 0s);
  (void)fresh.take_effects();
  fresh.on_tick(model::region_tick::retry, 500ms);
  CHECK(to_coordinator<model::register_region>(fresh.take_effects()).empty());
  fresh.on_tick(model::region_tick::retry, 1s);
  CHECK(to_coordinator<model::register_region>(fresh.take_effects()).size() == 1);
}

TEST_CASE("region_core: a new coordinator on the same node is registered with when it asks",
          "[unit][sharding][region]") {
  fixture f;
  f.host("1");
  (void)f.effects();
  const model::coordinator_id again{self, 43};  // the singleton started again on this node
  f.core.receive(model::please_register{again}, 1s);
  const auto regs = to_coordinator<model::register_region>(f.effects());
  REQUIRE(regs.size() == 1);
  CHECK(regs[0].hosted == std::vector<model::shard_id>{"1"});
  f.core.receive(model::register_ack{again}, 1s);
  REQUIRE(f.core.coordinator());
  CHECK(*f.core.coordinator() == again);
  const auto rejected = f.core.stats().rejected;
  f.core.receive(model::host_shard{coord, "2"}, 1s);  // the old incarnation's orders
  CHECK(f.core.stats().rejected == rejected + 1);
  f.core.receive(model::host_shard{again, "2"}, 1s);
  CHECK(f.core.local_shard_count() == 2);
}

TEST_CASE("region_core: messages for a shard without a known home wait, then follow it in order",
          "[unit][sharding][region]") {
  fixture f;
  const auto [d1, t1] = f.send("alice", "7");
  const auto [d2, t2] = f.send("bob", "7");
  CHECK(d1.kind == route_kind::buffer);
  auto es = f.effects();
  const auto asks = to_coordinator<model::get_shard_home>(es);
  REQUIRE(asks.size() == 1);  // asked once
  CHECK(asks[0].shard == "7");
  CHECK(f.core.buffered_count() == 2);
  f.core.receive(model::shard_home{coord, "7", other}, 0s);
  es = f.effects();
  const auto fw = of<model::forward_buffered>(es);
  REQUIRE(fw.size() == 2);
  CHECK(fw[0].token == t1);
  CHECK(fw[1].token == t2);
  CHECK(f.core.region_at(fw[0].region) == other);
  CHECK(f.core.buffered_count() == 0);
  const auto [d3, t3] = f.send("carol", "7");
  CHECK(d3.kind == route_kind::forward);
  CHECK(f.core.region_at(d3.region) == other);
  // Asked again every retry interval while messages wait.
  f.send("dave", "8");
  (void)f.effects();
  f.core.on_tick(model::region_tick::retry, 1s);
  CHECK(to_coordinator<model::get_shard_home>(f.effects()).size() == 1);
}

TEST_CASE("region_core: running_slot answers only for a running entity whose shard takes the sender",
          "[unit][sharding][region]") {
  fixture f;
  CHECK_FALSE(f.core.running_slot("a", false));
  f.host("1");
  const auto d = f.core.route("a", "1", false);
  REQUIRE(d.kind == route_kind::start);
  CHECK(f.core.running_slot("a", false) == d.slot);
  f.core.receive(model::begin_handoff{coord, "1", self, 1}, 0s);
  CHECK_FALSE(f.core.running_slot("a", false));  // local senders wait during a hand-off
  CHECK(f.core.running_slot("a", true) == d.slot);  // forwarded messages still go in
  REQUIRE(f.core.passivate(d.slot, 0s));
  CHECK_FALSE(f.core.running_slot("a", true));
}

TEST_CASE("region_core: the buffer is bounded", "[unit][sharding][region]") {
  auto s = settings();
  s.buffer_size = 2;
  region_core core{s, self};
  core.set_coordinator(self, 0s);
  CHECK(core.route("a", "1", false).kind == route_kind::buffer);
  CHECK(core.buffer("a", "1", 1, false));
  CHECK(core.buffer("b", "1", 2, false));
  CHECK_FALSE(core.buffer("c", "1", 3, false));
  CHECK(core.stats().dropped == 1);
}

TEST_CASE("region_core: a hosted shard starts entities on their first message and delivers the waiting ones first",
          "[unit][sharding][region]") {
  fixture f;
  const auto [d1, t1] = f.send("alice", "7");
  const auto [d2, t2] = f.send("alice", "7");
  (void)f.effects();
  f.host("7");
  auto es = f.effects();
  CHECK(to_coordinator<model::shard_started>(es).size() == 1);
  const auto starts = of<model::start_entity>(es);
  REQUIRE(starts.size() == 1);
  CHECK(starts[0].entity == "alice");
  const auto dl = of<model::deliver_buffered>(es);
  REQUIRE(dl.size() == 2);
  CHECK(dl[0].token == t1);
  CHECK(dl[1].token == t2);
  CHECK(dl[0].slot == starts[0].slot);
  // Then straight through.
  auto d = f.core.route("alice", "7", false);
  CHECK(d.kind == route_kind::deliver);
  CHECK(d.slot == starts[0].slot);
  d = f.core.route("bob", "7", false);
  CHECK(d.kind == route_kind::start);
  CHECK(*f.core.entity_at(d.slot) == "bob");
  CHECK(f.core.local_shards() == std::vector<model::shard_entities>{{"7", {"alice", "bob"}}});
}

TEST_CASE("region_core: idle entities are passivated and messages meanwhile start them again",
          "[unit][sharding][region]") {
  auto s = settings();
  s.idle_timeout = 10s;
  fixture f(s);
  f.host("1");
  (void)f.effects();
  const auto start = f.core.route("a", "1", false);
  REQUIRE(start.kind == route_kind::start);
  f.core.route("b", "1", false);
  // a stays busy, b idles for three passivation ticks (between 1 and 1.5 idle timeouts).
  for (int i = 1; i <= 3; ++i) {
    f.core.on_tick(model::region_tick::passivation, std::chrono::seconds(5 * i));
    if (i < 3) CHECK(of<model::stop_entity>(f.effects()).empty());
    CHECK(f.core.route("a", "1", false).kind == route_kind::deliver);
  }
  auto stops = of<model::stop_entity>(f.effects());
  REQUIRE(stops.size() == 1);
  CHECK(*f.core.entity_at(stops[0].slot) == "b");
  CHECK(stops[0].cause == model::stop_cause::idle);
  // A message while b stops waits; when b ends it starts again and gets it.
  const auto [d, t] = f.send("b", "1");
  CHECK(d.kind == route_kind::buffer);
  f.core.entity_terminated(stops[0].slot, 16s);
  const auto es = f.effects();
  REQUIRE(of<model::start_entity>(es).size() == 1);
  const auto dl = of<model::deliver_buffered>(es);
  REQUIRE(dl.size() == 1);
  CHECK(dl[0].token == t);
  CHECK(f.core.stats().passivated == 1);
}

TEST_CASE("region_core: the active-entity limit passivates the least recently used", "[unit][sharding][region]") {
  auto s = settings();
  s.active_entity_limit = 2;
  fixture f(s);
  f.host("1");
  (void)f.effects();
  f.core.route("a", "1", false);
  f.core.route("b", "1", false);
  f.core.route("a", "1", false);  // b is now the least recently used
  const auto d = f.core.route("c", "1", false);
  CHECK(d.kind == route_kind::start);
  const auto stops = of<model::stop_entity>(f.effects());
  REQUIRE(stops.size() == 1);
  CHECK(*f.core.entity_at(stops[0].slot) == "b");
  CHECK(stops[0].cause == model::stop_cause::limit);
}

TEST_CASE("region_core: an entity may ask to be passivated", "[unit][sharding][region]") {
  fixture f;
  f.host("1");
  const auto d = f.core.route("a", "1", false);
  CHECK(f.core.passivate(d.slot, 1s));
  CHECK_FALSE(f.core.passivate(d.slot, 1s));  // once
  CHECK(f.core.route("a", "1", false).kind == route_kind::buffer);
  f.core.entity_terminated(d.slot, 2s);
  CHECK(f.core.entity_count() == 0);
}

TEST_CASE("region_core: the owner delivers forwarded messages until every marker is in, then stops the shard",
          "[unit][sharding][region]") {
  fixture f;
  f.host("5");
  const auto alice = f.core.route("alice", "5", false);
  (void)f.effects();
  f.core.receive(model::begin_handoff{coord, "5", self, 9}, 1s);
  auto es = f.effects();
  CHECK(to_coordinator<model::begin_handoff_ack>(es).size() == 1);
  CHECK(of<model::send_marker>(es).empty());  // no marker to itself
  // Local senders wait; what other regions forwarded before their marker still goes in.
  const auto [local, lt] = f.send("alice", "5", false);
  CHECK(local.kind == route_kind::buffer);
  CHECK(f.core.route("alice", "5", true).kind == route_kind::deliver);
  f.core.receive(model::handoff{coord, "5", 9, {other, self, third}}, 1s);
  CHECK(of<model::stop_entity>(f.effects()).empty());  // two markers missing
  f.core.receive(model::handoff_marker{other, "5", coord, 8}, 1s);  // an earlier hand-off's: not counted
  f.core.receive(model::handoff_marker{other, "5", coord, 9}, 1s);
  CHECK(of<model::stop_entity>(f.effects()).empty());
  CHECK(f.core.route("alice", "5", true).kind == route_kind::deliver);
  f.core.receive(model::handoff_marker{third, "5", coord, 9}, 1s);
  es = f.effects();
  const auto stops = of<model::stop_entity>(es);
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].slot == alice.slot);
  CHECK(stops[0].cause == model::stop_cause::handoff);
  CHECK(to_coordinator<model::shard_stopped>(es).empty());
  f.core.entity_terminated(alice.slot, 2s);
  es = f.effects();
  CHECK(to_coordinator<model::shard_stopped>(es).size() == 1);
  CHECK(to_coordinator<model::get_shard_home>(es).size() == 1);  // the local message waits for the new home
  CHECK(f.core.local_shard_count() == 0);
  CHECK(f.core.stats().handoffs == 1);
  f.core.receive(model::shard_home{coord, "5", other}, 3s);
  const auto fw = of<model::forward_buffered>(f.effects());
  REQUIRE(fw.size() == 1);
  CHECK(fw[0].token == lt);
}

TEST_CASE("region_core: markers may arrive before the hand-off order", "[unit][sharding][region]") {
  fixture f;
  f.host("5");
  f.core.route("a", "5", false);
  f.core.receive(model::begin_handoff{coord, "5", self, 3}, 0s);
  f.core.receive(model::handoff_marker{other, "5", coord, 3}, 0s);
  (void)f.effects();
  f.core.receive(model::handoff{coord, "5", 3, {other, self}}, 0s);
  CHECK(of<model::stop_entity>(f.effects()).size() == 1);
}

TEST_CASE("region_core: an entity that stopped with messages waiting gets them before the hand-off stop",
          "[unit][sharding][region]") {
  fixture f;
  f.host("5");
  const auto d = f.core.route("a", "5", false);
  REQUIRE(f.core.passivate(d.slot, 0s));
  const auto [w, t] = f.send("a", "5", true);  // from a region, before its marker
  CHECK(w.kind == route_kind::buffer);
  f.core.receive(model::handoff{coord, "5", 1, {}}, 0s);  // stopping at once
  (void)f.effects();
  f.core.entity_terminated(d.slot, 1s);
  const auto es = f.effects();
  REQUIRE(es.size() >= 3);
  CHECK(std::holds_alternative<model::start_entity>(es[0]));
  CHECK(std::get<model::deliver_buffered>(es[1]).token == t);
  CHECK(std::get<model::stop_entity>(es[2]).cause == model::stop_cause::handoff);
  f.core.entity_terminated(d.slot, 2s);
  CHECK(to_coordinator<model::shard_stopped>(f.effects()).size() == 1);
}

TEST_CASE("region_core: another region marks the end of what it forwarded and buffers", "[unit][sharding][region]") {
  fixture f;
  f.core.receive(model::shard_home{coord, "5", other}, 0s);
  CHECK(f.core.route("a", "5", false).kind == route_kind::forward);
  f.core.receive(model::begin_handoff{coord, "5", other, 4}, 0s);
  auto es = f.effects();
  const auto markers = of<model::send_marker>(es);
  REQUIRE(markers.size() == 1);
  CHECK(f.core.region_at(markers[0].region) == other);
  CHECK(markers[0].marker == model::handoff_marker{self, "5", coord, 4, other});
  CHECK(to_coordinator<model::begin_handoff_ack>(es).size() == 1);
  // The marker comes before the ack, so it is behind everything forwarded before.
  CHECK(std::holds_alternative<model::send_marker>(es[0]));
  const auto [d, t] = f.send("a", "5");
  CHECK(d.kind == route_kind::buffer);
  CHECK(to_coordinator<model::get_shard_home>(f.effects()).size() == 1);
}

TEST_CASE("region_core: missing markers and entities that do not stop are given up after the timeout",
          "[unit][sharding][region]") {
  fixture f;
  f.host("5");
  const auto d = f.core.route("a", "5", false);
  f.core.receive(model::handoff{coord, "5", 1, {other}}, 0s);
  (void)f.effects();
  f.core.on_tick(model::region_tick::retry, 5s);
  CHECK(f.core.stats().marker_timeouts == 1);
  CHECK(of<model::stop_entity>(f.effects()).size() == 1);
  f.core.on_tick(model::region_tick::retry, 10s);
  const auto forced = of<model::stop_entity>(f.effects());
  REQUIRE(forced.size() == 1);
  CHECK(forced[0].force);
  CHECK(forced[0].slot == d.slot);
  f.core.entity_terminated(d.slot, 11s);
  CHECK(to_coordinator<model::shard_stopped>(f.effects()).size() == 1);
}

TEST_CASE("region_core: a hand-off not yet stopping is abandoned when the coordinator changes",
          "[unit][sharding][region]") {
  fixture f;
  f.host("5");
  f.core.route("a", "5", false);
  f.core.receive(model::begin_handoff{coord, "5", self, 1}, 0s);
  const auto [d, t] = f.send("a", "5");
  CHECK(d.kind == route_kind::buffer);
  (void)f.effects();
  const model::coordinator_id next{other, 43};
  f.core.set_coordinator(other, 1s);
  auto es = f.effects();
  const auto regs = to_coordinator<model::register_region>(es);
  REQUIRE(regs.size() == 1);
  CHECK(regs[0].hosted == std::vector<model::shard_id>{"5"});
  f.core.receive(model::register_ack{next}, 1s);
  es = f.effects();
  const auto dl = of<model::deliver_buffered>(es);
  REQUIRE(dl.size() == 1);
  CHECK(dl[0].token == t);
  CHECK(f.core.route("a", "5", false).kind == route_kind::deliver);
}

TEST_CASE("region_core: while fenced nothing runs here, afterwards the waiting messages go in",
          "[unit][sharding][region]") {
  fixture f;
  f.host("5");
  const auto d = f.core.route("a", "5", false);
  (void)f.effects();
  f.core.set_fenced(true, 1s);
  const auto stops = of<model::stop_entity>(f.effects());
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].cause == model::stop_cause::fence);
  const auto [w, t] = f.send("a", "5");
  CHECK(w.kind == route_kind::buffer);
  CHECK(f.core.route("b", "5", false).kind == route_kind::buffer);
  f.core.entity_terminated(d.slot, 2s);
  CHECK(of<model::start_entity>(f.effects()).empty());
  f.core.set_fenced(false, 3s);
  const auto es = f.effects();
  CHECK(of<model::start_entity>(es).size() == 1);
  const auto dl = of<model::deliver_buffered>(es);
  REQUIRE(dl.size() == 1);
  CHECK(dl[0].token == t);
}

TEST_CASE("region_core: remembered entities start with their shard, and new ones are recorded before they run",
          "[unit][sharding][region]") {
  auto s = settings();
  s.remember_entities = true;
  fixture f(s);
  f.host("5");
  auto es = f.effects();
  REQUIRE(of<model::load_remembered>(es).size() == 1);
  CHECK(to_coordinator<model::shard_started>(es).empty());
  const auto [w, t] = f.send("carol", "5");
  CHECK(w.kind == route_kind::buffer);
  f.core.remembered_loaded("5", {"alice", "bob"}, 1s);
  es = f.effects();
  CHECK(of<model::start_entity>(es).size() == 2);
  CHECK(to_coordinator<model::shard_started>(es).size() == 1);
  const auto writes = of<model::write_remembered>(es);
  REQUIRE(writes.size() == 1);
  CHECK(writes[0].started == std::vector<model::entity_id>{"carol"});
  CHECK(of<model::deliver_buffered>(es).empty());  // carol waits for the store
  f.core.remembered_written(writes[0].request, 2s);
  es = f.effects();
  CHECK(of<model::start_entity>(es).size() == 1);
  REQUIRE(of<model::deliver_buffered>(es).size() == 1);
  // Passivation forgets it in the store.
  const auto carol = of<model::start_entity>(es)[0].slot;
  REQUIRE(f.core.passivate(carol, 3s));
  f.core.entity_terminated(carol, 3s);
  const auto forget = of<model::write_remembered>(f.effects());
  REQUIRE(forget.size() == 1);
  CHECK(forget[0].stopped == std::vector<model::entity_id>{"carol"});
}

TEST_CASE("region_core: a remembered entity that stopped by itself comes back after the backoff",
          "[unit][sharding][region]") {
  auto s = settings();
  s.remember_entities = true;
  s.entity_restart_backoff = 10s;
  fixture f(s);
  f.host("5");
  f.core.remembered_loaded("5", {"alice"}, 0s);
  const auto slot = of<model::start_entity>(f.effects())[0].slot;
  f.core.entity_terminated(slot, 1s);
  CHECK(of<model::start_entity>(f.effects()).empty());
  f.core.on_tick(model::region_tick::retry, 10s);
  CHECK(of<model::start_entity>(f.effects()).empty());
  f.core.on_tick(model::region_tick::retry, 11s);
  CHECK(of<model::start_entity>(f.effects()).size() == 1);
}

TEST_CASE("region_core: a graceful shutdown ends once every local shard is handed off", "[unit][sharding][region]") {
  fixture f;
  f.host("1");
  const auto d = f.core.route("a", "1", false);
  (void)f.effects();
  f.core.begin_shutdown(0s);
  auto es = f.effects();
  CHECK(to_coordinator<model::graceful_shutdown_request>(es).size() == 1);
  CHECK(of<model::shutdown_complete>(es).empty());
  f.core.receive(model::handoff{coord, "1", 1, {}}, 1s);
  f.core.entity_terminated(d.slot, 1s);
  es = f.effects();
  CHECK(to_coordinator<model::shard_stopped>(es).size() == 1);
  CHECK(of<model::shutdown_complete>(es).empty());  // until the coordinator says it holds nothing
  f.core.receive(model::graceful_shutdown_ack{coord}, 2s);
  es = f.effects();
  CHECK(to_coordinator<model::region_stopped>(es).size() == 1);
  CHECK(of<model::shutdown_complete>(es).size() == 1);
  CHECK(f.core.shutdown_done());
  // A late order to host is refused now.
  f.host("2");
  CHECK(f.core.local_shard_count() == 0);
}

TEST_CASE("region_core: the named owner of a shard it never hosted hosts what waits for it before handing it off",
          "[unit][sharding][region]") {
  fixture f;
  // Other regions forwarded messages here before host_shard arrived, and a hand-off follows.
  const auto [d, t] = f.send("a", "5", true);
  CHECK(d.kind == route_kind::buffer);
  (void)f.effects();
  f.core.receive(model::handoff{coord, "5", 1, {other}}, 0s);
  auto es = f.effects();
  CHECK(to_coordinator<model::shard_stopped>(es).empty());
  const auto dl = of<model::deliver_buffered>(es);
  REQUIRE(dl.size() == 1);
  CHECK(dl[0].token == t);
  f.core.receive(model::handoff_marker{other, "5", coord, 1}, 0s);
  const auto stops = of<model::stop_entity>(f.effects());
  REQUIRE(stops.size() == 1);
  f.core.entity_terminated(stops[0].slot, 1s);
  CHECK(to_coordinator<model::shard_stopped>(f.effects()).size() == 1);
  // With nothing waiting, a hand-off of a shard not hosted is answered at once.
  f.core.receive(model::handoff{coord, "6", 2, {other}}, 2s);
  CHECK(to_coordinator<model::shard_stopped>(f.effects()).size() == 1);
}

TEST_CASE("region_core: orders for an earlier incarnation of this node are refused", "[unit][sharding][region]") {
  fixture f;
  model::host_shard m{coord, "1"};
  m.to = node(1, 99);  // same address, another uid
  f.core.receive(m, 0s);
  CHECK(f.core.local_shard_count() == 0);
  m.to = self;
  f.core.receive(m, 0s);
  CHECK(f.core.local_shard_count() == 1);
  model::handoff_marker marker{other, "1", coord, 1, node(1, 99)};
  const auto before = f.core.stats().rejected;
  f.core.receive(marker, 0s);
  CHECK(f.core.stats().rejected == before + 1);
}

TEST_CASE("region_core: a proxy routes but never hosts", "[unit][sharding][region]") {
  auto s = settings();
  s.proxy = true;
  fixture f(s);
  f.host("1");
  CHECK(f.core.local_shard_count() == 0);
  f.core.receive(model::shard_home{coord, "1", other}, 0s);
  CHECK(f.core.route("a", "1", false).kind == route_kind::forward);
}

TEST_CASE("region_core: a region leaving the region set takes its cached homes with it", "[unit][sharding][region]") {
  fixture f;
  f.core.receive(model::shard_home{coord, "1", other}, 0s);
  f.core.receive(model::region_set{coord, 3, {self, other}}, 0s);
  CHECK(f.core.cached_home("1") == other);
  f.core.receive(model::region_set{coord, 4, {self}}, 0s);
  CHECK_FALSE(f.core.cached_home("1"));
  f.core.receive(model::region_set{coord, 2, {self, other, third}}, 0s);  // older: ignored
  (void)f.effects();
  f.send("a", "1");
  CHECK(to_coordinator<model::get_shard_home>(f.effects()).size() == 1);
}
