// coordinator_core on its own: registration, allocation, hand-off, removal and recovery,
// driven message by message with a fake clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <variant>

#include <troupe/sharding/model/coordinator_core.hpp>

using namespace std::chrono_literals;
namespace model = troupe::sharding::model;
using model::coordinator_core;
using model::coordinator_tick;
using model::region_id;

namespace {

region_id node(std::uint16_t port, std::uint64_t uid = 1) { return {{"sys", "127.0.0.1", port}, uid}; }

const region_id a = node(1), b = node(2), c = node(3), p = node(9);

model::member_view view(std::set<region_id> up, std::set<region_id> unreachable = {}, std::set<region_id> extra = {}) {
  model::member_view v;
  v.up = up;
  v.members = up;
  v.members.insert(extra.begin(), extra.end());
  v.unreachable = std::move(unreachable);
  return v;
}

/// Messages of type T in `out` sent to `to` (any recipient when empty).
template <class T>
std::vector<T> sent(const std::vector<model::coordinator_output>& out, std::optional<region_id> to = std::nullopt) {
  std::vector<T> r;
  for (const auto& o : out)
    if ((!to || o.to == *to) && std::holds_alternative<T>(o.message)) r.push_back(std::get<T>(o.message));
  return r;
}

model::coordinator_settings settings() {
  model::coordinator_settings s;
  s.rebalance_interval = 10s;
  s.handoff_timeout = 5s;
  s.shard_start_timeout = 3s;
  s.recovery_timeout = 2s;
  return s;
}

/// A coordinator on `a` with regions a, b (and c when `three`) registered and recovered.
struct fixture {
  coordinator_core core{settings(), {a, 7}, model::least_shard(), 0s};
  std::vector<model::coordinator_output> out;
  std::chrono::nanoseconds now{0};

  explicit fixture(bool three = false) {
    std::set<region_id> up{a, b};
    if (three) up.insert(c);
    core.on_view(view(up), now);
    for (const auto& r : up) core.receive(model::register_region{r}, now);
    out = core.take_outbox();
  }
  void receive(const model::coordinator_input& m) {
    core.receive(m, now);
    drain();
  }
  void drain() {
    auto more = core.take_outbox();
    out.insert(out.end(), more.begin(), more.end());
  }
  void clear() { out.clear(); }
  /// Allocates `shard` as `requester` asks; returns its home.
  region_id allocate(const model::shard_id& shard, const region_id& requester) {
    receive(model::get_shard_home{requester, shard});
    auto hosts = sent<model::host_shard>(out);
    REQUIRE_FALSE(hosts.empty());
    const auto home = core.table().home_of(shard);
    REQUIRE(home);
    receive(model::shard_started{*home, shard});
    return *home;
  }
};

}  // namespace

TEST_CASE("coordinator_core: a fresh coordinator waits for every up member to register, then allocates",
          "[unit][sharding][coordinator]") {
  coordinator_core core{settings(), {a, 7}, model::least_shard(), 0s};
  core.on_view(view({a, b}), 0s);
  core.receive(model::register_region{a}, 0s);
  CHECK(core.recovering());
  core.receive(model::get_shard_home{a, "1"}, 0s);
  auto out = core.take_outbox();
  CHECK(sent<model::register_ack>(out, a).size() == 1);
  CHECK(sent<model::host_shard>(out).empty());  // waits: b has not registered
  core.receive(model::register_region{b}, 1s);
  CHECK_FALSE(core.recovering());
  out = core.take_outbox();
  const auto hosts = sent<model::host_shard>(out);
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0].shard == "1");
  CHECK(hosts[0].coordinator == model::coordinator_id{a, 7});
  const auto home = core.table().home_of("1");
  REQUIRE(home);
  // The requester learns the home unless it is the home (host_shard tells it).
  if (*home != a) CHECK(sent<model::shard_home>(out, a).size() == 1);
  // Everyone learns the region set once recovered.
  const auto sets = sent<model::region_set>(out);
  REQUIRE(sets.size() == 2);
  CHECK(sets[0].regions == std::vector<region_id>{a, b});
}

