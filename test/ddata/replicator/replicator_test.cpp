// The replicator on a running cluster: three actor systems on loopback in one process, each
// a cluster node with its replicator, with intervals shortened so a case takes seconds.
// Every wait polls a condition with a deadline.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/membership_state.hpp>
#include <troupe/ddata/ddata.hpp>
#include <troupe/ddata/replicator.hpp>
#include <troupe/remote/transport.hpp>

#include "support/temp_files.hpp"
#include "support/test_cluster.hpp"

using namespace std::chrono_literals;
using troupe::actor_system;
using troupe::testkit::await_condition;
namespace dd = troupe::ddata;
namespace model = troupe::cluster::model;
namespace tc = troupe::cluster;

namespace {

dd::distributed_data_settings fast_ddata() {
  auto s = dd::distributed_data_settings::parse(nlohmann::json{{"gossip-interval-ms", 200},
                                                               {"delta-propagation-interval-ms", 50},
                                                               {"notify-subscribers-interval-ms", 50},
                                                               {"operation-timeout-check-interval-ms", 20}});
  REQUIRE(s);
  return *s;
}

/// A cluster node with shortcuts to its replicator.
struct node : troupe::test::cluster_node {
  explicit node(const nlohmann::json& settings = troupe::test::fast_cluster_json("ddtest")) : cluster_node(settings) {}
  dd::distributed_data& ddata() { return dd::distributed_data::get(system); }

  /// Adds `n` to the counter `key` at `c`.
  dd::update_response increment(const std::string& key, std::uint64_t n, dd::consistency c) {
    const dd::replica_id self = ddata().self();
    return ddata()
        .ask_update(dd::update_of<dd::gcounter>(key, dd::gcounter{}, [self, n](dd::gcounter& g) { g.increment(self, n); }, c),
                    10s)
        .get();
  }
  dd::get_response read(const std::string& key, dd::consistency c = dd::consistency::local()) {
    return ddata().ask_get({key, c}, 10s).get();
  }
  /// The counter's value here, or -1 when absent.
  long long counter(const std::string& key) {
    const auto r = read(key);
    const auto* ok = std::get_if<dd::get_success>(&r);
    if (!ok) return -1;
    const auto* c = dd::value_as<dd::gcounter>(*ok);
    return c ? static_cast<long long>(c->value()) : -2;
  }
};

bool all_up(node& n, std::size_t count) { return troupe::test::sees_all_up(n, count); }

using troupe::test::metric;

/// Three nodes in one cluster, each with a started replicator.
std::vector<std::unique_ptr<node>> start_nodes(std::size_t n = 3) {
  auto nodes = troupe::test::form_cluster<node>(n, "ddtest");
  // Only the first node can replicate sets of int32 (not a built-in type).
  REQUIRE(nodes[0]->ddata().add_type<dd::gset<std::int32_t>>());
  for (auto& x : nodes) REQUIRE(x->ddata().start(fast_ddata()));
  CHECK_FALSE(nodes[1]->ddata().add_type<dd::gset<std::int32_t>>());  // too late
  return nodes;
}

}  // namespace

TEST_CASE("replicator: settings name the bad key", "[unit]") {
  auto bad = dd::distributed_data_settings::parse(R"({"gossip-interval-ms": 0})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().key == "gossip-interval-ms");
  auto unknown = dd::distributed_data_settings::parse(R"({"gossip-intervall-ms": 10})");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().key == "gossip-intervall-ms");
  auto good = dd::distributed_data_settings::parse(R"({"role": "backend", "max-delta-elements": 20})");
  REQUIRE(good);
  CHECK(good->replicator.role == "backend");
  CHECK(good->replicator.max_delta_elements == 20);
  CHECK(good->replicator.gossip_interval == 2s);  // Akka's default kept
}

