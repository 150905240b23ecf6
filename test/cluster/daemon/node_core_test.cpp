// node_core without actors or sockets: a few cores on an in-memory network with a fake
// clock, so joining, failure detection, downing and leaving replay exactly.
#include <catch2/catch.hpp>

#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <troupe/cluster/node_core.hpp>

using namespace std::chrono_literals;
using troupe::cluster::core_phase;
using troupe::cluster::core_settings;
using troupe::cluster::node_core;
using troupe::cluster::outgoing;
using troupe::cluster::tick;
namespace model = troupe::cluster::model;
namespace protocol = troupe::cluster::protocol;
using std::chrono::nanoseconds;

namespace {

model::address addr(int i) { return {"sys", "127.0.0.1", static_cast<std::uint16_t>(2550 + i)}; }

/// Cores on a network that delivers every message 1 ms later, unless a side is crashed
/// or the link is cut; each core's timers fire at the daemon's intervals.
struct world {
  struct in_flight {
    nanoseconds at;
    std::size_t from, to;
    outgoing out;
  };
  std::vector<node_core> cores;
  std::vector<bool> crashed;
  std::set<std::pair<std::size_t, std::size_t>> cut;  // (from, to) pairs that drop
  std::deque<in_flight> queue;
  nanoseconds now{1s};
  std::vector<std::vector<troupe::cluster::cluster_event>> events;
  bool downing_when_due = false;  // as the daemon: a downing tick at `downing_due()` too

  explicit world(std::size_t n, core_settings s = fast()) {
    for (std::size_t i = 0; i < n; ++i) {
      cores.emplace_back(s, model::unique_address{addr(static_cast<int>(i)), 1000 + i}, 7 + i);
      crashed.push_back(false);
      events.emplace_back();
    }
  }

  static core_settings fast() {
    core_settings s;
    s.downing = model::sbr_settings{};
    s.downing->stable_after = 2s;
    return s;
  }

  std::optional<std::size_t> index_of(const model::address& a) const {
    for (std::size_t i = 0; i < cores.size(); ++i)
      if (cores[i].self().address == a) return i;
    return std::nullopt;
  }

  void drain(std::size_t i) {
    for (auto& o : cores[i].take_outbox()) {
      const auto to = index_of(o.to);
      if (!to || crashed[i] || cut.contains({i, *to})) continue;
      queue.push_back({now + 1ms, i, *to, std::move(o)});
    }
    for (auto& e : cores[i].take_events()) events[i].push_back(std::move(e));
  }

  void deliver(const in_flight& f) {
    if (crashed[f.to]) return;
    if (f.out.uid != 0 && f.out.uid != cores[f.to].self().uid) return;
    auto& core = cores[f.to];
    if (std::holds_alternative<protocol::init_join>(f.out.message)) {
      auto answer = core.answer_init_join();
      std::visit([&](auto&& a) {
        if (!cut.contains({f.to, f.from}))
          queue.push_back({now + 1ms, f.to, f.from, outgoing{cores[f.from].self().address, 0, a}});
      }, answer);
      return;
    }
    core.receive(f.out.message, now);
    drain(f.to);
  }

  /// Runs for `d` in 10 ms steps: messages first, then each core's due timers.
  void run_for(nanoseconds d) {
    const nanoseconds end = now + d;
    while (now < end) {
      now += 10ms;
      while (!queue.empty() && queue.front().at <= now) {
        auto f = std::move(queue.front());
        queue.pop_front();
        deliver(f);
      }
      const bool second = now.count() % 1'000'000'000 == 0;
      for (std::size_t i = 0; i < cores.size(); ++i) {
        if (crashed[i]) continue;
        auto& c = cores[i];
        if (second) {
          for (tick t : {tick::join, tick::gossip, tick::heartbeat, tick::reaper, tick::leader, tick::downing})
            c.on_tick(t, now);
        } else if (now.count() % 333'000'000 < 10'000'000 && c.speedup_needed()) {
          c.on_tick(tick::speedup, now);
        }
        if (const auto due = c.downing_due(); downing_when_due && due && now >= *due) c.on_tick(tick::downing, now);
        drain(i);
      }
    }
  }