TEST_CASE("coordinator_core: recovery ends after the timeout when an up member never registers",
          "[unit][sharding][coordinator]") {
  coordinator_core core{settings(), {a, 7}, model::least_shard(), 0s};
  core.on_view(view({a, b, c}), 0s);  // c runs no region of this type
  core.receive(model::register_region{a}, 0s);
  core.receive(model::register_region{b}, 0s);
  core.receive(model::get_shard_home{b, "1"}, 0s);
  core.on_tick(coordinator_tick::timers, 1s);
  CHECK(core.recovering());
  core.on_tick(coordinator_tick::timers, 2s);
  CHECK_FALSE(core.recovering());
  CHECK(core.table().home_of("1"));
}

TEST_CASE("coordinator_core: while recovering it asks the regions it waits for to register, each tick",
          "[unit][sharding][coordinator]") {
  // Its node was fenced and its singleton stopped; it starts again on the same node. Region
  // a (on that node) knows every home it needs and would never ask: it must be invited.
  coordinator_core core{settings(), {a, 8}, model::least_shard(), 10s};
  core.on_view(view({a, b}), 10s);
  auto out = core.take_outbox();
  CHECK(sent<model::please_register>(out, a).size() == 1);
  CHECK(sent<model::please_register>(out, b).size() == 1);
  model::register_region rb{b};
  rb.hosted = {"2"};
  rb.known_homes = {{"1", a}};
  rb.regions_version = 4;
  rb.known_regions = {a, b};
  core.receive(rb, 10s);
  core.on_tick(coordinator_tick::timers, 13s);  // past the recovery timeout: a is still expected
  CHECK(core.recovering());
  out = core.take_outbox();
  CHECK(sent<model::please_register>(out, a).size() == 1);
  CHECK(sent<model::please_register>(out, b).empty());
  // Shard 1 stays reserved for a, which claims it; nobody is invited once recovered.
  core.receive(model::get_shard_home{b, "1"}, 13s);
  CHECK(sent<model::host_shard>(core.take_outbox()).empty());
  model::register_region ra{a};
  ra.hosted = {"1"};
  core.receive(ra, 14s);
  CHECK_FALSE(core.recovering());
  CHECK(core.table().home_of("1") == a);
  CHECK(core.table().home_of("2") == b);
  out = core.take_outbox();
  CHECK(sent<model::shard_home>(out, b).size() == 1);
  core.on_tick(coordinator_tick::timers, 15s);
  CHECK(sent<model::please_register>(core.take_outbox()).empty());
}

TEST_CASE("coordinator_core: a request from an unregistered region is answered with please_register",
          "[unit][sharding][coordinator]") {
  fixture f;
  f.clear();
  f.receive(model::get_shard_home{c, "1"});
  CHECK(sent<model::please_register>(f.out, c).size() == 1);
  CHECK(f.core.stats().rejected == 1);
}

TEST_CASE("coordinator_core: least-shard spreads new shards and answers known homes at once",
          "[unit][sharding][coordinator]") {
  fixture f;
  std::map<region_id, int> count;
  for (int i = 0; i < 10; ++i) ++count[f.allocate(std::to_string(i), a)];
  CHECK(count[a] == 5);
  CHECK(count[b] == 5);
  f.clear();
  f.receive(model::get_shard_home{b, "3"});
  const auto homes = sent<model::shard_home>(f.out, b);
  REQUIRE(homes.size() == 1);
  CHECK(homes[0].region == *f.core.table().home_of("3"));
  CHECK(sent<model::host_shard>(f.out).empty());
}

