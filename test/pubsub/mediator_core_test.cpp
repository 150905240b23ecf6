// The mediator core without an actor system: registry changes, routing, gossip between
// several cores over a simulated network that loses, duplicates and reorders messages,
// tombstones and their pruning, and removed members.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <troupe/pubsub/mediator_core.hpp>

using namespace std::chrono_literals;
namespace ps = troupe::pubsub;
using std::chrono::nanoseconds;

namespace {

ps::node_id node(std::uint16_t port) { return ps::node_id{{"sys", "127.0.0.1", port}, 1000u + port}; }

std::string ref(std::uint16_t port, const std::string& name) {
  return "troupe://sys@127.0.0.1:" + std::to_string(port) + "/user/" + name;
}

ps::mediator_settings settings(ps::routing_logic logic = ps::routing_logic::round_robin) {
  ps::mediator_settings s;
  s.routing_logic = logic;
  s.removed_time_to_live = 10s;
  return s;
}

std::vector<std::string> refs_of(const std::vector<ps::target>& ts) {
  std::vector<std::string> out;
  for (const auto& t : ts) out.push_back(t.ref);
  std::sort(out.begin(), out.end());
  return out;
}

/// The registry without empty buckets at version 0 (a core always holds its own).
std::map<ps::node_id, ps::bucket> comparable(const ps::mediator_core& c) {
  std::map<ps::node_id, ps::bucket> out;
  for (const auto& [owner, b] : c.registry())
    if (b.version > 0) out.emplace(owner, b);
  return out;
}

/// N cores on a simulated network: each step every core ticks, and every message in flight
/// is dropped, duplicated or delayed (reordered) by a seeded engine.
struct simulation {
  struct in_flight {
    int due = 0;
    ps::peer_envelope env;
  };

  simulation(std::size_t n, std::uint64_t seed, ps::mediator_settings s, double loss = 0.2, double dup = 0.1)
      : rng(seed), loss_(loss), dup_(dup) {
    for (std::size_t i = 0; i < n; ++i) nodes.push_back(node(static_cast<std::uint16_t>(2550 + i)));
    for (std::size_t i = 0; i < n; ++i) {
      cores.push_back(std::make_unique<ps::mediator_core>(s, nodes[i], seed * 31 + i));
      for (const auto& other : nodes) cores[i]->member_up(other);
    }
  }

  ps::mediator_core& core(const ps::node_id& n) {
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (nodes[i] == n) return *cores[i];
    FAIL("no such node");
    return *cores[0];
  }

  void collect() {
    std::uniform_real_distribution<double> p(0, 1);
    std::uniform_int_distribution<int> delay(0, 4);
    for (auto& c : cores) {
      for (auto& env : c->take_outbox()) {
        if (p(rng) < loss_) continue;
        if (p(rng) < dup_) flight.push_back({now_step + delay(rng), env});
        flight.push_back({now_step + delay(rng), std::move(env)});
      }
    }
  }

  void step() {
    ++now_step;
    const nanoseconds now = std::chrono::milliseconds(100) * now_step;
    for (auto& c : cores) c->on_tick(now);
    collect();
    // Deliver what is due, in a shuffled order; answers go into flight for later steps.
    std::vector<in_flight> due;
    for (auto it = flight.begin(); it != flight.end();) {
      if (it->due <= now_step) {
        due.push_back(std::move(*it));
        it = flight.erase(it);
      } else {
        ++it;
      }
    }
    std::shuffle(due.begin(), due.end(), rng);
    for (auto& m : due) {
      for (std::size_t i = 0; i < nodes.size(); ++i)
        if (nodes[i] == m.env.to) cores[i]->receive(m.env, now);
    }
    collect();
  }

  nanoseconds now() const { return std::chrono::milliseconds(100) * now_step; }

  bool converged() const {
    const auto first = comparable(*cores[0]);
    for (const auto& c : cores)
      if (comparable(*c) != first) return false;
    return true;
  }

