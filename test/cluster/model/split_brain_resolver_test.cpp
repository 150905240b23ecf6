#include "troupe/cluster/model/split_brain_resolver.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace troupe::cluster::model;

namespace {

using nodes = std::set<unique_address>;

// Node i at 10.0.0.i; with i <= 9 node 1 has the lowest address.
unique_address node(int i) {
  return {{"shop", "10.0.0." + std::to_string(i), 2552}, static_cast<std::uint64_t>(i)};
}

nodes set_of(std::initializer_list<int> ids) {
  nodes out;
  for (const int i : ids) out.insert(node(i));
  return out;
}

// Members 1..n, all up, node i the i-th oldest; `side` is self's side of the partition
// (reachable), the others are unreachable. Self is the lowest node of `side`. Stable for 30 s.
sbr_snapshot partition(int n, std::set<int> side) {
  sbr_snapshot s;
  s.self = node(*side.begin());
  for (int i = 1; i <= n; ++i)
    s.members.push_back({node(i), sbr_member_status::up, {}, i, side.count(i) != 0});
  s.stable_for = 30s;
  return s;
}

sbr_member& member(sbr_snapshot& s, int i) {
  return *std::find_if(s.members.begin(), s.members.end(),
                       [&](const sbr_member& m) { return m.node == node(i); });
}

// The complement of `side` in 1..n.
std::set<int> other(int n, const std::set<int>& side) {
  std::set<int> out;
  for (int i = 1; i <= n; ++i)
    if (side.count(i) == 0) out.insert(i);
  return out;
}

sbr_settings strategy(sbr_strategy st) {
  sbr_settings s;
  s.strategy = st;
  if (st == sbr_strategy::static_quorum) s.quorum_size = 3;
  return s;
}

}  // namespace

TEST_CASE("sbr settings default to Akka's and are validated", "[unit][sbr]") {
  sbr_settings s;
  CHECK(s.strategy == sbr_strategy::keep_majority);
  CHECK(s.stable_after == 20s);
  CHECK(s.down_if_alone);
  CHECK(effective_down_all_when_unstable(s) == 15s);  // "on": 3/4 of stable-after
  s.stable_after = 4s;
  CHECK(effective_down_all_when_unstable(s) == 4s);   // but at least 4 s
  s.down_all_when_unstable = 0s;
  CHECK(effective_down_all_when_unstable(s) == 0s);   // off
  CHECK_FALSE(validate(s));

  s.stable_after = -1s;
  CHECK_THAT(*validate(s), Catch::Contains("stable-after") && Catch::Contains(">= 0"));
  s = {};
  s.down_all_when_unstable = -1s;
  CHECK_THAT(*validate(s), Catch::Contains("down-all-when-unstable"));
  s = {};
  s.strategy = sbr_strategy::static_quorum;
  CHECK_THAT(*validate(s), Catch::Contains("quorum-size") && Catch::Contains(">= 1"));
  s.quorum_size = 2;
  CHECK_FALSE(validate(s));
  CHECK(std::string{to_string(sbr_strategy::keep_oldest)} == "keep-oldest");
  CHECK(std::string{to_string(sbr_action::down_reachable)} == "down-reachable");
}

TEST_CASE("no decision without unreachable members or before stable-after", "[unit][sbr]") {
  const sbr_settings s;
  auto all_reachable = partition(5, {1, 2, 3, 4, 5});
  CHECK(resolve_split_brain(s, all_reachable).outcome == sbr_outcome::no_unreachable);

  auto split = partition(5, {1, 2, 3});
  split.stable_for = 19s;
  auto d = resolve_split_brain(s, split);
  CHECK(d.outcome == sbr_outcome::waiting_for_stability);
  CHECK(d.to_down.empty());
  CHECK_FALSE(d.action);
  CHECK_THAT(d.reason, Catch::Contains("19000 ms of 20000 ms"));

  split.stable_for = 20s;
  d = resolve_split_brain(s, split);
  CHECK(d.outcome == sbr_outcome::decided);
  CHECK(d.to_down == set_of({4, 5}));

  // Unreachable members that are already down need no decision.
  member(split, 4).status = sbr_member_status::down;
  member(split, 5).status = sbr_member_status::down;
  CHECK(resolve_split_brain(s, split).outcome == sbr_outcome::no_unreachable);
}