  bool all_up(std::initializer_list<std::size_t> nodes, std::size_t members) const {
    for (auto i : nodes) {
      const auto& g = cores[i].latest_gossip();
      if (g.members().size() != members) return false;
      for (const auto& m : g.members())
        if (m.status() != model::member_status::up) return false;
      if (!cores[i].state().convergence()) return false;
    }
    return true;
  }

  /// Runs until `cond` holds, at most `limit` simulated time; returns the time it took.
  std::optional<nanoseconds> run_until(const std::function<bool()>& cond, nanoseconds limit) {
    const nanoseconds start = now;
    while (now - start < limit) {
      if (cond()) return now - start;
      run_for(100ms);
    }
    return cond() ? std::optional<nanoseconds>{now - start} : std::nullopt;
  }

  void start_all() {
    const std::vector<model::address> seeds{addr(0), addr(1)};
    for (std::size_t i = 0; i < cores.size(); ++i) {
      cores[i].join_seed_nodes(seeds, now);
      drain(i);
    }
  }
};

}  // namespace

TEST_CASE("node_core: five cores join through two seeds and agree on one leader", "[unit][cluster]") {
  world w(5);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2, 3, 4}, 5); }, 30s));
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(w.cores[i].phase() == core_phase::member);
    CHECK(w.cores[i].state().leader() == w.cores[0].self());  // the lowest address
  }
  // Every node saw a member_up for each of the five.
  for (std::size_t i = 0; i < 5; ++i) {
    std::set<model::unique_address> up;
    for (const auto& e : w.events[i])
      if (const auto* u = std::get_if<troupe::cluster::member_up>(&e)) up.insert(u->member.unique_address());
    CHECK(up.size() == 5);
  }
}

TEST_CASE("node_core: the first seed forms the cluster at once when every other seed nacks",
          "[unit][cluster]") {
  world w(2);
  w.start_all();
  // Seed 1 answers nack (not a member); seed 0 joins itself without waiting 5 s.
  w.run_for(200ms);
  CHECK(w.cores[0].phase() == core_phase::member);
  REQUIRE(w.run_until([&] { return w.all_up({0, 1}, 2); }, 10s));
}

TEST_CASE("node_core: a crashed member is detected, downed by keep-majority and removed",
          "[unit][cluster]") {
  world w(5);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2, 3, 4}, 5); }, 30s));
  w.crashed[4] = true;
  const auto victim = w.cores[4].self();
  const auto removed = w.run_until([&] {
    for (std::size_t i = 0; i < 4; ++i)
      if (w.cores[i].latest_gossip().has_member(victim)) return false;
    return true;
  }, 30s);
  REQUIRE(removed);
  // Detection (about 4 s with a 3 s acceptable pause), stable-after 2 s, then convergence.
  CHECK(*removed >= 5s);
  CHECK(*removed <= 15s);
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2, 3}, 4); }, 10s));
  bool downed_event = false, removed_event = false;
  for (const auto& e : w.events[0]) {
    if (const auto* d = std::get_if<troupe::cluster::member_downed>(&e)) downed_event |= d->member.unique_address() == victim;
    if (const auto* r = std::get_if<troupe::cluster::member_removed>(&e))
      removed_event |= r->member.unique_address() == victim && r->previous_status == model::member_status::down;
  }
  CHECK(downed_event);
  CHECK(removed_event);
}