  /// Steps until converged (true) or `max_steps` passed.
  bool run_until_converged(int max_steps) {
    for (int i = 0; i < max_steps; ++i) {
      step();
      if (converged()) return true;
    }
    return converged();
  }

  std::mt19937_64 rng;
  double loss_, dup_;
  int now_step = 0;
  std::vector<ps::node_id> nodes;
  std::vector<std::unique_ptr<ps::mediator_core>> cores;
  std::vector<in_flight> flight;
};

}  // namespace

TEST_CASE("pubsub core: local subscriptions, publish and dead letters", "[unit]") {
  ps::mediator_core c(settings(), node(1), 7);
  CHECK(c.publish("news").empty());
  CHECK(c.stats().dead_letters == 1);

  CHECK(c.subscribe("news", "", ref(1, "a"), 11, 1s));
  CHECK(c.subscribe("news", "", ref(1, "b"), 12, 1s));
  CHECK_FALSE(c.subscribe("news", "", ref(1, "a"), 11, 2s));  // already
  // Versions are the change's time in microseconds, one more when that is not later.
  CHECK(c.registry().at(node(1)).version == 1'000'001);
  const auto ts = c.publish("news");
  CHECK(refs_of(ts) == std::vector<std::string>{ref(1, "a"), ref(1, "b")});
  CHECK(std::all_of(ts.begin(), ts.end(), [](const ps::target& t) { return t.local; }));
  CHECK(c.subscriber_count("news") == 2);
  CHECK(c.topics() == std::set<std::string>{"news"});

  CHECK(c.unsubscribe("news", "", ref(1, "a"), 3s));
  CHECK_FALSE(c.unsubscribe("news", "", ref(1, "a"), 3s));
  CHECK(refs_of(c.publish("news")) == std::vector<std::string>{ref(1, "b")});
  CHECK(c.remove_ref(ref(1, "b"), 4s) == 1);
  CHECK(c.publish("news").empty());
  CHECK(c.stats().dead_letters == 2);
  CHECK(c.topics().empty());
  // Tombstones are kept (the last change at 4 s), then pruned after the TTL.
  CHECK(c.registry().at(node(1)).entries.size() == 2);
  c.on_tick(4s + 10s);
  CHECK(c.registry().at(node(1)).entries.size() == 1);  // the removal at 3 s is older than 10 s
  c.on_tick(4s + 10s + 1ms);
  CHECK(c.registry().at(node(1)).entries.empty());
  CHECK(c.registry().at(node(1)).version == 4'000'000);  // pruning changes no version
  CHECK(c.stats().tombstones_pruned == 2);
}

TEST_CASE("pubsub core: stats count publishes, sends, dead letters and statuses sent", "[unit]") {
  ps::mediator_core core(settings(), node(1), 1);
  core.member_up(node(2));
  core.subscribe("news", "", ref(1, "a"), 1, 1s);
  core.put("/user/svc", ref(1, "svc"), 2, 1s);
  CHECK(core.publish("news").size() == 1);
  CHECK(core.publish("nobody").empty());
  CHECK(core.send("/user/svc", false).has_value());
  CHECK(core.send_to_all("/user/svc", false).size() == 1);
  CHECK(core.send_to_all("/user/none", false).empty());
  core.on_tick(2s);  // a status to node 2
  const auto& st = core.stats();
  CHECK(st.published == 2);
  CHECK(st.sent == 1);
  CHECK(st.sent_to_all == 2);
  CHECK(st.dead_letters == 2);
  CHECK(st.statuses_sent == 1);
  CHECK(st.deltas_sent == 0);
}

