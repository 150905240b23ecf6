// Where a singleton lives (oldest_member) and when a node must stop its singletons
// because it is on the losing side of a partition (on_losing_side).
#include "troupe/cluster/model/oldest.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "cluster/model/random_gossip.hpp"
#include "troupe/cluster/model/membership_state.hpp"
#include "troupe/cluster/model/split_brain_resolver.hpp"

using namespace std::chrono_literals;
using troupe::cluster::model::all_member_statuses;
using troupe::cluster::model::gossip;
using troupe::cluster::model::holds_singleton_place;
using troupe::cluster::model::member;
using troupe::cluster::model::member_status;
using troupe::cluster::model::oldest_member;
using troupe::cluster::model::on_losing_side;
using troupe::cluster::model::reachability;
using troupe::cluster::model::sbr_settings;
using troupe::cluster::model::sbr_strategy;
using troupe::cluster::model::unique_address;
using troupe::cluster::model::testing::test_node;

namespace {

using enum member_status;

member at(int i, member_status s, std::int32_t up_number, std::set<std::string> roles = {}) {
  return member::restore(test_node(i), s, std::move(roles), {}, up_number);
}

unique_address oldest_of(const gossip& g, const std::string& role = "") {
  const auto m = oldest_member(g, role);
  REQUIRE(m);
  return m->unique_address();
}

// Nodes 1..n up with up numbers 1..n: node 1 is the oldest.
std::vector<member> up_members(int n) {
  std::vector<member> out;
  for (int i = 1; i <= n; ++i) out.push_back(at(i, up, i));
  return out;
}

// The view of the nodes in `side` during a partition of nodes 1..n: each of them finds
// every node outside `side` unreachable, and only they have seen this version.
gossip side_view(int n, const std::set<int>& side) {
  gossip g{up_members(n)};
  reachability r;
  for (int o : side)
    for (int s = 1; s <= n; ++s)
      if (!side.contains(s)) r = r.unreachable(test_node(o), test_node(s));
  g = g.with_reachability(r);
  for (int o : side) g = g.seen(test_node(o));
  return g;
}

sbr_settings with_strategy(sbr_strategy st) {
  sbr_settings s;
  s.strategy = st;
  if (st == sbr_strategy::static_quorum) s.quorum_size = 3;
  return s;
}

}  // namespace

TEST_CASE("oldest_member: the lowest up number, ties broken by unique address", "[unit][oldest]") {
  CHECK_FALSE(oldest_member(gossip{}, ""));
  CHECK(oldest_of(gossip{{at(3, up, 1), at(1, up, 2), at(2, up, 3)}}) == test_node(3));
  // Equal up numbers (two leaders on two sides of an old partition): the lower address.
  CHECK(oldest_of(gossip{{at(3, up, 1), at(2, up, 1)}}) == test_node(2));
}

TEST_CASE("oldest_member: which statuses hold the singleton's place", "[unit][oldest]") {
  const std::set<member_status> holders{up, leaving, preparing_for_shutdown, ready_for_shutdown, down};
  for (const auto s : all_member_statuses) {
    INFO(to_string(s));
    CHECK(holds_singleton_place(s) == holders.contains(s));
    if (s == removed) continue;  // a removed member is not in a gossip
    // Node 1 (up number 1) in status s, node 2 up: node 1 is the oldest exactly when its
    // status holds the place.
    const gossip g{{at(1, s, 1), at(2, up, 2)}};
    CHECK((oldest_of(g) == test_node(1)) == holders.contains(s));
  }
  // Joining and weakly up members have no up number, and are not candidates even alone.
  CHECK_FALSE(oldest_member(gossip{{member::restore(test_node(1), joining, {}, {}, member::no_up_number)}}, ""));
  CHECK_FALSE(oldest_member(gossip{{member::restore(test_node(1), weakly_up, {}, {}, member::no_up_number)}}, ""));
  // A member downed while joining never held the singleton.
  CHECK(oldest_of(gossip{{member::restore(test_node(1), down, {}, {}, member::no_up_number), at(2, up, 5)}}) ==
        test_node(2));
}