TEST_CASE("down all when unstable for longer than stable-after + down-all-when-unstable",
          "[unit][sbr]") {
  sbr_settings s;
  auto split = partition(5, {1, 2, 3});
  split.stable_for = 2s;
  split.unstable_for = 35s;  // 20 s + 15 s: not yet
  CHECK(resolve_split_brain(s, split).outcome == sbr_outcome::waiting_for_stability);
  split.unstable_for = 35s + 1ms;
  auto d = resolve_split_brain(s, split);
  CHECK(d.outcome == sbr_outcome::down_all_unstable);
  CHECK(d.action == sbr_action::down_all);
  CHECK(d.to_down == set_of({1, 2, 3, 4, 5}));

  s.down_all_when_unstable = 0s;  // off
  split.unstable_for = 1h;
  CHECK(resolve_split_brain(s, split).outcome == sbr_outcome::waiting_for_stability);
  s.down_all_when_unstable = 5s;
  split.unstable_for = 26s;
  CHECK(resolve_split_brain(s, split).outcome == sbr_outcome::down_all_unstable);
}

TEST_CASE("keep-majority keeps the larger side, the lowest address on a tie", "[unit][sbr]") {
  const auto s = strategy(sbr_strategy::keep_majority);
  struct row {
    int n;
    std::set<int> side;
    bool survives;
  };
  // 2|3, 3|2, 1|4, 4|1 and the 2|2 tie both ways round.
  const std::vector<row> rows{{5, {1, 2}, false}, {5, {1, 2, 3}, true}, {5, {5}, false},
                              {5, {1, 2, 3, 4}, true}, {4, {1, 2}, true}, {4, {3, 4}, false},
                              {4, {2, 3}, false}, {4, {1, 4}, true}, {2, {2}, false},
                              {2, {1}, true}};
  for (const auto& r : rows) {
    CAPTURE(r.n, r.side);
    const auto snap = partition(r.n, r.side);
    const auto d = resolve_split_brain(s, snap);
    INFO(d.reason);
    CHECK(d.outcome == sbr_outcome::decided);
    std::set<int> downed_ids = r.survives ? other(r.n, r.side) : r.side;
    nodes expected;
    for (const int i : downed_ids) expected.insert(node(i));
    CHECK(d.to_down == expected);
    CHECK(d.action == (r.survives ? sbr_action::down_unreachable : sbr_action::down_reachable));
    CHECK(d.to_down.count(snap.self) == (r.survives ? 0u : 1u));
  }
}

TEST_CASE("keep-majority counts only the role when one is set", "[unit][sbr]") {
  auto s = strategy(sbr_strategy::keep_majority);
  s.role = "backend";
  auto snap = partition(5, {1, 4, 5});  // 3 nodes here, but only node 1 has the role
  for (const int i : {1, 2, 3}) member(snap, i).roles = {"backend"};
  const auto d = resolve_split_brain(s, snap);
  CHECK(d.action == sbr_action::down_reachable);
  CHECK(d.to_down == set_of({1, 4, 5}));  // the whole side goes, with or without the role
  CHECK_THAT(d.reason, Catch::Contains("1 reachable vs 2 unreachable") && Catch::Contains("backend"));

  s.role = "nobody";
  CHECK(resolve_split_brain(s, snap).action == sbr_action::down_all);
}

