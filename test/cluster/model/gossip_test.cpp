#include "troupe/cluster/model/gossip.hpp"

#include <catch2/catch.hpp>

#include <random>

#include "cluster/model/random_gossip.hpp"

using namespace std::chrono_literals;
using troupe::cluster::model::clock_ordering;
using troupe::cluster::model::gossip;
using troupe::cluster::model::gossip_digest;
using troupe::cluster::model::gossip_ordering;
using troupe::cluster::model::gossip_overview;
using troupe::cluster::model::member;
using troupe::cluster::model::member_status;
using troupe::cluster::model::reachability;
using troupe::cluster::model::reachability_status;
using troupe::cluster::model::unique_address;
using troupe::cluster::model::vector_clock;
using troupe::cluster::model::testing::random_history;
using troupe::cluster::model::testing::test_node;

namespace {

const unique_address a = test_node(1);
const unique_address b = test_node(2);
const unique_address c = test_node(3);
const unique_address d = test_node(4);

member at(const unique_address& n, member_status s, std::int32_t up_number = 1) {
  return member::restore(n, s, {}, {}, up_number);
}

// a, b, c up (ages 1..3), seen by all, version {a:1}.
gossip three_up() {
  return gossip{{at(c, member_status::up, 3), at(a, member_status::up, 1), at(b, member_status::up, 2)}}
      .increment(a)
      .seen(a)
      .seen(b)
      .seen(c);
}

}  // namespace

TEST_CASE("members are kept sorted by address and unique", "[unit][gossip]") {
  const gossip g{{member{c}, member{a}, at(b, member_status::up), at(b, member_status::leaving)}};
  REQUIRE(g.members().size() == 3);
  CHECK(g.members()[0].unique_address() == a);
  CHECK(g.members()[1].unique_address() == b);
  CHECK(g.members()[1].status() == member_status::leaving);  // the merge winner of the two
  CHECK(g.members()[2].unique_address() == c);
  CHECK_FALSE(g.invariant_violation());
}

TEST_CASE("member lookups", "[unit][gossip]") {
  const gossip g = three_up();
  CHECK(g.has_member(b));
  CHECK_FALSE(g.has_member(d));
  CHECK(g.find(d) == nullptr);
  CHECK(g.member(b).up_number() == 2);
  CHECK(g.member(d).status() == member_status::removed);  // placeholder
  CHECK(g.find_by_address(b.address)->unique_address() == b);
  CHECK(g.find_by_address(test_node(2, 77).address)->unique_address() == b);
  CHECK(g.find_by_address(d.address) == nullptr);
  CHECK_FALSE(g.is_singleton_cluster());
  CHECK(gossip{{member{a}}}.is_singleton_cluster());
  CHECK(gossip{}.members().empty());
}

TEST_CASE("roles of all members", "[unit][gossip]") {
  const gossip g{{member{a, {"x"}}, member{b, {"y", "x"}}, member{c}}};
  CHECK(g.all_roles() == std::set<std::string>{"x", "y"});
}

TEST_CASE("seen set operations", "[unit][gossip]") {
  const gossip g = gossip{{member{a}, member{b}, member{c}}};
  CHECK(g.seen_by().empty());
  const gossip s = g.seen(a).seen(b);
  CHECK(s.has_seen(a));
  CHECK_FALSE(s.has_seen(c));
  CHECK(s.only_seen(c).seen_by() == std::set<unique_address>{c});
  CHECK(s.clear_seen().seen_by().empty());
  CHECK(g.seen(c).merge_seen(s).seen_by() == std::set<unique_address>{a, b, c});
  CHECK(s.seen(a) == s);
}

TEST_CASE("compare follows the versions", "[unit][gossip]") {
  const gossip g = three_up();
  const gossip newer = g.increment(b);
  CHECK(compare(g, newer) == gossip_ordering::older);
  CHECK(compare(newer, g) == gossip_ordering::newer);
  CHECK(compare(g, g.clear_seen()) == gossip_ordering::same);
  CHECK(compare(newer, g.increment(c)) == gossip_ordering::concurrent);
}