TEST_CASE("oldest_member: a crashed oldest keeps its place until it is removed", "[unit][oldest]") {
  gossip g{up_members(3)};
  CHECK(oldest_of(g) == test_node(1));
  g = g.with_reachability(reachability{}.unreachable(test_node(2), test_node(1)));
  CHECK(oldest_of(g) == test_node(1));  // unreachable: reachability does not matter
  g = g.mark_as_down(test_node(1));
  CHECK(oldest_of(g) == test_node(1));  // down: still its place (Akka's rule)
  g = g.remove(test_node(1), 1s);
  CHECK(oldest_of(g) == test_node(2));  // removed: the next oldest
}

TEST_CASE("oldest_member: a leaving oldest keeps its place until it is exiting", "[unit][oldest]") {
  gossip g{up_members(3)};
  g = g.update({*g.member(test_node(1)).copy_with_status(leaving)});
  CHECK(oldest_of(g) == test_node(1));
  g = g.update({*g.member(test_node(1)).copy_with_status(exiting)});
  CHECK(oldest_of(g) == test_node(2));  // exiting: it hands over
}

TEST_CASE("oldest_member: only members with the role, or all for an empty role", "[unit][oldest]") {
  const gossip g{{at(1, up, 1, {"frontend"}), at(2, up, 2, {"backend", "x"}), at(3, up, 3, {"backend"}),
                  at(4, leaving, 4, {"y"})}};
  CHECK(oldest_of(g) == test_node(1));
  CHECK(oldest_of(g, "backend") == test_node(2));
  CHECK(oldest_of(g, "x") == test_node(2));
  CHECK(oldest_of(g, "y") == test_node(4));
  CHECK_FALSE(oldest_member(g, "nobody"));
}

TEST_CASE("on_losing_side: false without unreachable members", "[unit][oldest]") {
  gossip g{up_members(5)};
  for (int i = 1; i <= 5; ++i) CHECK_FALSE(on_losing_side(g, test_node(i), sbr_settings{}));
}

TEST_CASE("on_losing_side: keep-majority fences the minority at once, not the majority", "[unit][oldest]") {
  sbr_settings s;  // keep-majority, stable-after 20 s: the wait does not matter here
  const gossip minority = side_view(5, {1, 2});
  const gossip majority = side_view(5, {3, 4, 5});
  CHECK(on_losing_side(minority, test_node(1), s));
  CHECK(on_losing_side(minority, test_node(2), s));
  for (int i : {3, 4, 5}) CHECK_FALSE(on_losing_side(majority, test_node(i), s));
  // Healed: the minority's view without unreachable members.
  CHECK_FALSE(on_losing_side(minority.with_reachability(reachability{}), test_node(1), s));
}

TEST_CASE("on_losing_side: a node others find unreachable is on the losing side of its own view",
          "[unit][oldest]") {
  // Node 1 hears everyone, but the others' records (gossiped to it) say it is unreachable.
  gossip g{up_members(5)};
  reachability r;
  for (int o = 2; o <= 5; ++o) r = r.unreachable(test_node(o), test_node(1));
  g = g.with_reachability(r);
  for (int o = 2; o <= 5; ++o) g = g.seen(test_node(o));
  CHECK(on_losing_side(g, test_node(1), sbr_settings{}));
  CHECK_FALSE(on_losing_side(g, test_node(2), sbr_settings{}));
}

