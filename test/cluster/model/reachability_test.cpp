#include "troupe/cluster/model/reachability.hpp"

#include <catch2/catch.hpp>

#include <random>

#include "cluster/model/random_gossip.hpp"

using troupe::cluster::model::gossip;
using troupe::cluster::model::reachability;
using troupe::cluster::model::reachability_record;
using troupe::cluster::model::reachability_status;
using troupe::cluster::model::unique_address;
using troupe::cluster::model::testing::random_history;
using troupe::cluster::model::testing::test_node;

namespace {

const unique_address a = test_node(1);
const unique_address b = test_node(2);
const unique_address c = test_node(3);
const unique_address d = test_node(4);
const unique_address e = test_node(5);

std::set<unique_address> all_of_them() { return {a, b, c, d, e}; }

}  // namespace

TEST_CASE("an empty table finds everyone reachable", "[unit][reachability]") {
  const reachability r;
  CHECK(r.is_all_reachable());
  CHECK(r.is_reachable(a));
  CHECK(r.is_reachable(a, b));
  CHECK(r.status(b) == reachability_status::reachable);
  CHECK(r.all_unreachable().empty());
  CHECK(r.records().empty());
  CHECK(r.version(a) == 0);
}

TEST_CASE("one observer is enough to make a node unreachable", "[unit][reachability]") {
  const reachability r = reachability{}.unreachable(a, b);
  CHECK_FALSE(r.is_all_reachable());
  CHECK(r.status(b) == reachability_status::unreachable);
  CHECK(r.status(a, b) == reachability_status::unreachable);
  CHECK(r.status(c, b) == reachability_status::reachable);
  CHECK(r.is_reachable(c, b));
  CHECK(r.all_unreachable() == std::set<unique_address>{b});
  CHECK(r.all_unreachable_from(a) == std::set<unique_address>{b});
  CHECK(r.all_unreachable_from(c).empty());
  CHECK(r.version(a) == 1);
  CHECK(r.all_observers() == std::set<unique_address>{a});
}

TEST_CASE("reachable again only when every observer agrees", "[unit][reachability]") {
  reachability r = reachability{}.unreachable(a, c).unreachable(b, c);
  CHECK(r.observers_grouped_by_unreachable() ==
        std::map<unique_address, std::set<unique_address>>{{c, {a, b}}});
  r = r.reachable(a, c);
  CHECK(r.status(c) == reachability_status::unreachable);
  CHECK(r.all_observers() == std::set<unique_address>{b});  // a's row dropped: all reachable
  CHECK(r.version(a) == 2);
  r = r.reachable(b, c);
  CHECK(r.status(c) == reachability_status::reachable);
  CHECK(r.is_all_reachable());
  CHECK(r.records().empty());
}

TEST_CASE("terminated wins over unreachable and is final", "[unit][reachability]") {
  reachability r = reachability{}.unreachable(a, c).terminated(b, c);
  CHECK(r.status(c) == reachability_status::terminated);
  CHECK(r.all_unreachable().empty());  // terminated ones are not listed as unreachable
  CHECK(r.all_unreachable_or_terminated() == std::set<unique_address>{c});
  const reachability again = r.reachable(b, c);
  CHECK(again == r);
  CHECK(again.status(b, c) == reachability_status::terminated);
}

TEST_CASE("no-op observations change nothing, not even the version", "[unit][reachability]") {
  const reachability r = reachability{}.unreachable(a, b);
  CHECK(r.unreachable(a, b) == r);
  CHECK(reachability{}.reachable(a, b) == reachability{});
  CHECK(r.reachable(a, c) == r);  // c never had a record
}

TEST_CASE("a row keeps reachable records while another subject is unreachable",
          "[unit][reachability]") {
  reachability r = reachability{}.unreachable(a, b).unreachable(a, c).reachable(a, b);
  CHECK(r.status(a, b) == reachability_status::reachable);
  CHECK(r.records_from(a).size() == 2);
  CHECK(r.records_from(a)[0] == reachability_record{a, b, reachability_status::reachable, 3});
  CHECK(r.all_unreachable_from(a) == std::set<unique_address>{c});
  r = r.reachable(a, c);
  CHECK(r.records().empty());
  CHECK(r.version(a) == 4);
}