TEST_CASE("digests: same version with other seen marks asks for a full exchange",
          "[unit][gossip]") {
  const gossip g = three_up();
  CHECK(compare(g.digest(), g.digest()) == gossip_ordering::same);
  CHECK(compare(g.digest(), g.only_seen(a).digest()) == gossip_ordering::concurrent);
  CHECK(compare(g.digest(), g.increment(a).digest()) == gossip_ordering::older);
  CHECK(g.digest().seen_digest == three_up().digest().seen_digest);
  CHECK(g.digest().seen_digest != g.clear_seen().digest().seen_digest);
}

TEST_CASE("update replaces members in place and adds new ones in order", "[unit][gossip]") {
  const gossip g = three_up().update({at(b, member_status::leaving, 2), member{d}, member{test_node(0)}});
  REQUIRE(g.members().size() == 5);
  CHECK(g.members().front().unique_address() == test_node(0));
  CHECK(g.member(b).status() == member_status::leaving);
  CHECK(g.member(d).status() == member_status::joining);
  CHECK_FALSE(g.invariant_violation());
}

TEST_CASE("mark_as_down downs the member and forgets it saw the version", "[unit][gossip]") {
  const gossip g = three_up().mark_as_down(b);
  CHECK(g.member(b).status() == member_status::down);
  CHECK_FALSE(g.has_seen(b));
  CHECK(g.has_seen(a));
  CHECK(g.mark_as_down(b) == g);
  CHECK(g.mark_as_down(d) == g);
}

TEST_CASE("remove leaves a tombstone and no trace elsewhere", "[unit][gossip]") {
  const gossip g = three_up()
                       .with_reachability(reachability{}.unreachable(a, b).unreachable(b, c))
                       .increment(b)
                       .mark_as_down(b);
  const gossip r = g.remove(b, 5s);
  CHECK_FALSE(r.has_member(b));
  CHECK_FALSE(r.has_seen(b));
  CHECK(r.reachability().is_all_reachable());
  CHECK(r.reachability().versions().count(b) == 0);
  CHECK(r.version().version_of(vector_clock::node_of(b)) == 0);
  CHECK(r.version().version_of(vector_clock::node_of(a)) == 1);
  CHECK(r.tombstones() == std::map<unique_address, gossip::time>{{b, 5s}});
  CHECK_FALSE(r.invariant_violation());
}

TEST_CASE("tombstones are pruned by age", "[unit][gossip]") {
  const gossip g = three_up().remove(b, 10s).remove(c, 20s);
  CHECK(g.prune_tombstones(10s).tombstones().size() == 2);
  CHECK(g.prune_tombstones(11s).tombstones() == std::map<unique_address, gossip::time>{{c, 20s}});
  CHECK(g.prune_tombstones(1h).tombstones().empty());
}

TEST_CASE("merge: the status furthest along wins, and the older age on a tie", "[unit][gossip]") {
  const gossip base = three_up();
  const gossip x = base.update({at(b, member_status::leaving, 2), member{d}}).increment(a);
  const gossip y = base.mark_as_down(b).update({*member{d}.copy_up(4)}).increment(c);
  REQUIRE(compare(x, y) == gossip_ordering::concurrent);
  const gossip m = merge(x, y);
  CHECK(m.member(b).status() == member_status::down);
  CHECK(m.member(d).status() == member_status::up);
  CHECK(m.member(d).up_number() == 4);
  CHECK(m.version().compare(x.version()) == clock_ordering::after);
  CHECK(m.version().compare(y.version()) == clock_ordering::after);
  CHECK(m.seen_by().empty());
  CHECK(m == merge(y, x));
}

TEST_CASE("merge: a removed member does not come back from a stale gossip", "[unit][gossip]") {
  const gossip stale = three_up().mark_as_down(c).increment(c);
  const gossip removed = three_up().mark_as_down(c).increment(a).remove(c, 1s);
  const gossip m = merge(stale, removed);
  CHECK_FALSE(m.has_member(c));
  CHECK(m.version().version_of(vector_clock::node_of(c)) == 0);
  CHECK(m.tombstones().contains(c));
  CHECK_FALSE(m.invariant_violation());
  // A member only one side knows (it joined meanwhile) is kept.
  const gossip joined = stale.update({member{d}});
  CHECK(merge(joined, removed).has_member(d));
}

