#include "troupe/ddata/replicated_data.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "ddata/property.hpp"
#include "troupe/ddata/ddata.hpp"

namespace dd = troupe::ddata;
using dd::replica_id;
using dd::replicated_data;
using namespace troupe::ddata::testing;

namespace {

const replica_id a = test_replica(1);
const replica_id b = test_replica(2);
const replica_id c = test_replica(3);

/// A user type joining the family with only `merge` and equality.
struct max_register {
  static constexpr std::string_view type_tag = "test.max_register";
  std::int64_t value = 0;
  void merge(const max_register& o) { value = std::max(value, o.value); }
  friend bool operator==(const max_register&, const max_register&) = default;
};

dd::gcounter counter(const replica_id& r, std::uint64_t n) {
  dd::gcounter g;
  g.increment(r, n);
  g.reset_delta();
  return g;
}

}  // namespace

static_assert(dd::crdt<max_register>);
static_assert(!dd::delta_crdt<max_register>);
static_assert(dd::delta_crdt<dd::gcounter> && dd::removed_node_pruning<dd::gcounter>);
static_assert(dd::delta_crdt<dd::flag> && !dd::removed_node_pruning<dd::flag>);
static_assert(dd::delta_crdt<dd::orset<std::string>> && dd::removed_node_pruning<dd::orset<std::string>>);
static_assert(dd::delta_crdt<dd::lww_register<std::string>> && !dd::removed_node_pruning<dd::lww_register<std::string>>);
static_assert(dd::removed_node_pruning<dd::ormap<std::string, dd::orset<std::string>>>);
static_assert(dd::removed_node_pruning<dd::lww_map<std::string, std::string>>);
static_assert(dd::removed_node_pruning<dd::pncounter_map<std::int64_t>>);

TEST_CASE("type tags name the type and its elements", "[unit][ddata][replicated_data]") {
  CHECK(dd::type_tag<dd::gcounter>() == "ddata.gcounter");
  CHECK(dd::type_tag<dd::pncounter>() == "ddata.pncounter");
  CHECK(dd::type_tag<dd::flag>() == "ddata.flag");
  CHECK(dd::type_tag<dd::gset<std::int64_t>>() == "ddata.gset<int64>");
  CHECK(dd::type_tag<dd::orset<std::string>>() == "ddata.orset<string>");
  CHECK(dd::type_tag<dd::lww_register<std::uint32_t>>() == "ddata.lww_register<uint32>");
  CHECK(dd::type_tag<dd::lww_map<std::string, bool>>() == "ddata.lww_map<string,bool>");
  CHECK(dd::type_tag<dd::pncounter_map<std::string>>() == "ddata.pncounter_map<string>");
  CHECK(dd::type_tag<dd::ormap<std::string, dd::orset<std::string>>>() ==
        "ddata.ormap<string,ddata.orset<string>>");
  CHECK(dd::type_tag<max_register>() == "test.max_register");
}

TEST_CASE("replicated_data holds one value of one type", "[unit][ddata][replicated_data]") {
  replicated_data empty;
  CHECK(empty.empty());
  CHECK(empty.type_tag().empty());
  CHECK(empty.get_if<dd::gcounter>() == nullptr);
  replicated_data d{counter(a, 2)};
  CHECK(d.holds<dd::gcounter>());
  CHECK_FALSE(d.holds<dd::pncounter>());
  CHECK(d.get_if<dd::pncounter>() == nullptr);
  REQUIRE(d.get_if<dd::gcounter>() != nullptr);
  CHECK(d.get_if<dd::gcounter>()->value() == 2);
  CHECK(d.type_tag() == "ddata.gcounter");
  replicated_data copy = d;  // deep
  copy.get_if<dd::gcounter>()->increment(a, 1);
  CHECK(d.get_if<dd::gcounter>()->value() == 2);
  CHECK_FALSE(copy == d);
  CHECK(replicated_data{} == empty);
  CHECK_FALSE(empty == d);
}

TEST_CASE("replicated_data merges values of one type", "[unit][ddata][replicated_data]") {
  replicated_data d{counter(a, 2)};
  REQUIRE(d.merge(replicated_data{counter(b, 3)}));
  CHECK(d.get_if<dd::gcounter>()->value() == 5);
  REQUIRE(d.merge(replicated_data{}));
  CHECK(d.get_if<dd::gcounter>()->value() == 5);
  replicated_data empty;
  REQUIRE(empty.merge(d));  // the empty holder adopts
  CHECK(empty == d);
  REQUIRE(d.merge(d));
}

TEST_CASE("replicated_data refuses to merge values of different types", "[unit][ddata][replicated_data]") {
  replicated_data d{counter(a, 2)};
  const auto s = d.merge(replicated_data{dd::orset<std::string>{}});
  REQUIRE_FALSE(s);
  CHECK(s.error().code == dd::ddata_errc::type_mismatch);
  CHECK(s.error().message == "cannot merge ddata.orset<string> into ddata.gcounter");
  CHECK(d.get_if<dd::gcounter>()->value() == 2);
  const auto t = d.merge_delta(replicated_data{max_register{7}});
  REQUIRE_FALSE(t);
  CHECK(t.error().message == "cannot merge the delta test.max_register into ddata.gcounter");
  // Types that differ only in their element type differ.
  replicated_data s1{dd::gset<std::string>{}};
  CHECK_FALSE(s1.merge(replicated_data{dd::gset<std::int64_t>{}}));
}

TEST_CASE("replicated_data passes deltas and pruning through", "[unit][ddata][replicated_data]") {
  dd::orset<std::string> s;
  s.add(a, "x");
  replicated_data d{s};
  auto delta = d.delta();
  REQUIRE(delta);
  CHECK(delta->holds<dd::orset<std::string>>());
  d.reset_delta();
  CHECK_FALSE(d.delta());
  replicated_data other{dd::orset<std::string>{}};
  REQUIRE(other.merge_delta(*delta));
  CHECK(other.get_if<dd::orset<std::string>>()->contains("x"));

  replicated_data g{counter(c, 4)};
  CHECK(g.needs_pruning_from(c));
  CHECK(g.modified_by() == std::set<replica_id>{c});
  g.prune(c, a);
  CHECK_FALSE(g.needs_pruning_from(c));
  CHECK(g.get_if<dd::gcounter>()->value_of(a) == 4);
  replicated_data h{counter(c, 4)};
  h.pruning_cleanup(c);
  CHECK(h.get_if<dd::gcounter>()->value() == 0);
}

TEST_CASE("user types join the family with merge alone", "[unit][ddata][replicated_data]") {
  replicated_data d{max_register{3}};
  REQUIRE(d.merge(replicated_data{max_register{5}}));
  REQUIRE(d.merge_delta(replicated_data{max_register{4}}));  // no deltas: a full merge
  CHECK(d.get_if<max_register>()->value == 5);
  CHECK_FALSE(d.delta());  // ship the whole value
  CHECK(d.modified_by().empty());
  CHECK_FALSE(d.needs_pruning_from(a));
  d.prune(a, b);
  CHECK(d == replicated_data{max_register{5}});
  // A user CRDT as the value of an ormap.
  dd::ormap<std::string, max_register> m;
  m.update(a, "k", [](max_register& r) { r.value = 9; });
  CHECK(m.get("k")->value == 9);
}
