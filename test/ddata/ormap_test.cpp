#include "troupe/ddata/ormap.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <string>

#include "ddata/property.hpp"
#include "troupe/ddata/orset.hpp"
#include "troupe/ddata/pncounter.hpp"

using troupe::ddata::ormap;
using troupe::ddata::orset;
using troupe::ddata::pncounter;
using troupe::ddata::replica_id;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);
const replica_id c = test_replica(3);

using counters = ormap<std::string, pncounter>;
using sets = ormap<std::string, orset<std::string>>;

std::string key(std::mt19937& rng) { return std::string(1, static_cast<char>('k' + pick(rng, 4))); }

void counters_op(counters& x, const replica_id& self, std::mt19937& rng) {
  const int what = static_cast<int>(pick(rng, 10));
  if (what < 7) {
    const auto n = static_cast<std::int64_t>(pick(rng, 5)) - 2;
    x.update(self, key(rng), [&](pncounter& v) { v.increment(self, n); });
  } else if (what < 9) {
    x.remove(key(rng));
  } else {
    pncounter fresh;
    fresh.increment(self, 10);
    x.put(self, key(rng), fresh);
  }
}

void sets_op(sets& x, const replica_id& self, std::mt19937& rng) {
  const int what = static_cast<int>(pick(rng, 10));
  const std::string e(1, static_cast<char>('a' + pick(rng, 4)));
  if (what < 5) {
    x.update(self, key(rng), [&](orset<std::string>& v) { v.add(self, e); });
  } else if (what < 8) {
    x.update(self, key(rng), [&](orset<std::string>& v) { v.remove(e); });
  } else {
    x.remove(key(rng));
  }
}

std::map<std::string, std::int64_t> counts_of(const counters& x) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [k, v] : x.entries()) out[k] = v.value();
  return out;
}

std::map<std::string, std::set<std::string>> elements_of(const sets& x) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [k, v] : x.entries()) out[k] = v.elements();
  return out;
}

/// The number of dots of `key` (0 when absent).
std::size_t dot_count(const counters& x, const std::string& key) {
  const auto* ds = x.kernel().find(key);
  return ds == nullptr ? 0 : ds->size();
}

pncounter counter_of(const replica_id& r, std::int64_t n) {
  pncounter p;
  p.increment(r, n);
  return p;
}

}  // namespace

TEST_CASE("ormap puts, updates and removes keys", "[unit][ddata][ormap]") {
  counters x;
  x.update(a, "apples", [&](pncounter& v) { v.increment(a, 3); });
  x.update(a, "pears", [&](pncounter& v) { v.increment(a, 1); });
  x.update(a, "apples", [&](pncounter& v) { v.decrement(a, 1); });
  CHECK(x.get("apples")->value() == 2);
  CHECK(x.keys() == std::set<std::string>{"apples", "pears"});
  x.remove("pears");
  CHECK_FALSE(x.contains("pears"));
  CHECK_FALSE(x.get("pears"));
  CHECK(x.size() == 1);
  x.put(b, "plums", counter_of(b, 7));
  CHECK(counts_of(x) == std::map<std::string, std::int64_t>{{"apples", 2}, {"plums", 7}});
  x.clear();
  CHECK(x.empty());
}

TEST_CASE("ormap joins the values of concurrent updates of one key", "[unit][ddata][ormap]") {
  counters x;
  x.update(a, "k", [&](pncounter& v) { v.increment(a, 1); });
  counters y = x;
  x.update(a, "k", [&](pncounter& v) { v.increment(a, 2); });
  y.update(b, "k", [&](pncounter& v) { v.increment(b, 5); });
  x.merge(y);
  CHECK(dot_count(x, "k") == 2);  // one dot per concurrent write
  CHECK(x.get("k")->value() == 8);
  x.update(c, "k", [&](pncounter& v) { v.increment(c, 1); });
  CHECK(dot_count(x, "k") == 1);  // a write supersedes what it saw
  CHECK(x.get("k")->value() == 9);
}

TEST_CASE("ormap: an update concurrent with a remove keeps the key", "[unit][ddata][ormap]") {
  counters x;
  x.update(a, "k", [&](pncounter& v) { v.increment(a, 4); });
  counters y = x;
  x.remove("k");
  y.update(b, "k", [&](pncounter& v) { v.increment(b, 1); });
  counters xy = x, yx = y;
  xy.merge(y);
  yx.merge(x);
  CHECK(xy == yx);
  CHECK(xy.get("k")->value() == 5);  // the updating replica's value, with what it held
}

TEST_CASE("ormap: a key removed and written again starts afresh", "[unit][ddata][ormap]") {
  counters x;
  x.update(a, "k", [&](pncounter& v) { v.increment(a, 4); });
  counters y = x;
  x.remove("k");
  y.merge(x);
  y.update(b, "k", [&](pncounter& v) { v.increment(b, 1); });
  x.merge(y);
  CHECK(x.get("k")->value() == 1);
}

TEST_CASE("ormap of sets merges the sets of concurrent writes", "[unit][ddata][ormap]") {
  sets x;
  x.update(a, "k", [&](orset<std::string>& v) { v.add(a, "one"); });
  sets y = x;
  x.update(a, "k", [&](orset<std::string>& v) { v.remove("one"); });
  y.update(b, "k", [&](orset<std::string>& v) { v.add(b, "two"); });
  x.merge(y);
  CHECK(x.get("k")->elements() == std::set<std::string>{"two"});
}

TEST_CASE("ormap pruning writes affected keys again with pruned values", "[unit][ddata][ormap]") {
  counters x;
  x.update(c, "k", [&](pncounter& v) { v.increment(c, 3); });
  x.update(a, "k", [&](pncounter& v) { v.increment(a, 1); });  // a's dot, c's count inside
  x.update(a, "l", [&](pncounter& v) { v.increment(a, 2); });
  CHECK(x.needs_pruning_from(c));
  CHECK(x.modified_by() == std::set<replica_id>{a, c});
  x.prune(c, a);
  CHECK(counts_of(x) == std::map<std::string, std::int64_t>{{"k", 4}, {"l", 2}});
  CHECK_FALSE(x.needs_pruning_from(c));
  CHECK(x.get("k")->increments().value_of(a) == 4);
  CHECK(x.kernel().entries().at("k").begin()->first.replica == a);
}

TEST_CASE("ormap properties, counter values", "[unit][ddata][ormap][property]") {
  check_merge_is_a_join<counters>(counters_op);
  check_deltas_match_full_merge<counters>(counters_op);
  check_convergence<counters>(counters_op);
  check_pruning_keeps_value<counters>(counters_op, counts_of);
}

TEST_CASE("ormap properties, set values", "[unit][ddata][ormap][property]") {
  check_merge_is_a_join<sets>(sets_op, 100);
  check_deltas_match_full_merge<sets>(sets_op, 100);
  check_convergence<sets>(sets_op, 40);
  check_pruning_keeps_value<sets>(sets_op, elements_of, 60);
}