TEST_CASE("replicator: reads, writes, propagation, subscriptions and deletes on three nodes", "[integration]") {
  auto nodes = start_nodes();
  node& a = *nodes[0];
  node& b = *nodes[1];
  node& c = *nodes[2];
  const auto majority = dd::consistency::majority(3s);

  {
    INFO("/metrics counts the replicator's commands, keys and deltas (nothing was written before)");
    for (const char* key : {"metered-a", "metered-a", "metered-b"})
      REQUIRE(std::holds_alternative<dd::update_success>(b.increment(key, 1, dd::consistency::local())));
    CHECK(b.counter("metered-a") == 2);
    CHECK(std::holds_alternative<dd::not_found>(b.read("metered-none")));
    const auto wrong =
        b.ddata()
            .ask_update(dd::update_of<dd::flag>("metered-a", dd::flag{}, [](dd::flag& f) { f.switch_on(); }), 10s)
            .get();
    CHECK(std::holds_alternative<dd::modify_failure>(wrong));
    // The figures are stored after the replies go out: wait for the last command's.
    await_condition(
        b.system, [&] { return metric(b, "troupe_ddata_updates_total") == 4; }, 5s, "four updates counted");
    CHECK(metric(b, "troupe_ddata_gets_total") == 2);
    CHECK(metric(b, "troupe_ddata_entries") == 2);
    CHECK(metric(b, "troupe_ddata_deleted_keys") == 0);
    CHECK(metric(b, "troupe_ddata_update_failures_total{reason=\"modify_failure\"}") == 1);
    CHECK(metric(b, "troupe_ddata_update_failures_total{reason=\"timeout\"}") == 0);
    CHECK(metric(b, "troupe_ddata_pending_operations") == 0);
    // The changes go to both peers as deltas, which they count as entries.
    await_condition(
        a.system, [&] { return metric(a, "troupe_ddata_entries") == 2 && metric(c, "troupe_ddata_entries") == 2; }, 5s,
        "the deltas taken by a and c");
    CHECK(metric(b, "troupe_ddata_deltas_sent_total") >= 2);
    CHECK(metric(a, "troupe_ddata_updates_total") == 0);
  }
  {
    INFO("a majority write on one node is seen by a majority read on another");
    const auto w = a.increment("majority", 3, majority);
    REQUIRE(std::holds_alternative<dd::update_success>(w));
    const auto r = c.read("majority", majority);
    REQUIRE(std::holds_alternative<dd::get_success>(r));
    CHECK(dd::value_as<dd::gcounter>(std::get<dd::get_success>(r))->value() == 3);
  }
  {
    INFO("a subscriber on another node gets changed");
    troupe::testkit::test_probe probe(c.system);
    c.ddata().replicator().tell(dd::subscribe{"watched", probe.ref()});
    const auto w = a.increment("watched", 5, dd::consistency::local());
    REQUIRE(std::holds_alternative<dd::update_success>(w));
    const auto got = probe.fish_for<dd::changed>(
        [](const dd::changed& ch) {
          const auto* v = dd::value_as<dd::gcounter>(ch);
          return ch.key == "watched" && v && v->value() == 5;
        },
        10s);
    CHECK(got.key == "watched");
  }
  {
    INFO("a local update reaches every node by deltas and gossip");
    REQUIRE(std::holds_alternative<dd::update_success>(b.increment("spread", 2, dd::consistency::local())));
    for (auto* n : {&a, &b, &c})
      await_condition(n->system, [&] { return n->counter("spread") == 2; }, 10s, "the local update everywhere");
  }
  {
    INFO("replies to a plain tell come as their own types to the sender");
    troupe::testkit::test_probe probe(b.system);
    const dd::replica_id self = b.ddata().self();
    probe.send(b.ddata().replicator(),
               dd::update_of<dd::gcounter>("told", dd::gcounter{}, [self](dd::gcounter& g) { g.increment(self); }));
    CHECK(probe.expect_msg<dd::update_success>(5s).key == "told");
    probe.send(b.ddata().replicator(), dd::get{"no-such-key"});
    CHECK(probe.expect_msg<dd::not_found>(5s).key == "no-such-key");
  }
  {
    INFO("a delete answers data_deleted everywhere");
    REQUIRE(std::holds_alternative<dd::update_success>(a.increment("doomed", 1, majority)));
    const auto d = b.ddata().ask_remove({"doomed", majority}, 10s).get();
    REQUIRE(std::holds_alternative<dd::delete_success>(d));
    for (auto* n : {&a, &b, &c})
      await_condition(
          n->system, [&] { return std::holds_alternative<dd::data_deleted>(n->read("doomed")); }, 10s,
          "deleted everywhere");
    CHECK(std::holds_alternative<dd::data_deleted>(a.increment("doomed", 1, dd::consistency::local())));
  }
  {
    INFO("a value a peer cannot decode is dropped there (and logged), and a write of it refused");
    using int_set = dd::gset<std::int32_t>;
    const auto w = a.ddata()
                       .ask_update(dd::update_of<int_set>("ints", int_set{}, [](int_set& s) { s.add(7); },
                                                          dd::consistency::all(500ms)),
                                   10s)
                       .get();
    CAPTURE(w.index());
    REQUIRE(std::holds_alternative<dd::update_timeout>(w));
    CHECK(std::get<dd::update_timeout>(w).acknowledged == 1);
    CHECK(std::holds_alternative<dd::get_success>(a.read("ints")));
    CHECK(std::holds_alternative<dd::not_found>(b.read("ints")));
    // /metrics: the timeout where it was written, the refused values where they went, and
    // the gossip that offers them again.
    await_condition(
        a.system, [&] { return metric(a, "troupe_ddata_update_failures_total{reason=\"timeout\"}") == 1; }, 5s,
        "the timeout counted");
    await_condition(
        a.system,
        [&] {
          return metric(b, "troupe_ddata_decode_failures_total") >= 1 &&
                 metric(c, "troupe_ddata_decode_failures_total") >= 1;
        },
        5s, "the undecodable writes counted");
    await_condition(
        a.system,
        [&] {
          return metric(a, "troupe_ddata_gossip_sent_total") >= 1 &&
                 metric(a, "troupe_ddata_gossip_status_sent_total") >= 1;
        },
        5s, "the value offered in gossip");
    CHECK(metric(a, "troupe_ddata_gossip_entries_sent_total") >= 1);
    CHECK(metric(a, "troupe_ddata_gossip_bytes_sent_total") > 0);
    // b cannot even be asked to take one: an update of a type without a codec fails.
    const auto refused = b.ddata()
                             .ask_update(dd::update_of<int_set>("ints2", int_set{}, [](int_set& s) { s.add(1); }), 10s)
                             .get();
    REQUIRE(std::holds_alternative<dd::modify_failure>(refused));
    CHECK(std::get<dd::modify_failure>(refused).reason.find("no codec") != std::string::npos);
  }
  {
    INFO("an update of another type is a modify_failure and changes nothing");
    REQUIRE(std::holds_alternative<dd::update_success>(a.increment("typed", 4, dd::consistency::local())));
    const auto w = a.ddata()
                       .ask_update(dd::update_of<dd::flag>("typed", dd::flag{}, [](dd::flag& f) { f.switch_on(); }),
                                   10s)
                       .get();
    REQUIRE(std::holds_alternative<dd::modify_failure>(w));
    CHECK(std::get<dd::modify_failure>(w).reason.find("ddata.gcounter") != std::string::npos);
    CHECK(a.counter("typed") == 4);
  }
}