namespace {

struct failover_times {
  nanoseconds first_unreachable{-1}, leader_knows{-1}, downed{-1}, removed_everywhere{-1};
};

// Crashes core 4 of five (core 0 leads) and notes, in 10 ms steps, when the first survivor
// marks it unreachable, when the leader's view has it, when the leader downs it, and when
// every survivor's view has dropped it.
failover_times crash_and_time(world& w) {
  w.downing_when_due = true;
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2, 3, 4}, 5); }, 30s));
  w.crashed[4] = true;
  const auto victim = w.cores[4].self();
  const nanoseconds start = w.now;
  failover_times t;
  auto unreachable_at = [&](std::size_t i) {
    return !w.cores[i].latest_gossip().reachability().is_all_reachable() &&
           w.cores[i].latest_gossip().reachability().all_unreachable_or_terminated().contains(victim);
  };
  auto note = [&](nanoseconds& slot, bool now_true) {
    if (slot < nanoseconds::zero() && now_true) slot = w.now - start;
  };
  while (t.removed_everywhere < nanoseconds::zero() && w.now - start < 30s) {
    w.run_for(10ms);
    note(t.first_unreachable, unreachable_at(1) || unreachable_at(2) || unreachable_at(3));
    note(t.leader_knows, unreachable_at(0));
    const auto* m = w.cores[0].latest_gossip().find(victim);
    note(t.downed, !m || m->status() == model::member_status::down);
    bool gone = true;
    for (std::size_t i = 0; i < 4; ++i) gone = gone && !w.cores[i].latest_gossip().has_member(victim);
    note(t.removed_everywhere, gone);
  }
  REQUIRE(t.removed_everywhere >= nanoseconds::zero());
  return t;
}

}  // namespace

TEST_CASE("node_core: the leader learns of a loss at once, downs at stable-after and removes within one round trip",
          "[unit][cluster]") {
  world w(5);  // stable-after 2 s
  const failover_times t = crash_and_time(w);
  // The observer gossips its finding to the leader at once (1 ms away); the resolver ticks
  // when the stable-after period ends, not at its next one-second tick.
  CHECK(t.leader_knows - t.first_unreachable <= 20ms);
  CHECK(t.downed - t.leader_knows >= 2s);
  CHECK(t.downed - t.leader_knows <= 2s + 20ms);
  // In a cluster this small the leader gossips the downing to every member, whose seen marks
  // come straight back; it removes the member on the last one and gossips that too.
  CHECK(t.removed_everywhere - t.downed <= 50ms);
}

TEST_CASE("node_core: with gossips_on_downing 0 the decisions spread by the gossip rounds alone (Akka's rule)",
          "[unit][cluster]") {
  auto s = world::fast();
  s.gossips_on_downing = 0;
  world w(5, s);
  const failover_times t = crash_and_time(w);
  CHECK(t.downed - t.leader_knows <= 2s + 20ms);
  CHECK(t.removed_everywhere - t.downed > 200ms);  // at least a speedup round
  CHECK(t.removed_everywhere - t.downed <= 5s);
}

TEST_CASE("node_core: downing_due is the leader's end of stable-after while a member is unreachable",
          "[unit][cluster]") {
  world w(3);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2}, 3); }, 30s));
  for (std::size_t i = 0; i < 3; ++i) CHECK_FALSE(w.cores[i].downing_due());  // all reachable
  w.crashed[2] = true;
  REQUIRE(w.run_until([&] { return !w.cores[0].latest_gossip().reachability().is_all_reachable(); }, 20s));
  const auto due = w.cores[0].downing_due();
  REQUIRE(due);
  CHECK(*due > w.now);
  CHECK(*due <= w.now + 2s);
  CHECK_FALSE(w.cores[1].downing_due());  // not the leader
}

TEST_CASE("node_core: a leaving member exits, stops, and is removed", "[unit][cluster]") {
  world w(3);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2}, 3); }, 30s));
  w.cores[0].leave(addr(2), w.now);  // any member may ask for another's leaving
  w.drain(0);
  REQUIRE(w.run_until([&] { return w.cores[2].stop_requested(); }, 20s));
  CHECK(w.cores[2].stop_reason() == "left the cluster");
  w.crashed[2] = true;  // its process ends
  REQUIRE(w.run_until([&] { return w.all_up({0, 1}, 2); }, 20s));
  bool removed_after_exit = false;
  for (const auto& e : w.events[1])
    if (const auto* r = std::get_if<troupe::cluster::member_removed>(&e))
      removed_after_exit |= r->member.address() == addr(2) && r->previous_status == model::member_status::exiting;
  CHECK(removed_after_exit);
}