TEST_CASE("keep-majority downs all when joining or leaving members could flip it",
          "[unit][sbr]") {
  const auto s = strategy(sbr_strategy::keep_majority);
  SECTION("joining members on the other side may be up there") {
    auto snap = partition(7, {1, 2, 3});
    member(snap, 6).status = sbr_member_status::joining;
    member(snap, 7).status = sbr_member_status::weakly_up;
    const auto d = resolve_split_brain(s, snap);
    CHECK(d.action == sbr_action::down_all);
    CHECK(d.to_down.size() == 7);
    // The other side is a minority either way.
    auto there = partition(7, {4, 5, 6, 7});
    member(there, 6).status = sbr_member_status::joining;
    member(there, 7).status = sbr_member_status::weakly_up;
    CHECK(resolve_split_brain(s, there).action == sbr_action::down_reachable);
  }
  SECTION("a leaving member on this side may be exiting on the other") {
    auto snap = partition(5, {3, 4, 5});
    member(snap, 5).status = sbr_member_status::leaving;
    CHECK(resolve_split_brain(s, snap).action == sbr_action::down_all);
  }
  SECTION("a leaving member that does not change the outcome") {
    auto snap = partition(5, {1, 2, 3});
    member(snap, 3).status = sbr_member_status::leaving;
    CHECK(resolve_split_brain(s, snap).action == sbr_action::down_unreachable);
  }
}

TEST_CASE("static-quorum keeps a side with at least quorum-size members", "[unit][sbr]") {
  const auto s = strategy(sbr_strategy::static_quorum);  // quorum 3
  CHECK(resolve_split_brain(s, partition(5, {1, 2, 3})).to_down == set_of({4, 5}));
  CHECK(resolve_split_brain(s, partition(5, {1, 2})).to_down == set_of({1, 2}));
  CHECK(resolve_split_brain(s, partition(5, {5})).to_down == set_of({5}));
  CHECK(resolve_split_brain(s, partition(5, {1, 2, 3, 4})).to_down == set_of({5}));
  // 2|2: neither side has a quorum, both go.
  CHECK(resolve_split_brain(s, partition(4, {1, 2})).to_down == set_of({1, 2}));
  CHECK(resolve_split_brain(s, partition(4, {3, 4})).to_down == set_of({3, 4}));
  // 6 members could make two quorums of 3: down all.
  const auto d = resolve_split_brain(s, partition(6, {1, 2, 3}));
  CHECK(d.action == sbr_action::down_all);
  CHECK(d.to_down.size() == 6);
  CHECK_THAT(d.reason, Catch::Contains("exceed"));
}

TEST_CASE("keep-oldest keeps the side with the oldest member", "[unit][sbr]") {
  auto s = strategy(sbr_strategy::keep_oldest);  // down_if_alone
  // 2|3 with the oldest (node 1) on the small side: the small side stays.
  CHECK(resolve_split_brain(s, partition(5, {1, 2})).to_down == set_of({3, 4, 5}));
  CHECK(resolve_split_brain(s, partition(5, {3, 4, 5})).to_down == set_of({3, 4, 5}));
  // 3|2 without the oldest: this side goes even though it is larger.
  CHECK(resolve_split_brain(s, partition(5, {2, 3, 4})).to_down == set_of({2, 3, 4}));
  // 1|4, an ordinary node alone: it goes.
  CHECK(resolve_split_brain(s, partition(5, {5})).to_down == set_of({5}));
  CHECK(resolve_split_brain(s, partition(5, {1, 2, 3, 4})).to_down == set_of({5}));
  // 2|2: the oldest's side stays.
  CHECK(resolve_split_brain(s, partition(4, {1, 3})).to_down == set_of({2, 4}));
  CHECK(resolve_split_brain(s, partition(4, {2, 4})).to_down == set_of({2, 4}));

  SECTION("the oldest alone downs itself when down-if-alone") {
    CHECK(resolve_split_brain(s, partition(5, {1})).to_down == set_of({1}));
    CHECK(resolve_split_brain(s, partition(5, {2, 3, 4, 5})).to_down == set_of({1}));
    // ... but not in a two-node cluster, where the other node is no better.
    CHECK(resolve_split_brain(s, partition(2, {1})).to_down == set_of({2}));
    CHECK(resolve_split_brain(s, partition(2, {2})).to_down == set_of({2}));
  }
  SECTION("without down-if-alone the oldest stays even alone") {
    s.down_if_alone = false;
    CHECK(resolve_split_brain(s, partition(5, {1})).to_down == set_of({2, 3, 4, 5}));
    CHECK(resolve_split_brain(s, partition(5, {2, 3, 4, 5})).to_down == set_of({2, 3, 4, 5}));
  }
  SECTION("age is the up number, not the address") {
    auto snap = partition(5, {4, 5});
    member(snap, 5).up_number = 0;  // node 5 is now the oldest
    CHECK(resolve_split_brain(s, snap).to_down == set_of({1, 2, 3}));
  }
  SECTION("an oldest that is leaving may be gone on the other side: down all") {
    auto snap = partition(5, {1, 2});
    member(snap, 1).status = sbr_member_status::leaving;
    CHECK(resolve_split_brain(s, snap).action == sbr_action::down_all);
  }
  SECTION("with a role the oldest with that role counts") {
    s.role = "singleton";
    auto snap = partition(5, {1, 2});
    member(snap, 4).roles = {"singleton"};
    member(snap, 5).roles = {"singleton"};
    CHECK(resolve_split_brain(s, snap).to_down == set_of({1, 2}));
  }
}

