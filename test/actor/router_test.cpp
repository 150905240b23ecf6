// Routers: distribution of each logic, broadcast, pools losing routees, groups by path.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <troupe/actor.hpp>

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::testkit::test_probe;
namespace routing = troupe::routing;

namespace {

struct job {
  int id;
  std::string key;
};

/// Answers each job with its own name, so the test sees who got it.
class named_worker final : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {[this](const job& j) { reply(std::make_pair(self().name(), j.id)); },
            [this](const std::string& s) { reply(self().name() + ":" + s); }};
  }
};

std::map<std::string, int> collect(test_probe& probe, int n) {
  std::map<std::string, int> per_routee;
  for (int i = 0; i < n; ++i) ++per_routee[probe.expect_msg<std::pair<std::string, int>>().first];
  return per_routee;
}

}  // namespace

TEST_CASE("round robin gives each routee the same share, in turn", "[unit][router]") {
  troupe::actor_system sys("rr", troupe::testkit::manual_settings());
  test_probe probe(sys);
  auto r = sys.spawn(routing::pool(4, troupe::props::of<named_worker>(), routing::round_robin()), "rr");
  for (int i = 0; i < 40; ++i) probe.send(r, job{i, ""});
  auto shares = collect(probe, 40);
  REQUIRE(shares.size() == 4);
  for (auto& [name, n] : shares) CHECK(n == 10);
}

TEST_CASE("random routing reaches every routee and replays from its seed", "[unit][router]") {
  auto run = [](std::uint64_t seed) {
    troupe::actor_system sys("rnd", troupe::testkit::manual_settings(seed));
    test_probe probe(sys);
    auto r = sys.spawn(routing::pool(3, troupe::props::of<named_worker>(), routing::random(seed)), "rnd");
    std::vector<std::string> order;
    for (int i = 0; i < 300; ++i) {
      probe.send(r, job{i, ""});
      order.push_back(probe.expect_msg<std::pair<std::string, int>>().first);
    }
    return order;
  };
  const auto a = run(7);
  CHECK(a == run(7));
  std::map<std::string, int> shares;
  for (auto& n : a) ++shares[n];
  REQUIRE(shares.size() == 3);
  for (auto& [name, n] : shares) CHECK(n > 60);  // 100 expected each
}

TEST_CASE("broadcast reaches every routee, with the original sender", "[unit][router]") {
  troupe::actor_system sys("bc", troupe::testkit::manual_settings());
  test_probe probe(sys);
  auto r = sys.spawn(routing::pool(3, troupe::props::of<named_worker>(), routing::round_robin()), "bc");
  probe.send(r, routing::broadcast(std::string("hi")));
  std::set<std::string> got;
  for (int i = 0; i < 3; ++i) got.insert(probe.expect_msg<std::string>());
  CHECK(got == std::set<std::string>{"routee-0:hi", "routee-1:hi", "routee-2:hi"});
  auto all = sys.spawn(routing::pool(2, troupe::props::of<named_worker>(), routing::broadcast_all()), "all");
  probe.send(all, job{1, ""});
  CHECK(collect(probe, 2).size() == 2);
}

TEST_CASE("consistent hashing sends a key always to the same routee", "[unit][router]") {
  troupe::actor_system sys("ch", troupe::testkit::manual_settings());
  test_probe probe(sys);
  auto logic = routing::consistent_hashing([](const troupe::message& m) { return m.get_if<job>()->key; });
  auto r = sys.spawn(routing::pool(5, troupe::props::of<named_worker>(), logic), "ch");
  std::map<std::string, std::string> owner;
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 50; ++k) {
      const std::string key = "user-" + std::to_string(k);
      probe.send(r, job{k, key});
      auto got = probe.expect_msg<std::pair<std::string, int>>().first;
      auto [it, fresh] = owner.emplace(key, got);
      CHECK(it->second == got);
    }
  }
  std::set<std::string> used;
  for (auto& [k, v] : owner) used.insert(v);
  CHECK(used.size() >= 4);  // 50 keys spread over 5 routees
}

TEST_CASE("a hash ring moves few keys when a node joins", "[unit][router]") {
  routing::hash_ring before(32), after(32);
  std::vector<std::string> nodes{"a", "b", "c", "d"};
  before.assign(nodes);
  nodes.push_back("e");
  after.assign(nodes);
  int moved = 0;
  for (int k = 0; k < 10000; ++k) {
    const std::string key = "k" + std::to_string(k);
    const auto x = before.node_for(key), y = after.node_for(key);
    if (x != y) {
      ++moved;
      CHECK(y == 4);  // keys only move to the new node
    }
  }
  CHECK(moved > 1000);  // about a fifth
  CHECK(moved < 3000);
}

TEST_CASE("a pool drops stopped routees and stops when none is left", "[unit][router]") {
  troupe::actor_system sys("pool", troupe::testkit::manual_settings());
  test_probe probe(sys);
  auto r = sys.spawn(routing::pool(2, troupe::props::of<named_worker>(), routing::round_robin()), "pool");
  probe.watch(r);
  probe.send(r, routing::get_routees{});
  auto rs = probe.expect_msg<routing::routees>();
  REQUIRE(rs.refs.size() == 2);
  sys.stop(rs.refs[0]);
  sys.run_until_idle();
  probe.send(r, routing::get_routees{});
  CHECK(probe.expect_msg<routing::routees>().refs.size() == 1);
  for (int i = 0; i < 4; ++i) probe.send(r, job{i, ""});
  CHECK(collect(probe, 4) == std::map<std::string, int>{{"routee-1", 4}});
  sys.stop(rs.refs[1]);
  probe.expect_terminated(r);
}

TEST_CASE("a group routes to actors by path as they come and go", "[unit][router]") {
  troupe::actor_system sys("group", troupe::testkit::manual_settings());
  test_probe probe(sys);
  auto w1 = sys.spawn<named_worker>("w1");
  auto g = sys.spawn(routing::group({"/user/w1", "/user/w2"}, routing::round_robin()), "g");
  for (int i = 0; i < 3; ++i) probe.send(g, job{i, ""});
  CHECK(collect(probe, 3) == std::map<std::string, int>{{"w1", 3}});
  sys.spawn<named_worker>("w2");
  sys.run_until_idle();
  for (int i = 0; i < 4; ++i) probe.send(g, job{i, ""});
  CHECK(collect(probe, 4) == std::map<std::string, int>{{"w1", 2}, {"w2", 2}});
  const auto before = sys.dead_letter_count();
  sys.stop(w1);
  sys.stop(*sys.resolve("/user/w2"));
  sys.run_until_idle();
  probe.send(g, job{9, ""});
  sys.run_until_idle();
  CHECK(sys.dead_letter_count() == before + 1);
}

TEST_CASE("routers spread load across real threads", "[integration][router]") {
  troupe::actor_system sys("threads");
  test_probe probe(sys);
  auto r = sys.spawn(routing::pool(8, troupe::props::of<named_worker>(), routing::round_robin()), "r");
  for (int i = 0; i < 800; ++i) probe.send(r, job{i, ""});
  auto shares = collect(probe, 800);
  REQUIRE(shares.size() == 8);
  for (auto& [name, n] : shares) CHECK(n == 100);
}
