// The durable remember-entities store: load / update / shards round trips on the
// in-memory plugin and on a SQLite file (kept across a reopen), two stores (two processes)
// writing one shard, conflicts retried and then reported, and store errors as strings.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <troupe/persistence/settings.hpp>
#include <troupe/persistence/store.hpp>
#include <troupe/sharding/durable_remember_store.hpp>

#include "support/temp_files.hpp"

using namespace std::chrono_literals;
namespace tp = troupe::persistence;
namespace ts = troupe::sharding;
using strings = std::vector<std::string>;

namespace {

/// The entities of `shard` (or, with no shard, the shards), waiting for the callback.
troupe::expected<strings, std::string> load(ts::remember_entities_store& s, const std::string& type,
                                            const std::string& shard) {
  std::promise<troupe::expected<strings, std::string>> p;
  auto f = p.get_future();
  s.load(type, shard, [&p](troupe::expected<strings, std::string> r) { p.set_value(std::move(r)); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}
troupe::expected<strings, std::string> shards(ts::remember_entities_store& s, const std::string& type) {
  std::promise<troupe::expected<strings, std::string>> p;
  auto f = p.get_future();
  s.shards(type, [&p](troupe::expected<strings, std::string> r) { p.set_value(std::move(r)); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}
std::optional<std::string> update(ts::remember_entities_store& s, const std::string& type, const std::string& shard,
                                  strings started, strings stopped) {
  std::promise<std::optional<std::string>> p;
  auto f = p.get_future();
  s.update(type, shard, std::move(started), std::move(stopped),
           [&p](std::optional<std::string> e) { p.set_value(std::move(e)); });
  REQUIRE(f.wait_for(10s) == std::future_status::ready);
  return f.get();
}

strings ok(troupe::expected<strings, std::string> r) {
  INFO((r ? std::string() : r.error()));
  REQUIRE(r);
  return *r;
}

/// A durable state store that answers the next `conflicts` upserts with `conflict` (and
/// keeps nothing of them), or fails every call with `unavailable`. (A real rival's write
/// is the two-stores section of the in-memory test.)
class meddling_states final : public tp::durable_state_store {
 public:
  explicit meddling_states(std::shared_ptr<tp::durable_state_store> inner) : inner_(std::move(inner)) {}
  int conflicts = 0;
  bool unavailable = false;
  int upserts = 0;

  void get(std::string id, tp::result_fn<std::optional<tp::state_repr>> done) override {
    if (unavailable) return done(troupe::unexpected<tp::store_error>({tp::store_error::kind::unavailable, "db gone"}));
    inner_->get(std::move(id), std::move(done));
  }
  void upsert(tp::state_repr s, tp::done_fn done) override {
    ++upserts;
    if (unavailable) return done(tp::store_error{tp::store_error::kind::unavailable, "db gone"});
    if (conflicts > 0) {
      --conflicts;
      return done(tp::store_error{tp::store_error::kind::conflict, s.persistence_id + " revision taken"});
    }
    inner_->upsert(std::move(s), std::move(done));
  }
  void remove(std::string id, std::int64_t revision, tp::done_fn done) override {
    inner_->remove(std::move(id), revision, std::move(done));
  }

 private:
  std::shared_ptr<tp::durable_state_store> inner_;
};

/// The round trip every plugin must keep.
void round_trip(ts::remember_entities_store& s) {
  CHECK(ok(load(s, "account", "7")).empty());
  CHECK(ok(shards(s, "account")).empty());

  CHECK_FALSE(update(s, "account", "7", {"a", "b"}, {}));
  CHECK_FALSE(update(s, "account", "7", {"c"}, {"a"}));
  CHECK_FALSE(update(s, "account", "3", {"x"}, {}));
  CHECK_FALSE(update(s, "other|type", "3", {"y"}, {}));
  CHECK(ok(load(s, "account", "7")) == strings{"b", "c"});
  CHECK(ok(load(s, "account", "3")) == strings{"x"});
  CHECK(ok(shards(s, "account")) == strings{"3", "7"});
  CHECK(ok(shards(s, "other|type")) == strings{"3"});
  CHECK(ok(load(s, "other|type", "3")) == strings{"y"});

  // A shard whose last entity stops leaves the type's set.
  CHECK_FALSE(update(s, "account", "3", {}, {"x"}));
  CHECK(ok(load(s, "account", "3")).empty());
  CHECK(ok(shards(s, "account")) == strings{"7"});
}

}  // namespace

TEST_CASE("durable remember store: load, update and shards round trip on the in-memory plugin",
          "[unit][sharding][remember]") {
  const auto plugin = tp::make_in_memory_plugin();
  auto store = ts::durable_remember_store::on(plugin);
  round_trip(*store);

  SECTION("a second store on the same plugin (another process) sees the records and writes over a stale cache") {
    auto other = ts::durable_remember_store::on(plugin);
    CHECK(ok(load(*other, "account", "7")) == strings{"b", "c"});
    CHECK_FALSE(update(*other, "account", "7", {"d"}, {"b"}));
    // `store` still holds revision and set from before `other` wrote: its upsert
    // conflicts, it reads again and applies its change to what `other` wrote.
    CHECK_FALSE(update(*store, "account", "7", {"e"}, {}));
    CHECK(ok(load(*other, "account", "7")) == strings{"c", "d", "e"});
    CHECK(ok(load(*store, "account", "7")) == strings{"c", "d", "e"});
  }

  SECTION("the stored form is a CBOR array under the store's manifest") {
    std::promise<troupe::expected<std::optional<tp::state_repr>, tp::store_error>> p;
    plugin.states->get(ts::durable_remember_store::entities_id("account", "7"),
                       [&p](auto r) { p.set_value(std::move(r)); });
    const auto r = p.get_future().get();
    REQUIRE(r);
    REQUIRE(r->has_value());
    CHECK((*r)->payload.manifest == ts::durable_remember_store::manifest);
    CHECK((*r)->revision == 2);
    CHECK(nlohmann::json::from_cbor((*r)->payload.data) == nlohmann::json{"b", "c"});
  }
}

TEST_CASE("durable remember store: ids of types and shards cannot run into each other", "[unit][sharding][remember]") {
  using s = ts::durable_remember_store;
  CHECK(s::entities_id("account", "7") == "sharding-entities|account|7");
  CHECK(s::shards_id("account") == "sharding-shards|account");
  CHECK(s::entities_id("a|b", "c") != s::entities_id("a", "b|c"));
  CHECK(s::entities_id("a%7Cb", "c") != s::entities_id("a|b", "c"));
}

TEST_CASE("durable remember store: conflicts are retried a bounded number of times, errors reach the callback",
          "[unit][sharding][remember]") {
  const auto plugin = tp::make_in_memory_plugin();
  auto states = std::make_shared<meddling_states>(plugin.states);
  auto store = ts::durable_remember_store::on(states);
  REQUIRE_FALSE(update(*store, "account", "1", {"a"}, {}));

  SECTION("a few conflicts: re-read, re-applied, kept") {
    states->conflicts = 3;
    CHECK_FALSE(update(*store, "account", "1", {"b"}, {}));
    CHECK(ok(load(*store, "account", "1")) == strings{"a", "b"});
  }
  SECTION("endless conflicts: an error after max_attempts writes") {
    states->conflicts = 1000;
    states->upserts = 0;
    const auto e = update(*store, "account", "1", {"b"}, {});
    REQUIRE(e);
    CHECK_THAT(*e, Catch::Contains("conflict"));
    CHECK(states->upserts == ts::durable_remember_store::max_attempts);
    states->conflicts = 0;
    CHECK_FALSE(update(*store, "account", "1", {"b"}, {}));  // the region's retry succeeds
    CHECK(ok(load(*store, "account", "1")) == strings{"a", "b"});
  }
  SECTION("an unavailable database: every call fails with a string saying so") {
    states->unavailable = true;
    const auto e = update(*store, "account", "1", {"c"}, {});
    REQUIRE(e);
    CHECK_THAT(*e, Catch::Contains("unavailable"));
    const auto l = load(*store, "account", "1");
    REQUIRE_FALSE(l);
    CHECK_THAT(l.error(), Catch::Contains("unavailable"));
    REQUIRE_FALSE(shards(*store, "account"));
  }
  SECTION("a plugin that is not started fails every call") {
    auto none = ts::durable_remember_store::on(tp::plugin{});
    const auto e = update(*none, "account", "1", {"c"}, {});
    REQUIRE(e);
    CHECK_THAT(*e, Catch::Contains("not started"));
  }
}

TEST_CASE("durable remember store: a SQLite file keeps the records across a reopen", "[integration][sharding][remember]") {
  troupe::test_support::temp_dir dir{"troupe-remember"};
  tp::sqlite_settings settings;
  settings.path = (dir.path() / "remember.db").string();
  {
    auto plugin = tp::open_sqlite_plugin(settings);
    REQUIRE(plugin);
    auto store = ts::durable_remember_store::on(*plugin);
    round_trip(*store);
    CHECK_FALSE(update(*store, "account", "7", {"z"}, {"b"}));
  }
  auto plugin = tp::open_sqlite_plugin(settings);
  REQUIRE(plugin);
  auto store = ts::durable_remember_store::on(*plugin);
  CHECK(ok(load(*store, "account", "7")) == strings{"c", "z"});
  CHECK(ok(shards(*store, "account")) == strings{"7"});
  CHECK(ok(shards(*store, "other|type")) == strings{"3"});
  CHECK_FALSE(update(*store, "account", "7", {}, {"c", "z"}));
  CHECK(ok(shards(*store, "account")).empty());
}