TEST_CASE("merge: reachability merged over the surviving members", "[unit][gossip]") {
  const gossip base = three_up();
  const gossip x = base.with_reachability(reachability{}.unreachable(a, c)).increment(a);
  const gossip y = base.with_reachability(reachability{}.unreachable(b, a)).increment(b).remove(c, 1s);
  const gossip m = merge(x, y);
  CHECK(m.reachability().status(a) == reachability_status::unreachable);
  CHECK(m.reachability().all_unreachable() == std::set<unique_address>{a});
  CHECK_FALSE(m.invariant_violation());
}

TEST_CASE("reachability without downed observers", "[unit][gossip]") {
  const gossip g = three_up()
                       .with_reachability(reachability{}.unreachable(b, a).unreachable(c, b))
                       .mark_as_down(b);
  const reachability r = g.reachability_excluding_downed_observers();
  CHECK(r.is_reachable(a));
  CHECK_FALSE(r.is_reachable(b));
  CHECK_FALSE(g.is_reachable(b, a));
  CHECK(g.is_reachable(a, b));
  CHECK_FALSE(g.is_reachable(a, d));  // not a member
}

TEST_CASE("invariant violations are named", "[unit][gossip]") {
  const gossip ok = three_up();
  CHECK_FALSE(ok.invariant_violation());
  auto broken = [&](gossip_overview o, vector_clock v, std::map<unique_address, gossip::time> t) {
    return gossip{ok.members(), std::move(o), std::move(v), std::move(t)}.invariant_violation();
  };
  CHECK(broken({{d}, {}}, {}, {})->find("seen by non-member") == 0);
  CHECK(broken({{}, reachability{}.unreachable(a, d)}, {}, {})->find("reachability subject") == 0);
  CHECK(broken({{}, reachability{}.unreachable(d, a)}, {}, {})->find("reachability observer") == 0);
  CHECK(broken({}, {}, {{a, 1s}})->find("tombstoned member") == 0);
  CHECK(broken({}, vector_clock{}.increment(d), {{d, 1s}})->find("version counter") == 0);
  CHECK(gossip{{at(a, member_status::removed)}}.invariant_violation()->find("removed member") == 0);
}

TEST_CASE("to_string shows every part", "[unit][gossip]") {
  const std::string s = to_string(three_up().remove(c, 2ns));
  CHECK(s.find("member(troupe://sys@10.0.0.1:2552#1001, up, up_number=1)") != std::string::npos);
  CHECK(s.find("tombstones: troupe://sys@10.0.0.3:2552#1003 @2ns") != std::string::npos);
  CHECK(to_string(gossip_ordering::concurrent) == "concurrent");
}

TEST_CASE("merge is commutative, associative and idempotent over possible gossips",
          "[unit][gossip][property]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const random_history h{rng, 2 + static_cast<int>(rng() % 5)};
    const gossip x = h.replica(rng), y = h.replica(rng), z = h.replica(rng);
    CAPTURE(to_string(x), to_string(y), to_string(z));
    REQUIRE_FALSE(x.invariant_violation());
    const gossip xy = merge(x, y);
    CHECK_FALSE(xy.invariant_violation());
    CHECK(xy == merge(y, x));
    CHECK(merge(xy, z) == merge(x, merge(y, z)));
    CHECK(merge(x, x) == x.clear_seen());
    CHECK(merge(xy, y) == xy);
    // The merged version descends from x's, once the counters of removed nodes are pruned.
    vector_clock x_pruned = x.version();
    for (const auto& kv : xy.tombstones()) x_pruned = x_pruned.prune(kv.first);
    const auto after = xy.version().compare(x_pruned);
    CHECK((after == clock_ordering::after || after == clock_ordering::same));
    // Every node either survives in its furthest known status or is tombstoned.
    for (const auto& n : h.nodes()) {
      if (xy.tombstones().contains(n)) {
        CHECK_FALSE(xy.has_member(n));
      } else if (x.has_member(n) || y.has_member(n)) {
        REQUIRE(xy.has_member(n));
        CHECK(merge_precedence(xy.member(n).status()) >=
              std::max(x.has_member(n) ? merge_precedence(x.member(n).status()) : 0,
                       y.has_member(n) ? merge_precedence(y.member(n).status()) : 0));
      }
    }
  }
}