TEST_CASE("pubsub core: one subscriber per group, round robin in turn", "[unit]") {
  ps::mediator_core c(settings(ps::routing_logic::round_robin), node(1), 7);
  for (const char* n : {"w1", "w2", "w3"}) c.subscribe("jobs", "workers", ref(1, n), 1, 1s);
  c.subscribe("jobs", "audit", ref(1, "auditor"), 1, 1s);
  c.subscribe("jobs", "", ref(1, "logger"), 1, 1s);
  std::vector<std::string> workers;
  for (int i = 0; i < 6; ++i) {
    const auto ts = c.publish("jobs");
    REQUIRE(ts.size() == 3);  // the logger, the auditor, one worker
    const auto rs = refs_of(ts);
    CHECK(std::count(rs.begin(), rs.end(), ref(1, "logger")) == 1);
    CHECK(std::count(rs.begin(), rs.end(), ref(1, "auditor")) == 1);
    for (const auto& r : rs)
      if (r.find("/user/w") != std::string::npos) workers.push_back(r);
  }
  CHECK(workers == std::vector<std::string>{ref(1, "w1"), ref(1, "w2"), ref(1, "w3"), ref(1, "w1"), ref(1, "w2"),
                                            ref(1, "w3")});
}

TEST_CASE("pubsub core: random group choice is deterministic for a seed", "[unit]") {
  auto picks = [](std::uint64_t seed) {
    ps::mediator_core c(settings(ps::routing_logic::random), node(1), seed);
    for (const char* n : {"w1", "w2", "w3", "w4"}) c.subscribe("jobs", "g", ref(1, n), 1, 1s);
    std::vector<std::string> out;
    for (int i = 0; i < 40; ++i) out.push_back(c.publish("jobs").at(0).ref);
    return out;
  };
  const auto a = picks(42);
  CHECK(a == picks(42));
  CHECK(std::set<std::string>(a.begin(), a.end()).size() == 4);  // every member drawn in 40
  CHECK(a != picks(43));
}

TEST_CASE("pubsub core: put, send with local affinity, send_to_all, remove", "[unit]") {
  simulation sim(3, 5, settings(), 0, 0);
  auto& a = *sim.cores[0];
  auto& b = *sim.cores[1];
  auto& c = *sim.cores[2];
  a.put("/user/svc", ref(2550, "svc"), 1, sim.now());
  b.put("/user/svc", ref(2551, "svc"), 2, sim.now());
  REQUIRE(sim.run_until_converged(100));
  CHECK(c.registered_count("/user/svc") == 2);

  for (int i = 0; i < 4; ++i) {
    const auto t = a.send("/user/svc", true);
    REQUIRE(t);
    CHECK(t->local);
    CHECK(t->ref == ref(2550, "svc"));
  }
  std::set<std::string> seen;  // c has no local one: round robin over both
  for (int i = 0; i < 4; ++i) seen.insert(c.send("/user/svc", true)->ref);
  CHECK(seen.size() == 2);
  CHECK(refs_of(c.send_to_all("/user/svc", false)) == std::vector<std::string>{ref(2550, "svc"), ref(2551, "svc")});
  CHECK(refs_of(a.send_to_all("/user/svc", true)) == std::vector<std::string>{ref(2551, "svc")});

  // A second put on the same node replaces the first.
  a.put("/user/svc", ref(2550, "svc2"), 3, sim.now());
  CHECK(a.send("/user/svc", true)->ref == ref(2550, "svc2"));
  CHECK(a.remove("/user/svc", sim.now()));
  CHECK_FALSE(a.remove("/user/svc", sim.now()));
  CHECK(a.send("/user/svc", true)->ref == ref(2551, "svc"));
  REQUIRE(sim.run_until_converged(100));
  CHECK(refs_of(c.send_to_all("/user/svc", false)) == std::vector<std::string>{ref(2551, "svc")});
  CHECK_FALSE(c.send("/user/nothing", false));
  CHECK(c.stats().dead_letters == 1);
}