TEST_CASE("node_core: the minority side of a partition downs itself", "[unit][cluster]") {
  world w(5);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2, 3, 4}, 5); }, 30s));
  for (std::size_t a : {0, 1})
    for (std::size_t b : {2, 3, 4}) {
      w.cut.insert({a, b});
      w.cut.insert({b, a});
    }
  REQUIRE(w.run_until([&] { return w.cores[0].stop_requested() && w.cores[1].stop_requested(); }, 40s));
  REQUIRE(w.run_until([&] { return w.all_up({2, 3, 4}, 3); }, 30s));
  for (std::size_t i : {2, 3, 4}) CHECK_FALSE(w.cores[i].stop_requested());
}

TEST_CASE("node_core: a restarted node's new incarnation joins after its old one is downed",
          "[unit][cluster]") {
  world w(3);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2}, 3); }, 30s));
  const auto old = w.cores[2].self();
  w.cores[2] = node_core{world::fast(), model::unique_address{addr(2), 5000}, 99};
  w.cores[2].join_seed_nodes({addr(0), addr(1)}, w.now);
  w.drain(2);
  REQUIRE(w.run_until([&] {
    return w.all_up({0, 1, 2}, 3) && w.cores[0].latest_gossip().has_member(w.cores[2].self());
  }, 40s));
  CHECK_FALSE(w.cores[0].latest_gossip().has_member(old));
}

TEST_CASE("node_core: min-nr-of-members holds joiners until enough have joined", "[unit][cluster]") {
  auto s = world::fast();
  s.membership.min_nr_of_members = 3;
  world w(3, s);
  w.cores[0].join_seed_nodes({addr(0)}, w.now);
  w.cores[1].join_seed_nodes({addr(0)}, w.now);
  w.drain(0);
  w.drain(1);
  w.run_for(5s);
  for (const auto& m : w.cores[0].latest_gossip().members()) CHECK(m.status() == model::member_status::joining);
  w.cores[2].join_seed_nodes({addr(0)}, w.now);
  w.drain(2);
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2}, 3); }, 20s));
}

TEST_CASE("node_core: a joiner is weakly up while a member is unreachable", "[unit][cluster]") {
  auto s = world::fast();
  s.downing.reset();  // nobody is downed: convergence stays blocked
  s.weakly_up_after = 2s;
  world w(4, s);
  for (std::size_t i = 0; i < 3; ++i) {
    w.cores[i].join_seed_nodes({addr(0)}, w.now);
    w.drain(i);
  }
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2}, 3); }, 30s));
  w.crashed[2] = true;
  REQUIRE(w.run_until([&] { return !w.cores[0].latest_gossip().reachability().is_all_reachable(); }, 20s));
  w.cores[3].join_seed_nodes({addr(0)}, w.now);
  w.drain(3);
  REQUIRE(w.run_until([&] {
    const auto* m = w.cores[0].latest_gossip().find(w.cores[3].self());
    return m && m->status() == model::member_status::weakly_up;
  }, 20s));
}

TEST_CASE("node_core: a gossip for another incarnation or with broken invariants is rejected",
          "[unit][cluster]") {
  world w(2);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1}, 2); }, 10s));
  const auto before = w.cores[0].stats().rejected;
  protocol::gossip_envelope wrong{w.cores[1].self(), model::unique_address{addr(0), 4242}, w.cores[1].latest_gossip()};
  w.cores[0].receive(wrong, w.now);
  CHECK(w.cores[0].stats().rejected == before + 1);
  CHECK(w.cores[0].phase() == core_phase::member);
}

