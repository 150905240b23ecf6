// The replicator's entry merge: a join over values, deletion, pruning states and delta numbers.
#include "troupe/ddata/replicator_protocol.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <set>
#include <string>

#include "ddata/property.hpp"
#include "troupe/ddata/gcounter.hpp"
#include "troupe/ddata/orset.hpp"

namespace dd = troupe::ddata;
using dd::data_envelope;
using dd::gcounter;
using dd::replica_id;
using dd::replicated_data;
using namespace std::chrono_literals;
using troupe::ddata::testing::chance;
using troupe::ddata::testing::pick;
using troupe::ddata::testing::seed_for;
using troupe::ddata::testing::test_replica;

namespace {

/// A random entry over 4 replicas: counts, sometimes deleted, pruning states of replica 4
/// (as replicas hold them: no entries of a replica whose pruning was performed).
data_envelope random_entry(std::mt19937& rng) {
  data_envelope e;
  if (chance(rng, 0.05)) return data_envelope::deleted_entry();
  gcounter g;
  for (int r = 1; r <= 4; ++r)
    if (chance(rng, 0.6)) g.increment(test_replica(r), pick(rng, 5));
  e.data = replicated_data{g};
  const int p = static_cast<int>(pick(rng, 4));
  if (p == 1) {  // performed: the entry holds nothing of replica 4 any more
    e.pruning[test_replica(4)] = dd::pruning_performed{std::chrono::seconds(100 + pick(rng, 3))};
    e.data.pruning_cleanup(test_replica(4));
  }
  if (p == 2) {
    dd::pruning_initialized init{test_replica(1 + static_cast<int>(pick(rng, 2))), {}};
    if (chance(rng, 0.5)) init.seen.insert(test_replica(3));
    e.pruning[test_replica(4)] = init;
  }
  for (int r = 1; r <= 3; ++r)
    if (chance(rng, 0.5)) e.delta_versions[test_replica(r)] = pick(rng, 4);
  return e;
}

data_envelope join(data_envelope a, const data_envelope& b) {
  REQUIRE(dd::merge(a, b, false, 10s));
  return a;
}

}  // namespace

TEST_CASE("entry merge is commutative, associative and idempotent", "[unit][ddata][replicator]") {
  const std::uint32_t seed = seed_for(200);
  CAPTURE(seed);
  std::mt19937 rng(seed);
  for (int run = 0; run < 300; ++run) {
    CAPTURE(run);
    const auto a = random_entry(rng), b = random_entry(rng), c = random_entry(rng);
    REQUIRE(join(a, b) == join(b, a));
    REQUIRE(join(join(a, b), c) == join(a, join(b, c)));
    REQUIRE(join(a, a) == a);
    REQUIRE(join(join(a, b), b) == join(a, b));
  }
}

TEST_CASE("entry merge: deletion wins, pruned replicas are cleaned, types never mix", "[unit][ddata][replicator]") {
  const replica_id a = test_replica(1), removed = test_replica(4);
  gcounter g;
  g.increment(a, 2);
  g.increment(removed, 5);
  data_envelope stale;
  stale.data = replicated_data{g};
  stale.delta_versions[removed] = 7;
  // 1. The pruned value (removed's 5 folded into a) with its marker: merging the stale copy
  //    does not count the 5 twice, and forgets removed's delta number.
  gcounter pruned_value = g;
  pruned_value.prune(removed, a);
  data_envelope pruned;
  pruned.data = replicated_data{pruned_value};
  pruned.pruning[removed] = dd::pruning_performed{100s};
  data_envelope x = pruned;
  REQUIRE(dd::merge(x, stale, false, 10s));
  CHECK(x.data.get_if<gcounter>()->value() == 7);
  CHECK(x.delta_versions.count(removed) == 0);
  data_envelope y = stale;
  REQUIRE(dd::merge(y, pruned, false, 10s));
  CHECK(y == x);
  // 2. Expired markers are dropped in the merge.
  data_envelope z = pruned;
  REQUIRE(dd::merge(z, data_envelope{}, false, 200s));
  CHECK(z.pruning.empty());
  // 3. Deleted wins, whichever side.
  data_envelope d = data_envelope::deleted_entry();
  REQUIRE(dd::merge(d, stale, false, 10s));
  CHECK(d.deleted);
  CHECK(d.data.empty());
  data_envelope s2 = stale;
  REQUIRE(dd::merge(s2, data_envelope::deleted_entry(), false, 10s));
  CHECK(s2 == data_envelope::deleted_entry());
  // 4. Another type: an error, and nothing changes.
  data_envelope other;
  other.data = replicated_data{dd::orset<std::string>{}};
  other.pruning[a] = dd::pruning_performed{100s};
  data_envelope kept = stale;
  const auto st = dd::merge(kept, other, false, 10s);
  REQUIRE_FALSE(st);
  CHECK(st.error().code == dd::ddata_errc::type_mismatch);
  CHECK(kept == stale);
}

TEST_CASE("pruning states: performed wins, the smaller owner wins, seen sets unite", "[unit][ddata][replicator]") {
  const replica_id a = test_replica(1), b = test_replica(2), c = test_replica(3);
  const dd::pruning_state ia = dd::pruning_initialized{a, {c}};
  const dd::pruning_state ia2 = dd::pruning_initialized{a, {b}};
  const dd::pruning_state ib = dd::pruning_initialized{b, {a, c}};
  const dd::pruning_state p1 = dd::pruning_performed{5s}, p2 = dd::pruning_performed{9s};
  CHECK(dd::merge(ia, ia2) == dd::pruning_state{dd::pruning_initialized{a, {b, c}}});
  CHECK(dd::merge(ia, ib) == ia);
  CHECK(dd::merge(ib, ia) == ia);
  CHECK(dd::merge(ib, p1) == p1);
  CHECK(dd::merge(p1, ia) == p1);
  CHECK(dd::merge(p1, p2) == p2);
  CHECK(dd::merge(p2, p1) == p2);
}