TEST_CASE("down-all downs every member on both sides", "[unit][sbr]") {
  const auto s = strategy(sbr_strategy::down_all);
  for (const std::set<int>& side : {std::set<int>{1, 2}, std::set<int>{1, 2, 3}, std::set<int>{5},
                                    std::set<int>{2, 3, 4, 5}}) {
    CAPTURE(side);
    const auto d = resolve_split_brain(s, partition(5, side));
    CHECK(d.action == sbr_action::down_all);
    CHECK(d.to_down == set_of({1, 2, 3, 4, 5}));
  }
  auto snap = partition(5, {1, 2});
  member(snap, 2).status = sbr_member_status::exiting;
  member(snap, 3).status = sbr_member_status::down;
  CHECK(resolve_split_brain(s, snap).to_down == set_of({1, 4, 5}));  // not twice
}

TEST_CASE("indirectly connected members are downed", "[unit][sbr]") {
  const auto s = strategy(sbr_strategy::keep_majority);
  SECTION("a broken link between two nodes that still gossip through the others") {
    auto snap = partition(5, {1, 2, 3});  // 4 and 5 appear unreachable...
    snap.unreachable_records = {{node(4), node(5)}, {node(5), node(4)}};  // ...to each other
    CHECK(indirectly_connected(snap) == set_of({4, 5}));
    const auto d = resolve_split_brain(s, snap);
    CHECK(d.action == sbr_action::down_indirectly_connected);
    CHECK(d.to_down == set_of({4, 5}));
  }
  SECTION("together with a crashed node hidden behind them") {
    auto snap = partition(5, {1, 2});
    snap.unreachable_records = {{node(1), node(3)}, {node(4), node(5)}, {node(5), node(4)}};
    const auto d = resolve_split_brain(s, snap);
    CHECK(d.action == sbr_action::down_indirectly_connected);
    CHECK(d.to_down == set_of({3, 4, 5}));  // without the 4-5 records: 4 of 5 keep 3 out
  }
  SECTION("an unreachable node that has seen the current gossip") {
    auto snap = partition(5, {1, 3, 4, 5});
    snap.unreachable_records = {{node(1), node(2)}};
    snap.seen_by = set_of({1, 2, 3});
    CHECK(indirectly_connected(snap) == set_of({1, 2}));
    CHECK(resolve_split_brain(s, snap).to_down == set_of({1, 2}));
    snap.seen_by = set_of({1, 3});  // a clean crash: 2 has not seen it
    CHECK(indirectly_connected(snap).empty());
    CHECK(resolve_split_brain(s, snap).to_down == set_of({2}));
  }
  SECTION("records about other data centres are ignored") {
    auto snap = partition(5, {1, 2, 3, 4});
    snap.unreachable_records = {{node(8), node(5)}, {node(5), node(8)}, {node(1), node(5)}};
    CHECK(indirectly_connected(snap).empty());
    CHECK(resolve_split_brain(s, snap).to_down == set_of({5}));
  }
  SECTION("static-quorum and keep-oldest handle them too") {
    auto snap = partition(5, {1, 2, 3});
    snap.unreachable_records = {{node(4), node(5)}, {node(5), node(4)}};
    CHECK(resolve_split_brain(strategy(sbr_strategy::static_quorum), snap).to_down == set_of({4, 5}));
    CHECK(resolve_split_brain(strategy(sbr_strategy::keep_oldest), snap).to_down == set_of({4, 5}));
  }
}