TEST_CASE("coordinator_core: host_shard goes again until shard_started", "[unit][sharding][coordinator]") {
  fixture f;
  f.receive(model::get_shard_home{a, "1"});
  const auto home = *f.core.table().home_of("1");
  f.clear();
  f.core.on_tick(coordinator_tick::timers, 2s);
  f.drain();
  CHECK(sent<model::host_shard>(f.out).empty());
  f.core.on_tick(coordinator_tick::timers, 3s);
  f.drain();
  CHECK(sent<model::host_shard>(f.out, home).size() == 1);
  f.now = 4s;
  f.receive(model::shard_started{home, "1"});
  f.clear();
  f.core.on_tick(coordinator_tick::timers, 10s);
  f.drain();
  CHECK(sent<model::host_shard>(f.out).empty());
}

TEST_CASE("coordinator_core: a graceful shutdown hands each shard off through every region",
          "[unit][sharding][coordinator]") {
  fixture f(true);
  f.core.on_view(view({a, b, c}, {}, {p}), 0s);
  f.core.receive(model::register_region{p, true}, 0s);  // a proxy takes part too
  f.drain();
  std::vector<model::shard_id> on_b;
  for (int i = 0; i < 6; ++i) {
    const auto s = std::to_string(i);
    if (f.allocate(s, a) == b) on_b.push_back(s);
  }
  REQUIRE(on_b.size() == 2);
  f.clear();
  f.receive(model::graceful_shutdown_request{b});
  // 1. Every region and the proxy is told to buffer, naming the owner.
  const auto begins = sent<model::begin_handoff>(f.out);
  CHECK(begins.size() == 2 * 4);
  for (const auto& m : begins) CHECK(m.owner == b);
  CHECK(f.core.handoffs_in_progress() == std::set<model::shard_id>(on_b.begin(), on_b.end()));
  // 2. The owner gets `handoff` only when all four acknowledged.
  const auto s = on_b[0];
  f.clear();
  for (const auto& r : {a, b, c}) f.receive(model::begin_handoff_ack{r, s});
  CHECK(sent<model::handoff>(f.out).empty());
  f.receive(model::begin_handoff_ack{p, s});
  auto hs = sent<model::handoff>(f.out, b);
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].shard == s);
  CHECK(hs[0].flush_from == std::vector<region_id>{a, b, c, p});
  // 3. Someone asks meanwhile; once stopped the shard is placed anew (not on b) and answered.
  f.receive(model::get_shard_home{a, s});
  CHECK(sent<model::shard_home>(f.out).empty());
  f.clear();
  f.receive(model::shard_stopped{b, s});
  const auto home = f.core.table().home_of(s);
  REQUIRE(home);
  CHECK(*home == a);  // a and c hold two each, the tie goes to the lowest; b is leaving
  CHECK(sent<model::host_shard>(f.out, a).size() == 1);
  CHECK(sent<model::shard_home>(f.out, a).empty());  // a is the home: host_shard tells it
  CHECK(f.core.stats().handoffs_completed == 1);
  CHECK(sent<model::graceful_shutdown_ack>(f.out, b).empty());  // b still holds the other shard
  // 4. Once its last shard is handed off, b may stop.
  const auto last = on_b[1];
  for (const auto& r : {a, b, c, p}) f.receive(model::begin_handoff_ack{r, last});
  f.clear();
  f.receive(model::shard_stopped{b, last});
  CHECK(sent<model::graceful_shutdown_ack>(f.out, b).size() == 1);
}

TEST_CASE("coordinator_core: a missing ack holds a hand-off only until the timeout",
          "[unit][sharding][coordinator]") {
  fixture f;
  f.allocate("1", a);
  const auto owner = *f.core.table().home_of("1");
  f.receive(model::graceful_shutdown_request{owner});
  f.receive(model::begin_handoff_ack{owner, "1"});
  f.clear();
  f.core.on_tick(coordinator_tick::timers, 4s);
  f.drain();
  CHECK(sent<model::handoff>(f.out).empty());
  f.core.on_tick(coordinator_tick::timers, 5s);
  f.drain();
  const auto hs = sent<model::handoff>(f.out, owner);
  REQUIRE(hs.size() == 1);
  CHECK(hs[0].flush_from == std::vector<region_id>{owner});
  CHECK(f.core.stats().ack_timeouts == 1);
}