TEST_CASE("replicator: an all-write times out while a replica is blackholed, then succeeds", "[integration]") {
  auto nodes = start_nodes();
  node& a = *nodes[0];
  node& c = *nodes[2];
  const troupe::remote::address c_addr = c.transport().local_address();
  a.transport().blackhole(c_addr, troupe::remote::direction::both);
  const auto w = a.increment("everyone", 1, dd::consistency::all(300ms));
  CAPTURE(w.index());
  REQUIRE(std::holds_alternative<dd::update_timeout>(w));
  const auto& t = std::get<dd::update_timeout>(w);
  CHECK(t.acknowledged == 2);
  CHECK(t.needed == 3);
  CHECK(t.key == "everyone");
  a.transport().pass_through(c_addr);
  await_condition(
      a.system,
      [&] { return std::holds_alternative<dd::update_success>(a.increment("everyone", 1, dd::consistency::all(1s))); },
      15s, "an all-write after the blackhole", 10ms);
  await_condition(c.system, [&] { return c.counter("everyone") >= 2; }, 10s, "the writes on the blackholed node");
}

TEST_CASE("replicator: durable keys come back when a node starts again, before it answers", "[integration]") {
  troupe::test_support::temp_dir dir("troupe-ddata-durable");
  const std::string path = (dir.path() / "node.db").string();
  auto durable = [&] {
    auto s = dd::distributed_data_settings::parse(nlohmann::json{{"durable-keys", {"cart-*"}}, {"durable-path", path}});
    REQUIRE(s);
    return *s;
  };
  {
    node n;
    n.cl().join(n.address);
    await_condition(n.system, [&] { return all_up(n, 1); }, 10s, "a cluster of one");
    REQUIRE(n.ddata().start(durable()));
    REQUIRE(std::holds_alternative<dd::update_success>(n.increment("cart-7", 3, dd::consistency::local())));
    REQUIRE(std::holds_alternative<dd::update_success>(n.increment("cart-7", 2, dd::consistency::local())));
    REQUIRE(std::holds_alternative<dd::update_success>(n.increment("hits", 1, dd::consistency::local())));
    REQUIRE(std::holds_alternative<dd::update_success>(n.increment("cart-gone", 1, dd::consistency::local())));
    REQUIRE(std::holds_alternative<dd::delete_success>(
        n.ddata().ask_remove({"cart-gone", dd::consistency::local()}, 10s).get()));
  }  // the node stops; the file stays
  node again;
  again.cl().join(again.address);
  await_condition(again.system, [&] { return all_up(again, 1); }, 10s, "a cluster of one");
  REQUIRE(again.ddata().start(durable()));
  CHECK(again.counter("cart-7") == 5);  // the first read already sees it
  CHECK(again.counter("hits") == -1);   // not durable: gone
  CHECK(std::holds_alternative<dd::data_deleted>(again.read("cart-gone")));
  // And it goes on from there.
  REQUIRE(std::holds_alternative<dd::update_success>(again.increment("cart-7", 1, dd::consistency::local())));
  CHECK(again.counter("cart-7") == 6);
}