TEST_CASE("no strategy lets both sides of a random partition survive", "[unit][sbr][property]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  const sbr_member_status statuses[] = {sbr_member_status::up, sbr_member_status::up,
                                        sbr_member_status::up, sbr_member_status::joining,
                                        sbr_member_status::weakly_up, sbr_member_status::leaving};
  int exactly_one = 0;
  for (int round = 0; round < 3000; ++round) {
    CAPTURE(round);
    const int n = 2 + static_cast<int>(rng() % 11);
    // A random two-way split, both sides non-empty.
    std::set<int> side_a;
    for (int i = 1; i <= n; ++i)
      if (rng() % 2 == 0) side_a.insert(i);
    if (side_a.empty()) side_a.insert(1);
    if (static_cast<int>(side_a.size()) == n) side_a.erase(n);
    const std::set<int> side_b = other(n, side_a);

    const bool all_up = rng() % 3 == 0;
    std::vector<sbr_member> members;
    int next_up = 1;
    for (int i = 1; i <= n; ++i) {
      sbr_member m;
      m.node = node(i);
      m.status = all_up ? sbr_member_status::up : statuses[rng() % 6];
      const bool was_up = m.status == sbr_member_status::up || m.status == sbr_member_status::leaving;
      m.up_number = was_up ? next_up++ : INT_MAX;
      if (rng() % 2 == 0) m.roles.insert("a");
      members.push_back(m);
    }
    sbr_settings s;
    s.strategy = static_cast<sbr_strategy>(rng() % 3);  // keep-majority, static-quorum, keep-oldest
    s.role = rng() % 2 == 0 ? "" : "a";
    s.quorum_size = static_cast<std::size_t>(n / 2 + 1);
    s.down_if_alone = rng() % 2 == 0;
    CAPTURE(n, side_a, all_up, to_string(s.strategy), s.role);

    // Each side sees the same members, its own side reachable; its lowest node decides.
    const auto decide_for = [&](const std::set<int>& side) {
      sbr_snapshot snap;
      snap.self = node(*side.begin());
      snap.members = members;
      for (auto& m : snap.members) m.reachable = side.count(static_cast<int>(m.node.uid)) != 0;
      snap.stable_for = 1h;
      return resolve_split_brain(s, snap);
    };
    const auto survives = [&](const std::set<int>& side, const sbr_decision& d) {
      return std::none_of(side.begin(), side.end(),
                          [&](int i) { return d.to_down.count(node(i)) != 0; });
    };
    const auto da = decide_for(side_a);
    const auto db = decide_for(side_b);
    INFO("A: " << da.reason << " / B: " << db.reason);
    REQUIRE(da.outcome == sbr_outcome::decided);
    REQUIRE(db.outcome == sbr_outcome::decided);
    const bool a_lives = survives(side_a, da);
    const bool b_lives = survives(side_b, db);
    CHECK_FALSE((a_lives && b_lives));

    // With every member up and someone holding the role, keep-majority keeps exactly one.
    const bool role_held = s.role.empty() || std::any_of(members.begin(), members.end(),
                                                         [](const sbr_member& m) { return m.roles.count("a") != 0; });
    if (s.strategy == sbr_strategy::keep_majority && all_up && role_held) {
      CHECK(a_lives != b_lives);
      ++exactly_one;
    }
  }
  CHECK(exactly_one > 100);
}