TEST_CASE("pubsub core: gossip converges despite loss, duplication and reordering", "[unit]") {
  for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    for (std::size_t max_delta : {3u, 3000u}) {
      CAPTURE(seed, max_delta);
      auto s = settings();
      s.max_delta_elements = max_delta;
      s.removed_time_to_live = 1h;  // no pruning while changes are still spreading
      simulation sim(4, seed, s);
      std::mt19937_64 rng(seed);
      // 1. Random changes on random nodes while gossip runs.
      for (int i = 0; i < 60; ++i) {
        const std::size_t n = rng() % sim.nodes.size();
        const auto port = static_cast<std::uint16_t>(2550 + n);
        const std::string topic = "t" + std::to_string(rng() % 5);
        const std::string who = ref(port, "s" + std::to_string(rng() % 6));
        const std::string group = rng() % 3 == 0 ? "g" : "";
        if (rng() % 4 == 0) {
          sim.cores[n]->unsubscribe(topic, group, who, sim.now());
        } else {
          sim.cores[n]->subscribe(topic, group, who, 1, sim.now());
        }
        if (rng() % 10 == 0) sim.cores[n]->remove_ref(who, sim.now());
        sim.step();
      }
      // 2. Then quiet: every registry ends equal, and equal to each owner's own bucket.
      REQUIRE(sim.run_until_converged(1000));
      for (std::size_t i = 0; i < sim.nodes.size(); ++i) {
        const auto& own = sim.cores[i]->registry().at(sim.nodes[i]);
        for (const auto& c : sim.cores) {
          if (own.version == 0) continue;
          CHECK(c->registry().at(sim.nodes[i]) == own);
        }
      }
      std::uint64_t merged = 0;
      for (const auto& c : sim.cores) merged += c->stats().entries_merged;
      CHECK(merged > 0);
      // 3. Routing agrees everywhere.
      for (int t = 0; t < 5; ++t) {
        const std::string topic = "t" + std::to_string(t);
        for (const auto& c : sim.cores) CHECK(c->subscriber_count(topic) == sim.cores[0]->subscriber_count(topic));
      }
    }
  }
}

TEST_CASE("pubsub core: a delta is bounded by max-delta-elements", "[unit]") {
  auto s = settings();
  s.max_delta_elements = 4;
  ps::mediator_core a(s, node(1), 1);
  ps::mediator_core b(s, node(2), 2);
  a.member_up(node(2));
  b.member_up(node(1));
  for (int i = 0; i < 10; ++i) a.subscribe("t", "", ref(1, "s" + std::to_string(i)), 1, 0s);
  b.on_tick(0s);
  auto out = b.take_outbox();
  REQUIRE(out.size() == 1);
  a.receive(out[0], 0s);
  out = a.take_outbox();
  REQUIRE(out.size() == 1);
  const auto& d = std::get<ps::delta>(out[0].message);
  REQUIRE(d.buckets.size() == 1);
  CHECK(d.buckets[0].entries.size() == 4);
  CHECK(d.buckets[0].from_version == 0);
  CHECK(d.buckets[0].to_version == 4);  // the oldest four changes, and no later
  b.receive(out[0], 0s);
  CHECK(b.registry().at(node(1)).version == 4);
  CHECK(b.subscriber_count("t") == 4);
}

TEST_CASE("pubsub core: a gap, a bucket of self and one of a non-member are ignored", "[unit]") {
  ps::mediator_core b(settings(), node(2), 2);
  b.member_up(node(1));
  const ps::entry_key k{ps::entry_kind::topic, "t", "", ref(1, "x")};
  ps::delta gap;
  gap.buckets.push_back({node(1), 3, 4, {{k, ps::value_holder{4, 1, false}}}});
  b.receive(ps::peer_envelope{node(1), node(2), gap}, 0s);
  CHECK(b.registry().count(node(1)) == 0);
  ps::delta mine;
  mine.buckets.push_back({node(2), 0, 1, {{k, ps::value_holder{1, 1, false}}}});
  mine.buckets.push_back({node(3), 0, 1, {{k, ps::value_holder{1, 1, false}}}});
  b.receive(ps::peer_envelope{node(1), node(2), mine}, 0s);
  CHECK(b.live_entries() == 0);
  CHECK(b.stats().deltas_ignored == 3);
  // From a non-member, or for another incarnation: dropped whole.
  ps::delta ok;
  ok.buckets.push_back({node(1), 0, 1, {{k, ps::value_holder{1, 1, false}}}});
  b.receive(ps::peer_envelope{node(3), node(2), ok}, 0s);
  b.receive(ps::peer_envelope{node(1), ps::node_id{node(2).address, 99}, ok}, 0s);
  CHECK(b.live_entries() == 0);
  b.receive(ps::peer_envelope{node(1), node(2), ok}, 0s);
  CHECK(b.live_entries() == 1);
}