TEST_CASE("replicator: a change the durable store cannot write is answered with store_failure", "[integration]") {
  troupe::test_support::temp_dir dir("troupe-ddata-store-failure");
  const std::string path = (dir.path() / "node.db").string();
  auto s = dd::distributed_data_settings::parse(nlohmann::json{{"durable-keys", {"cart-*"}}, {"durable-path", path}});
  REQUIRE(s);
  {
    node n;
    n.cl().join(n.address);
    await_condition(
        n.system, [&] { return all_up(n, 1); }, 10s, "a cluster of one");
    REQUIRE(n.ddata().start(*s));
    REQUIRE(std::holds_alternative<dd::update_success>(n.increment("cart-1", 1, dd::consistency::local())));

    // Another connection takes the table away: the replicator's next write of a durable key
    // fails in SQLite itself ("no such table").
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
    auto sql = [&](const char* text) {
      char* err = nullptr;
      const int rc = sqlite3_exec(other, text, nullptr, nullptr, &err);
      INFO(text << ": " << (err ? err : "ok"));
      sqlite3_free(err);
      REQUIRE(rc == SQLITE_OK);
    };
    sql("DROP TABLE ddata_entries");
    const auto failed = n.increment("cart-1", 1, dd::consistency::local());
    const auto* f = std::get_if<dd::store_failure>(&failed);
    REQUIRE(f);
    CHECK(f->key == "cart-1");
    CHECK(f->reason.find(path) != std::string::npos);
    CHECK(n.counter("cart-1") == 2);  // kept in memory
    // Keys that are not durable do not touch the store.
    CHECK(std::holds_alternative<dd::update_success>(n.increment("hits", 1, dd::consistency::local())));
    const auto removed = n.ddata().ask_remove({"cart-1", dd::consistency::local()}, 10s).get();
    CHECK(std::holds_alternative<dd::store_failure>(removed));

    // With the table back, the next change is stored again and answered as a success.
    sql("CREATE TABLE ddata_entries(key TEXT PRIMARY KEY, entry BLOB NOT NULL)");
    sqlite3_close(other);
    CHECK(std::holds_alternative<dd::update_success>(n.increment("cart-2", 4, dd::consistency::local())));
    CHECK(std::holds_alternative<dd::data_deleted>(n.read("cart-1")));
    // /metrics: two writes of the store failed, answered as one update and one delete.
    await_condition(
        n.system, [&] { return metric(n, "troupe_ddata_gets_total") == 2; }, 5s, "the last read counted");
    CHECK(metric(n, "troupe_ddata_durable_store_failures_total") == 2);
    CHECK(metric(n, "troupe_ddata_update_failures_total{reason=\"store_failure\"}") == 1);
    CHECK(metric(n, "troupe_ddata_delete_failures_total{reason=\"store_failure\"}") == 1);
  }  // the node stops; the file stays

  // ...and the deletion that failed went with it: a restarted node knows both.
  node again;
  again.cl().join(again.address);
  await_condition(
      again.system, [&] { return all_up(again, 1); }, 10s, "a cluster of one");
  REQUIRE(again.ddata().start(*s));
  CHECK(again.counter("cart-2") == 4);
  CHECK(std::holds_alternative<dd::data_deleted>(again.read("cart-1")));
  // The keys read back count as held, the deleted one apart.
  CHECK(metric(again, "troupe_ddata_entries") == 1);
  CHECK(metric(again, "troupe_ddata_deleted_keys") == 1);
}

TEST_CASE("replicator: a durable store that cannot be opened is start's error, naming the file", "[integration]") {
  node n;
  auto s = dd::distributed_data_settings::parse(
      nlohmann::json{{"durable-keys", {"k"}}, {"durable-path", "/nonexistent-dir/for/troupe/ddata.db"}});
  REQUIRE(s);
  auto started = n.ddata().start(*s);
  REQUIRE_FALSE(started);
  CHECK(started.error().find("/nonexistent-dir/for/troupe/ddata.db") != std::string::npos);
  auto bad = dd::distributed_data_settings::parse(nlohmann::json{{"durable-sync", "sometimes"}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().key == "durable-sync");
}