TEST_CASE("coordinator_core: an unreachable region is not waited for, and blocks rebalancing",
          "[unit][sharding][coordinator]") {
  fixture f(true);
  for (int i = 0; i < 9; ++i) f.allocate(std::to_string(i), a);
  f.core.on_view(view({a, b, c}, {c}), 1s);
  f.drain();
  // Rebalance waits while c cannot be heard.
  f.clear();
  f.core.on_tick(coordinator_tick::rebalance, 10s);
  f.drain();
  CHECK(sent<model::begin_handoff>(f.out).empty());
  // A graceful shutdown goes on without c's ack.
  const auto s = *f.core.table().regions().at(b).begin();
  f.receive(model::graceful_shutdown_request{b});
  f.receive(model::begin_handoff_ack{a, s});
  f.clear();
  f.receive(model::begin_handoff_ack{b, s});
  const auto hs = sent<model::handoff>(f.out, b);
  REQUIRE_FALSE(hs.empty());
  CHECK(hs[0].flush_from == std::vector<region_id>{a, b});
}

TEST_CASE("coordinator_core: a removed region's shards are free after the margin, placed at once with remember",
          "[unit][sharding][coordinator]") {
  auto s = settings();
  s.removal_margin = 3s;
  s.remember_entities = true;
  coordinator_core core{s, {a, 7}, model::least_shard(), 0s};
  core.on_view(view({a, b}), 0s);
  core.receive(model::register_region{a}, 0s);
  core.receive(model::register_region{b}, 0s);
  core.receive(model::get_shard_home{a, "1"}, 0s);
  core.receive(model::get_shard_home{a, "2"}, 0s);
  const auto on_b = core.table().regions().at(b);
  REQUIRE(on_b.size() == 1);
  (void)core.take_outbox();
  core.on_view(view({a}), 10s);  // b removed
  CHECK(core.table().is_region(b));
  core.on_tick(coordinator_tick::timers, 12s);
  CHECK(core.table().is_region(b));
  core.on_tick(coordinator_tick::timers, 13s);
  CHECK_FALSE(core.table().is_region(b));
  CHECK(core.table().home_of(*on_b.begin()) == a);
  const auto out = core.take_outbox();
  const auto hosts = sent<model::host_shard>(out, a);
  CHECK(std::count_if(hosts.begin(), hosts.end(), [&](const auto& h) { return h.shard == *on_b.begin(); }) == 1);
  const auto sets = sent<model::region_set>(out, a);
  REQUIRE_FALSE(sets.empty());
  CHECK(sets.back().regions == std::vector<region_id>{a});
}

TEST_CASE("coordinator_core: recovery keeps claims, stops a second claim, and reserves cached homes",
          "[unit][sharding][coordinator]") {
  coordinator_core core{settings(), {b, 8}, model::least_shard(), 0s};
  core.on_view(view({a, b, c}), 0s);
  model::register_region from_b{b};
  from_b.hosted = {"1", "2"};
  from_b.known_homes = {{"3", c}};
  from_b.regions_version = 5;
  from_b.known_regions = {a, b, c};
  core.receive(from_b, 0s);
  CHECK(core.table().home_of("1") == b);
  // Shard 3 is reserved for c: a request for it waits although a has few shards.
  core.receive(model::register_region{a}, 0s);
  core.receive(model::get_shard_home{a, "3"}, 3s);
  core.on_tick(coordinator_tick::timers, 3s);
  CHECK(core.recovering());  // c is in the region set of version 5 and still a member
  CHECK_FALSE(core.table().home_of("3"));
  (void)core.take_outbox();
  // c registers: it hosts 3 and (wrongly) 1 as well.
  model::register_region from_c{c};
  from_c.hosted = {"1", "3"};
  core.receive(from_c, 4s);
  CHECK_FALSE(core.recovering());
  CHECK(core.table().home_of("3") == c);
  CHECK(core.table().home_of("1") == b);
  const auto out = core.take_outbox();
  const auto stops = sent<model::handoff>(out, c);
  REQUIRE(stops.size() == 1);
  CHECK(stops[0].shard == "1");
  CHECK(stops[0].flush_from.empty());
  CHECK(core.stats().conflicts == 1);
  const auto homes = sent<model::shard_home>(out, a);
  REQUIRE(homes.size() == 1);
  CHECK(homes[0].region == c);
  // The region set continues from the highest version seen.
  const auto sets = sent<model::region_set>(out, a);
  REQUIRE_FALSE(sets.empty());
  CHECK(sets.back().version > 5);
}