TEST_CASE("node_core: a first seed whose other seed is down does not form a cluster and reports why once",
          "[unit][cluster][seed]") {
  world w(2);
  w.crashed[1] = true;
  w.cores[0].join_seed_nodes({addr(0), addr(1)}, w.now);
  w.drain(0);
  w.run_for(20s);
  CHECK(w.cores[0].phase() == core_phase::seed_process);
  CHECK(w.cores[0].latest_gossip().members().empty());
  const auto notices = w.cores[0].take_seed_wait_notices();
  REQUIRE(notices.size() == 1);  // at the timeout; the next is due a minute later
  CHECK(notices[0].silent_seeds == std::vector<model::address>{addr(1)});
  // The other seed comes up: it answers nack, and the first seed forms the cluster.
  w.crashed[1] = false;
  w.cores[1].join_seed_nodes({addr(0), addr(1)}, w.now);
  w.drain(1);
  REQUIRE(w.run_until([&] { return w.all_up({0, 1}, 2); }, 10s));
}

TEST_CASE("node_core: with first_seed_forms_cluster_when_alone a first seed alone forms a cluster after the timeout",
          "[unit][cluster][seed]") {
  auto s = world::fast();
  s.first_seed_forms_cluster_when_alone = true;
  world w(2, s);
  w.crashed[1] = true;
  w.cores[0].join_seed_nodes({addr(0), addr(1)}, w.now);
  w.drain(0);
  const auto formed = w.run_until([&] { return w.cores[0].phase() == core_phase::member; }, 20s);
  REQUIRE(formed);
  CHECK(*formed >= s.seed_node_timeout);
  CHECK(w.cores[0].take_seed_wait_notices().empty());
}

TEST_CASE("node_core: a restarted first seed joins the running cluster through the other seed",
          "[unit][cluster][seed]") {
  world w(3);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2}, 3); }, 30s));
  const auto old = w.cores[0].self();
  w.cores[0] = node_core{world::fast(), model::unique_address{addr(0), 5000}, 99};
  w.cores[0].join_seed_nodes({addr(0), addr(1)}, w.now);
  w.drain(0);
  REQUIRE(w.run_until([&] {
    return w.all_up({0, 1, 2}, 3) && w.cores[1].latest_gossip().has_member(w.cores[0].self());
  }, 40s));
  CHECK_FALSE(w.cores[1].latest_gossip().has_member(old));
  CHECK(w.cores[0].take_seed_wait_notices().empty());
}

TEST_CASE("node_core: a restarted first seed joins the running cluster through a remembered member when every other "
          "seed is gone",
          "[unit][cluster][seed]") {
  world w(5);
  w.start_all();
  REQUIRE(w.run_until([&] { return w.all_up({0, 1, 2, 3, 4}, 5); }, 30s));
  // 1. Both seeds crash; the three others down and remove them (keep-majority).
  w.crashed[0] = w.crashed[1] = true;
  REQUIRE(w.run_until([&] { return w.all_up({2, 3, 4}, 3); }, 60s));
  // 2. The first seed restarts with the members it remembers.
  w.crashed[0] = false;
  w.cores[0] = node_core{world::fast(), model::unique_address{addr(0), 5000}, 99};
  const bool remembers = GENERATE(true, false);
  const std::vector<model::address> known = remembers ? std::vector<model::address>{addr(1), addr(2), addr(3), addr(4)}
                                                      : std::vector<model::address>{};
  w.cores[0].join_seed_nodes({addr(0), addr(1)}, w.now, known);
  w.drain(0);
  if (remembers) {
    REQUIRE(w.run_until([&] { return w.all_up({0, 2, 3, 4}, 4); }, 30s));
    CHECK(w.cores[0].take_seed_wait_notices().empty());
  } else {
    // Without them it cannot find the cluster: it waits, and says so, rather than start a second one.
    w.run_for(20s);
    CHECK(w.cores[0].phase() == core_phase::seed_process);
    CHECK(w.cores[0].take_seed_wait_notices().size() == 1);
    CHECK(w.all_up({2, 3, 4}, 3));
  }
}
