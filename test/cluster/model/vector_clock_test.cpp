#include "troupe/cluster/model/vector_clock.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <vector>

using troupe::cluster::model::clock_ordering;
using troupe::cluster::model::to_string;
using troupe::cluster::model::unique_address;
using troupe::cluster::model::vector_clock;

namespace {

unique_address node(std::uint16_t port, std::uint64_t uid = 1) {
  return {{"sys", "10.0.0.1", port}, uid};
}

const vector_clock::node_id a = vector_clock::node_of(node(1));
const vector_clock::node_id b = vector_clock::node_of(node(2));
const vector_clock::node_id c = vector_clock::node_of(node(3));

clock_ordering reverse(clock_ordering o) {
  switch (o) {
    case clock_ordering::before: return clock_ordering::after;
    case clock_ordering::after: return clock_ordering::before;
    default: return o;
  }
}

vector_clock random_clock(std::mt19937_64& rng) {
  const std::vector<vector_clock::node_id> nodes{a, b, c};
  std::uniform_int_distribution<int> steps(0, 6);
  std::uniform_int_distribution<std::size_t> pick(0, nodes.size() - 1);
  vector_clock v;
  for (int i = steps(rng); i > 0; --i) v = v.increment(nodes[pick(rng)]);
  return v;
}

}  // namespace

TEST_CASE("node ids are stable, distinct per incarnation, and FNV-1a of the address",
          "[unit][vector_clock]") {
  CHECK(vector_clock::node_of(node(1)) == vector_clock::node_of(node(1)));
  CHECK(vector_clock::node_of(node(1, 1)) != vector_clock::node_of(node(1, 2)));
  // FNV-1a 64 of "troupe://sys@10.0.0.1:1#1", computed by hand from the reference algorithm.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char ch : std::string{"troupe://sys@10.0.0.1:1#1"}) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001b3ULL;
  }
  CHECK(a == h);
  std::set<vector_clock::node_id> ids;
  for (std::uint16_t port = 1; port <= 1000; ++port) ids.insert(vector_clock::node_of(node(port)));
  CHECK(ids.size() == 1000);
}

TEST_CASE("increment and compare", "[unit][vector_clock]") {
  const vector_clock empty;
  CHECK(empty.compare(empty) == clock_ordering::same);
  const vector_clock v1 = empty.increment(a);
  CHECK(v1.version_of(a) == 1);
  CHECK(v1.version_of(b) == 0);
  CHECK(empty.compare(v1) == clock_ordering::before);
  CHECK(v1.compare(empty) == clock_ordering::after);
  const vector_clock v2 = v1.increment(b);
  CHECK(v1.compare(v2) == clock_ordering::before);
  const vector_clock v3 = v1.increment(a);
  CHECK(v2.compare(v3) == clock_ordering::concurrent);
  CHECK(v3.compare(v2) == clock_ordering::concurrent);
  CHECK(v2.increment(c).compare(v2.increment(c)) == clock_ordering::same);
}

TEST_CASE("merge is the counter-wise maximum", "[unit][vector_clock]") {
  const vector_clock x = vector_clock{}.increment(a).increment(a).increment(b);
  const vector_clock y = vector_clock{}.increment(b).increment(b).increment(c);
  const vector_clock m = x.merge(y);
  CHECK(m.versions() == std::map<vector_clock::node_id, std::uint64_t>{{a, 2}, {b, 2}, {c, 1}});
  CHECK(m.compare(x) == clock_ordering::after);
  CHECK(m.compare(y) == clock_ordering::after);
}

TEST_CASE("prune forgets one node", "[unit][vector_clock]") {
  const vector_clock x = vector_clock{}.increment(a).increment(b);
  const vector_clock p = x.prune(node(1));
  CHECK(p.version_of(a) == 0);
  CHECK(p.version_of(b) == 1);
  CHECK(p.compare(x) == clock_ordering::before);
  CHECK(x.prune(c) == x);
}

TEST_CASE("zero counters are the same as missing ones", "[unit][vector_clock]") {
  const vector_clock z{{{a, 0}, {b, 1}}};
  CHECK(z == vector_clock{}.increment(b));
  CHECK(z.compare(vector_clock{}.increment(b)) == clock_ordering::same);
}

TEST_CASE("compare and merge laws over random clocks", "[unit][vector_clock]") {
  std::mt19937_64 rng{Catch::rngSeed()};
  CAPTURE(Catch::rngSeed());
  for (int i = 0; i < 500; ++i) {
    const vector_clock x = random_clock(rng);
    const vector_clock y = random_clock(rng);
    const vector_clock z = random_clock(rng);
    CAPTURE(to_string(x), to_string(y), to_string(z));
    CHECK(x.compare(y) == reverse(y.compare(x)));
    CHECK((x.compare(y) == clock_ordering::same) == (x == y));
    CHECK(x.merge(y) == y.merge(x));
    CHECK(x.merge(y).merge(z) == x.merge(y.merge(z)));
    CHECK(x.merge(x) == x);
    const auto xy = x.merge(y).compare(x);
    CHECK((xy == clock_ordering::after || xy == clock_ordering::same));
    CHECK(x.increment(a).compare(x) == clock_ordering::after);
  }
}

TEST_CASE("to_string lists node ids in hex", "[unit][vector_clock]") {
  CHECK(to_string(vector_clock{}) == "{}");
  CHECK(to_string(vector_clock{{{0x1fULL, 2}}}) == "{000000000000001f:2}");
  CHECK(to_string(clock_ordering::concurrent) == "concurrent");
}