TEST_CASE("merge takes the newer row of each observer", "[unit][reachability]") {
  const reachability base = reachability{}.unreachable(a, c);
  const reachability healed = base.reachable(a, c);        // a: v2, no records
  const reachability other = base.unreachable(b, d);       // a: v1, b: v1
  const reachability m = healed.merge(all_of_them(), other);
  CHECK(m.status(c) == reachability_status::reachable);   // a's newer row wins whole
  CHECK(m.status(d) == reachability_status::unreachable);
  CHECK(m.version(a) == 2);
  CHECK(m.version(b) == 1);
  CHECK(m == other.merge(all_of_them(), healed));
}

TEST_CASE("merge drops observers and subjects that are not allowed", "[unit][reachability]") {
  const reachability x = reachability{}.unreachable(a, c).unreachable(a, d).unreachable(b, c);
  const reachability m = x.merge({a, c}, reachability{});
  CHECK(m.records() ==
        std::vector<reachability_record>{{a, c, reachability_status::unreachable, 1}});
  CHECK(m.versions() == std::map<unique_address, std::uint64_t>{{a, 2}});
}

TEST_CASE("remove forgets nodes as observers and as subjects", "[unit][reachability]") {
  const reachability x = reachability{}.unreachable(a, c).unreachable(b, a).unreachable(b, d);
  const reachability r = x.remove({a});
  CHECK(r.records() ==
        std::vector<reachability_record>{{b, d, reachability_status::unreachable, 2}});
  CHECK_FALSE(r.versions().contains(a));
  const reachability o = x.remove_observers({b});
  CHECK(o.all_observers() == std::set<unique_address>{a});
  CHECK(o.status(d) == reachability_status::reachable);
  CHECK(o.version(b) == 0);
}

TEST_CASE("restore rebuilds a table from its records", "[unit][reachability]") {
  const reachability x = reachability{}.unreachable(a, c).terminated(b, a).reachable(b, c);
  CHECK(reachability::restore(x.records(), x.versions()) == x);
  CHECK(to_string(reachability{}) == "all reachable");
  CHECK(to_string(reachability{}.unreachable(a, b)) ==
        "troupe://sys@10.0.0.1:2552#1001 -> troupe://sys@10.0.0.2:2552#1002: unreachable (1)");
}

TEST_CASE("merge is commutative, associative and idempotent over possible tables",
          "[unit][reachability][property]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const random_history h{rng, 5};
    const gossip ga = h.replica(rng), gb = h.replica(rng), gc = h.replica(rng);
    const reachability& x = ga.reachability();
    const reachability& y = gb.reachability();
    const reachability& z = gc.reachability();
    CAPTURE(to_string(x), to_string(y), to_string(z));
    std::set<unique_address> allowed;
    for (const auto& n : h.nodes())
      if (ga.has_member(n) || gb.has_member(n) || gc.has_member(n)) allowed.insert(n);
    CHECK(x.merge(allowed, y) == y.merge(allowed, x));
    CHECK(x.merge(allowed, y).merge(allowed, z) == x.merge(allowed, y.merge(allowed, z)));
    CHECK(x.merge(allowed, x) == x);
    CHECK(x.merge(allowed, y).merge(allowed, y) == x.merge(allowed, y));
    // Nothing is lost: every observer ends at the higher of the two versions.
    for (const auto& n : allowed)
      CHECK(x.merge(allowed, y).version(n) == std::max(x.version(n), y.version(n)));
  }
}

TEST_CASE("merge laws hold even for tables of unrelated histories",
          "[unit][reachability][property]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng{seed};
  std::set<unique_address> allowed;
  for (int i = 1; i <= 5; ++i) allowed.insert(test_node(i));
  for (int round = 0; round < 200; ++round) {
    CAPTURE(round);
    const reachability x = random_history{rng, 5}.replica(rng).reachability();
    const reachability y = random_history{rng, 5}.replica(rng).reachability();
    const reachability z = random_history{rng, 5}.replica(rng).reachability();
    CAPTURE(to_string(x), to_string(y), to_string(z));
    CHECK(x.merge(allowed, y) == y.merge(allowed, x));
    CHECK(x.merge(allowed, y).merge(allowed, z) == x.merge(allowed, y.merge(allowed, z)));
    CHECK(x.merge(allowed, x) == x);
  }
}