TEST_CASE("pubsub core: tombstones spread, then are pruned without resurrection", "[unit]") {
  simulation sim(3, 9, settings(), 0, 0);
  auto& a = *sim.cores[0];
  a.subscribe("news", "", ref(2550, "r"), 1, sim.now());
  REQUIRE(sim.run_until_converged(100));
  for (const auto& c : sim.cores) CHECK(c->subscriber_count("news") == 1);
  a.unsubscribe("news", "", ref(2550, "r"), sim.now());
  REQUIRE(sim.run_until_converged(100));
  for (const auto& c : sim.cores) {
    CHECK(c->subscriber_count("news") == 0);
    CHECK(c->registry().at(sim.nodes[0]).entries.size() == 1);  // the tombstone
  }
  // 10 s of TTL at 100 ms a step: after it every node has pruned it, and gossip brings
  // nothing back.
  for (int i = 0; i < 120; ++i) sim.step();
  const auto own_version = sim.cores[0]->registry().at(sim.nodes[0]).version;
  for (const auto& c : sim.cores) {
    CHECK(c->registry().at(sim.nodes[0]).entries.empty());
    CHECK(c->registry().at(sim.nodes[0]).version == own_version);  // the same everywhere
    CHECK(c->publish("news").empty());
  }
}

TEST_CASE("pubsub core: a removed member's subscribers vanish for good", "[unit]") {
  simulation sim(3, 11, settings(), 0, 0);
  auto& a = *sim.cores[0];
  auto& c = *sim.cores[2];
  c.subscribe("news", "", ref(2552, "r"), 1, sim.now());
  a.subscribe("news", "", ref(2550, "r"), 1, sim.now());
  REQUIRE(sim.run_until_converged(100));
  CHECK(a.subscriber_count("news") == 2);
  // c is removed; a hears of it, b has not yet.
  a.member_removed(sim.nodes[2]);
  CHECK(a.subscriber_count("news") == 1);
  CHECK(a.registry().count(sim.nodes[2]) == 0);
  CHECK(a.peers().size() == 1);
  // b's gossip still names c's bucket: a does not take it back.
  for (int i = 0; i < 30; ++i) sim.step();
  CHECK(a.registry().count(sim.nodes[2]) == 0);
  CHECK(a.subscriber_count("news") == 1);
  CHECK(refs_of(a.publish("news")) == std::vector<std::string>{ref(2550, "r")});
  a.member_up(sim.nodes[2]);  // never again
  CHECK(a.peers().size() == 1);
}

TEST_CASE("pubsub core: a mediator that starts again in the same incarnation is heard", "[unit]") {
  simulation sim(3, 5, settings(), 0.0, 0.0);
  sim.cores[0]->subscribe("news", "", ref(2550, "r"), 1, sim.now());
  REQUIRE(sim.run_until_converged(100));
  for (const auto& c : sim.cores) CHECK(c->subscriber_count("news") == 1);
  // The mediator actor of node 0 restarts: a fresh core for the same node, later in time.
  sim.cores[0] = std::make_unique<ps::mediator_core>(settings(), sim.nodes[0], 99);
  for (const auto& other : sim.nodes) sim.cores[0]->member_up(other);
  for (int i = 0; i < 3; ++i) sim.step();
  sim.cores[0]->subscribe("jobs", "", ref(2550, "w"), 2, sim.now());
  for (int i = 0; i < 50; ++i) sim.step();
  // Its new change has a higher version than what the peers held: they take it.
  CHECK(sim.cores[1]->subscriber_count("jobs") == 1);
  CHECK(sim.cores[2]->subscriber_count("jobs") == 1);
}