TEST_CASE("coordinator_core: a reservation for a node that left is dropped", "[unit][sharding][coordinator]") {
  coordinator_core core{settings(), {b, 8}, model::least_shard(), 0s};
  core.on_view(view({a, b, c}), 0s);
  model::register_region from_b{b};
  from_b.known_homes = {{"3", c}};
  core.receive(from_b, 0s);
  core.receive(model::register_region{a}, 0s);
  core.receive(model::get_shard_home{a, "3"}, 0s);
  core.on_tick(coordinator_tick::timers, 2s);
  CHECK_FALSE(core.table().home_of("3"));
  core.on_view(view({a, b}), 3s);
  CHECK(core.table().home_of("3"));
}

TEST_CASE("coordinator_core: rebalance moves shards to a new region within the limit",
          "[unit][sharding][coordinator]") {
  fixture f;
  for (int i = 0; i < 10; ++i) f.allocate(std::to_string(i), a);
  f.core.on_view(view({a, b, c}), 1s);
  f.receive(model::register_region{c});
  f.clear();
  f.core.on_tick(coordinator_tick::rebalance, 10s);
  f.drain();
  const auto moving = f.core.handoffs_in_progress();
  // a and b each hold one above ceil(10/3) = 4, but a round moves at most
  // min(20, 0.1 x 10) = 1.
  CHECK(moving.size() == 1);
  CHECK(f.core.stats().rebalances_started == 1);
  // One round at a time.
  f.core.on_tick(coordinator_tick::rebalance, 20s);
  CHECK(f.core.handoffs_in_progress() == moving);
}

TEST_CASE("coordinator_core: the table keeps its invariant under random input", "[unit][sharding][coordinator]") {
  const auto seed = GENERATE(take(20, random(1, 1000000)));
  std::mt19937_64 rng(static_cast<std::uint64_t>(seed));
  const std::vector<region_id> all{a, b, c, p};
  coordinator_core core{settings(), {a, 7}, model::least_shard(), 0s};
  std::chrono::nanoseconds now{0};
  core.on_view(view({a, b, c}), now);
  for (int i = 0; i < 2000; ++i) {
    now += 100ms;
    const auto r = all[rng() % all.size()];
    const auto s = std::to_string(rng() % 20);
    switch (rng() % 9) {
      case 0: core.receive(model::register_region{r, r == p}, now); break;
      case 1:
      case 2: core.receive(model::get_shard_home{r, s}, now); break;
      case 3: core.receive(model::shard_started{r, s}, now); break;
      case 4: core.receive(model::begin_handoff_ack{r, s}, now); break;
      case 5: core.receive(model::shard_stopped{r, s}, now); break;
      case 6: core.receive(model::graceful_shutdown_request{r}, now); break;
      case 7: core.on_tick(rng() % 2 ? coordinator_tick::rebalance : coordinator_tick::timers, now); break;
      case 8: {
        std::set<region_id> up;
        for (const auto& x : {a, b, c})
          if (rng() % 4) up.insert(x);
        core.on_view(view(up), now);
        break;
      }
    }
    (void)core.take_outbox();
    INFO("seed " << seed << " step " << i);
    REQUIRE_FALSE(core.table().invariant_violation());
  }
}