TEST_CASE("merge laws hold even for valid gossips of unrelated histories",
          "[unit][gossip][property]") {
  // Nodes disagree here in ways a real cluster cannot (two up numbers for one member, two
  // rows of one observer version); merge must still not depend on order or grouping.
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const int n = 2 + static_cast<int>(rng() % 5);
    const gossip x = random_history{rng, n}.replica(rng);
    const gossip y = random_history{rng, n}.replica(rng);
    const gossip z = random_history{rng, n}.replica(rng);
    CAPTURE(to_string(x), to_string(y), to_string(z));
    CHECK(merge(x, y) == merge(y, x));
    CHECK(merge(merge(x, y), z) == merge(x, merge(y, z)));
    CHECK(merge(merge(x, y), y) == merge(x, y));
    CHECK_FALSE(merge(x, y).invariant_violation());
  }
}

TEST_CASE("gossips derived from one another share their members", "[unit][gossip]") {
  const gossip g = three_up();
  // A seen mark, a version bump or a new reachability table copies no member.
  CHECK(g.seen(a).clear_seen().members().shares_items_with(g.members()));
  CHECK(g.increment(b).members().shares_items_with(g.members()));
  // A change copies the list of pointers, never the unchanged members.
  const gossip h = g.mark_as_down(c);
  CHECK_FALSE(h.members().shares_items_with(g.members()));
  CHECK(&h.members()[0] == &g.members()[0]);
  CHECK(&h.members()[2] != &g.members()[2]);
  // A merge whose members all come from one side takes that side's list whole.
  const gossip newer = h.increment(a);
  CHECK(merge(newer, g.increment(b)).members().shares_items_with(newer.members()));
  CHECK(merge(g.increment(b), newer).members().shares_items_with(newer.members()));
}

TEST_CASE("seen marks follow their members when members come and go", "[unit][gossip]") {
  const gossip g = three_up().only_seen(b).seen(c);
  const gossip with_d = g.update({member{d}});
  CHECK(with_d.seen_by() == std::set<unique_address>{b, c});
  CHECK(with_d.seen_count() == 2);
  CHECK_FALSE(with_d.has_seen(d));
  const gossip without_b = with_d.remove(b, 1s);
  CHECK(without_b.seen_by() == std::set<unique_address>{c});
  CHECK(without_b.has_seen(c));
  CHECK(without_b.seen_count() == 1);
  CHECK(without_b.seen(d).seen_by() == std::set<unique_address>{c, d});
  CHECK_FALSE(without_b.invariant_violation());
}

TEST_CASE("merge_seen unites seen sets of equal gossips built apart", "[unit][gossip]") {
  // Two nodes that merged the same pair hold equal members in separate lists.
  const gossip x = three_up().only_seen(a);
  const gossip y = gossip{{at(a, member_status::up, 1), at(b, member_status::up, 2), at(c, member_status::up, 3)}}
                       .increment(a)
                       .seen(b);
  REQUIRE_FALSE(x.members().shares_items_with(y.members()));
  CHECK(x.merge_seen(y).seen_by() == std::set<unique_address>{a, b});
  CHECK(y.merge_seen(x).seen_by() == std::set<unique_address>{a, b});
  // A mark of a node that is not a member here is kept, and shows as invalid.
  const gossip with_d = y.update({member{d}}).seen(d);
  const gossip merged = x.merge_seen(with_d);
  CHECK(merged.seen_by() == std::set<unique_address>{a, b, d});
  CHECK(merged.invariant_violation()->find("seen by non-member") == 0);
}