TEST_CASE("on_losing_side: each strategy's decision", "[unit][oldest]") {
  const gossip with_oldest = side_view(5, {1, 2});    // the oldest (node 1) in the minority
  const gossip without = side_view(5, {3, 4, 5});
  SECTION("keep-oldest keeps the oldest's side, even a minority") {
    const auto s = with_strategy(sbr_strategy::keep_oldest);
    CHECK_FALSE(on_losing_side(with_oldest, test_node(1), s));
    CHECK_FALSE(on_losing_side(with_oldest, test_node(2), s));
    CHECK(on_losing_side(without, test_node(3), s));
  }
  SECTION("static-quorum: the side with fewer than quorum-size members") {
    const auto s = with_strategy(sbr_strategy::static_quorum);  // quorum 3 of 5
    CHECK(on_losing_side(with_oldest, test_node(1), s));
    CHECK_FALSE(on_losing_side(without, test_node(4), s));
  }
  SECTION("down-all: every side") {
    const auto s = with_strategy(sbr_strategy::down_all);
    CHECK(on_losing_side(with_oldest, test_node(1), s));
    CHECK(on_losing_side(without, test_node(3), s));
  }
}

TEST_CASE("on_losing_side: indirectly connected members are fenced, the others not", "[unit][oldest]") {
  // 1 and 2 find each other unreachable (a cycle); 3, 4, 5 hear everyone.
  gossip g{up_members(5)};
  g = g.with_reachability(
      reachability{}.unreachable(test_node(1), test_node(2)).unreachable(test_node(2), test_node(1)));
  for (int o : {3, 4, 5}) g = g.seen(test_node(o));
  CHECK(on_losing_side(g, test_node(1), sbr_settings{}));
  CHECK(on_losing_side(g, test_node(2), sbr_settings{}));
  CHECK_FALSE(on_losing_side(g, test_node(3), sbr_settings{}));
}

TEST_CASE("on_losing_side: members already down or exiting are not downed again", "[unit][oldest]") {
  gossip g = side_view(5, {1, 2});
  g = g.mark_as_down(test_node(1));
  // Node 1 is down already (it stops for that reason); node 2 is still on the losing side.
  CHECK_FALSE(on_losing_side(g, test_node(1), sbr_settings{}));
  CHECK(on_losing_side(g, test_node(2), sbr_settings{}));
}

TEST_CASE("on_losing_side: the resolver's role counts only members with it", "[unit][oldest]") {
  // Nodes 1 and 2 (the minority) are the only ones with "db": counted alone they win.
  std::vector<member> ms;
  for (int i = 1; i <= 5; ++i) ms.push_back(at(i, up, i, i <= 2 ? std::set<std::string>{"db"} : std::set<std::string>{}));
  gossip g{ms};
  reachability r;
  for (int o : {1, 2})
    for (int t : {3, 4, 5}) r = r.unreachable(test_node(o), test_node(t));
  g = g.with_reachability(r).seen(test_node(1)).seen(test_node(2));
  sbr_settings s;
  CHECK(on_losing_side(g, test_node(1), s));
  s.role = "db";
  CHECK_FALSE(on_losing_side(g, test_node(1), s));
}

TEST_CASE("fenced_after: a fence lifts only once nobody is unreachable, not when the resolver turns",
          "[unit][oldest]") {
  using troupe::cluster::model::fenced_after;
  const sbr_settings s;  // keep-majority
  // Node 1 cut off from 2 and 3: it is on the losing side.
  const gossip cut = side_view(3, {1});
  REQUIRE(fenced_after(false, cut, test_node(1), s));
  // Healing: node 1 hears node 3 again, only its record of node 2 is left. Counted alone,
  // that record puts node 1 on the winning side ({1, 3} against 2) ...
  gossip healing{up_members(3)};
  healing = healing.with_reachability(reachability{}.unreachable(test_node(1), test_node(2)));
  REQUIRE_FALSE(on_losing_side(healing, test_node(1), s));
  // ... but a fenced node stays fenced: node 2, which may hold what its entities need,
  // is still cut off in its view.
  CHECK(fenced_after(true, healing, test_node(1), s));
  CHECK_FALSE(fenced_after(false, healing, test_node(1), s));  // a node never fenced is not fenced by it
  // Healed: lifted.
  CHECK_FALSE(fenced_after(true, gossip{up_members(3)}, test_node(1), s));
  // A node on the winning side is never fenced, and without unreachable members nobody is.
  CHECK_FALSE(fenced_after(false, side_view(3, {2, 3}), test_node(2), s));
}
