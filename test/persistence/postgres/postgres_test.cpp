// postgres_test: the PostgreSQL plugin on a server of the tests' own (pg-server, started by
// the CTest fixture postgres:start-server; TROUPE_PG_CONNECTION_FILE names its connection
// string). The conformance suite of store_conformance.hpp, then PostgreSQL's own cases: the
// schema file, the configuration errors, group commit against a second process, tag
// offsets under concurrent writers, and a server that stops mid-batch (a second server of
// the test's own, so that the shared one is not disturbed).
//
// Each case works in a schema of its own (dropped at its end), so cases run side by side.
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "internal/postgres_schema.hpp"
#include "internal/postgres_wire.hpp"
#include "support/temp_files.hpp"
#include "troupe/persistence/settings.hpp"
#include "troupe/persistence/store.hpp"

namespace pg_test {

using namespace troupe::persistence;
using namespace std::chrono_literals;
using troupe::expected;

constexpr auto call_deadline = 30s;

/// The connection string of the fixture's server; a missing file fails the case (never skips).
std::string fixture_connection() {
  const char* file = std::getenv("TROUPE_PG_CONNECTION_FILE");
  if (file == nullptr || *file == '\0') {
    FAIL("TROUPE_PG_CONNECTION_FILE is not set: run these cases through ctest (the fixture "
         "postgres:start-server starts the server), or start one with test/persistence/postgres/pg-server "
         "start DIR and set TROUPE_PG_CONNECTION_FILE=DIR/connection");
  }
  std::string text = troupe::test_support::read_file(file);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) FAIL("no connection string in " << file << ": did postgres:start-server fail?");
  return text;
}

/// A schema name no other case (nor another run of this one) uses.
std::string unique_schema(const std::string& what) {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return "t_" + what + "_" + std::to_string(getpid()) + "_" + std::to_string(counter.fetch_add(1)) + "_" +
         std::to_string(now % 1'000'000);
}

/// A plain libpq connection for what the plugin does not do (dropping schemas, corrupting rows).
class admin_connection {
 public:
  explicit admin_connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      const std::string why = PQerrorMessage(conn_);
      PQfinish(conn_);
      throw std::runtime_error("admin connection to " + conninfo + " failed: " + why);
    }
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  }
  ~admin_connection() { PQfinish(conn_); }
  admin_connection(const admin_connection&) = delete;
  admin_connection& operator=(const admin_connection&) = delete;

  /// Runs `sql`; the first column of the first row ("" when none); throws on failure.
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const auto status = PQresultStatus(r);
    std::string out;
    if (status == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
    const std::string why = PQresultErrorMessage(r);
    PQclear(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) throw std::runtime_error(sql + ": " + why);
    return out;
  }

 private:
  PGconn* conn_;
};

/// Runs `start(callback)` and waits (at most call_deadline) for the callback's value.
template <class T, class Start>
T await(Start start) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  start([p](T v) { p->set_value(std::move(v)); });
  REQUIRE(f.wait_for(call_deadline) == std::future_status::ready);
  return f.get();
}

using done_t = std::optional<store_error>;

persistent_repr event(const std::string& id, std::int64_t seq, std::vector<std::string> tags = {},
                      std::size_t size = 16) {
  persistent_repr e;
  e.persistence_id = id;
  e.sequence_nr = seq;
  e.payload.serializer = 1;
  e.payload.manifest = "test.event";
  e.payload.version = 2;
  e.payload.data.assign(size, static_cast<std::uint8_t>(seq & 0xff));
  e.tags = std::move(tags);
  e.writer_uuid = "writer-1";
  e.timestamp_ms = 1'700'000'000'000 + seq;
  return e;
}

std::vector<persistent_repr> events(const std::string& id, std::int64_t first, std::int64_t count,
                                    std::vector<std::string> tags = {}) {
  std::vector<persistent_repr> out;
  for (std::int64_t i = 0; i < count; ++i) out.push_back(event(id, first + i, tags));
  return out;
}

/// A plugin on the fixture's server in a schema of its own, dropped at the end.
class pg_fixture {
 public:
  explicit pg_fixture(const std::string& what, std::size_t pool_size = 4, std::string connection = {})
      : connection_(connection.empty() ? fixture_connection() : std::move(connection)),
        schema_(unique_schema(what)) {
    settings_.connection = connection_;
    settings_.schema = schema_;
    settings_.pool_size = pool_size;
    auto p = open_postgres_plugin(settings_);
    if (!p) FAIL("open_postgres_plugin: " << p.error());
    plugin_ = std::move(*p);
  }
  ~pg_fixture() {
    plugin_ = {};
    try {
      admin_connection(connection_).exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
    } catch (const std::exception&) {
      // The server of a crash case may be gone; its directory goes with it.
    }
  }
  pg_fixture(const pg_fixture&) = delete;
  pg_fixture& operator=(const pg_fixture&) = delete;

  plugin& stores() { return plugin_; }
  journal& j() { return *plugin_.journal; }
  const postgres_settings& settings() const { return settings_; }
  const std::string& schema() const { return schema_; }
  const std::string& connection() const { return connection_; }
  /// Another plugin on the same schema (another process, as far as the server can tell).
  plugin open_again(std::size_t pool_size) const {
    auto s = settings_;
    s.pool_size = pool_size;
    auto p = open_postgres_plugin(s);
    if (!p) FAIL("open_postgres_plugin: " << p.error());
    return std::move(*p);
  }

  done_t write(std::vector<persistent_repr> evs) {
    return await<done_t>([&](auto cb) { j().write(std::move(evs), cb); });
  }
  expected<std::vector<persistent_repr>, store_error> read(const std::string& id, std::int64_t from = 1,
                                                           std::int64_t to = INT64_MAX) {
    return await<expected<std::vector<persistent_repr>, store_error>>(
        [&](auto cb) { j().read(id, from, to, INT64_MAX, cb); });
  }
  expected<std::int64_t, store_error> highest(const std::string& id) {
    return await<expected<std::int64_t, store_error>>([&](auto cb) { j().highest_sequence_nr(id, cb); });
  }
  expected<std::vector<tagged_event>, store_error> by_tag(const std::string& tag, std::int64_t after,
                                                          std::int64_t limit = INT64_MAX) {
    return await<expected<std::vector<tagged_event>, store_error>>(
        [&](auto cb) { j().events_by_tag(tag, after, limit, cb); });
  }

 private:
  std::string connection_;
  std::string schema_;
  postgres_settings settings_;
  plugin plugin_;
};

/// Polls `check` until it holds, at most `deadline`.
template <class Check>
bool eventually(Check check, std::chrono::milliseconds deadline = 30s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (check()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return check();
}

/// A server of one test's own (pg-server in a temp dir), stopped and removed at the end.
class own_server {
 public:
  own_server() : parent_("troupe-pg-own"), dir_(parent_.path() / "pg") {
    if (!script("start")) FAIL("pg-server start failed:\n" << log());
  }
  ~own_server() { script("stop"); }
  own_server(const own_server&) = delete;
  own_server& operator=(const own_server&) = delete;

  /// pg-server crash|resume|start|stop on this server; true when it succeeded.
  bool script(const std::string& command) {
    const std::string cmd = "bash '" TROUPE_PG_SERVER_SCRIPT "' " + command + " '" + dir_.string() + "' >'" +
                            (parent_.path() / "script.log").string() + "' 2>&1";
    return std::system(cmd.c_str()) == 0;
  }
  std::string log() const { return troupe::test_support::read_file(parent_.path() / "script.log"); }
  std::string connection() const {
    std::string text = troupe::test_support::read_file(dir_ / "connection");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

 private:
  troupe::test_support::temp_dir parent_;
  std::filesystem::path dir_;
};

/// The conformance suite's fixture: the plugin on the fixture's server, in a schema of
/// the test case's own (dropped with the fixture); `reopen` opens the same schema again.
class conformance_fixture {
 public:
  conformance_fixture() : connection_(fixture_connection()), schema_(unique_schema("conformance")) {}
  ~conformance_fixture() {
    try {
      admin_connection(connection_).exec("DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE");
    } catch (const std::exception&) {
      // Reported by the case that could not reach the server.
    }
  }
  conformance_fixture(const conformance_fixture&) = delete;
  conformance_fixture& operator=(const conformance_fixture&) = delete;

  plugin make() { return open(); }
  plugin reopen() { return open(); }

 private:
  plugin open() {
    postgres_settings s;
    s.connection = connection_;
    s.schema = schema_;
    auto p = open_postgres_plugin(s);
    if (!p) FAIL("open_postgres_plugin: " << p.error());
    return std::move(p).value();
  }

  std::string connection_;
  std::string schema_;
};

}  // namespace pg_test

// ---------------------------------------------------------------------------------------
// The conformance suite.

using troupe_store_fixtures = std::tuple<pg_test::conformance_fixture>;
#define TROUPE_STORE_TAGS "[postgres]"
#include "persistence/store_conformance.hpp"

using namespace pg_test;

// ---------------------------------------------------------------------------------------
// PostgreSQL's own cases.

TEST_CASE("the schema file is the schema the plugin creates", "[postgres]") {
  const std::string file = troupe::test_support::read_file(TROUPE_PG_SCHEMA_FILE);
  REQUIRE_FALSE(file.empty());
  CHECK(file == std::string(troupe::persistence::pg::schema_sql));
}

TEST_CASE("binary arrays, tags and int8 round trip", "[postgres]") {
  namespace pg = troupe::persistence::pg;
  const std::vector<std::string> tags = {"", "a", std::string("\0\xff", 2), "long tag with \"quotes\""};
  CHECK(pg::decode_tags(pg::encode_tags(tags)) == tags);
  CHECK(pg::decode_tags("") == std::vector<std::string>{});
  CHECK_FALSE(pg::decode_tags(pg::encode_tags(tags).substr(0, 7)));
  for (const std::int64_t v : {std::int64_t(0), std::int64_t(-1), INT64_MIN, INT64_MAX, std::int64_t(1) << 40}) {
    CHECK(pg::read_int8(pg::int8_value(v)) == v);
  }
  pg::pg_array a(pg::pg_oid::int8);
  CHECK(a.finish().size() == 12);  // ndim 0: no dimension
  a.add_int8(7);
  CHECK(a.finish().size() == 20 + 4 + 8);
}

TEST_CASE("a missing connection string names the setting and the variable", "[postgres]") {
  postgres_settings s;
  s.connection_env = "TROUPE_PG_TEST_UNSET_" + std::to_string(getpid());
  const auto p = open_postgres_plugin(s);
  REQUIRE_FALSE(p);
  CHECK_THAT(p.error(), Catch::Contains(s.connection_env) && Catch::Contains("postgresql.connection"));

  persistence_settings all;
  all.plugin = "postgresql";
  all.postgresql = s;
  const auto q = open_plugin(all);
  REQUIRE_FALSE(q);
  CHECK_THAT(q.error(), Catch::Contains(s.connection_env));
}

TEST_CASE("the connection string may come from the environment", "[postgres]") {
  const std::string var = "TROUPE_PG_TEST_CONNECTION_" + std::to_string(getpid());
  REQUIRE(setenv(var.c_str(), fixture_connection().c_str(), 1) == 0);
  postgres_settings s;
  s.connection_env = var;
  s.schema = unique_schema("env");
  auto p = open_postgres_plugin(s);
  unsetenv(var.c_str());
  REQUIRE(p);
  CHECK(p->name == "postgresql");
  p = troupe::unexpected(std::string("closed"));
  admin_connection(fixture_connection()).exec("DROP SCHEMA IF EXISTS \"" + s.schema + "\" CASCADE");
}

TEST_CASE("an unreachable server is an error naming it", "[postgres]") {
  postgres_settings s;
  s.connection = "host=/nonexistent/troupe-pg port=4321 dbname=nowhere";
  const auto p = open_postgres_plugin(s);
  REQUIRE_FALSE(p);
  CHECK_THAT(p.error(), Catch::Contains("host=/nonexistent/troupe-pg") && Catch::Contains("port=4321"));

  s.connection = "not a = valid 'connection";
  const auto q = open_postgres_plugin(s);
  REQUIRE_FALSE(q);
  CHECK_THAT(q.error(), Catch::Contains("postgresql.connection"));
}

TEST_CASE("events, deletes and tags round trip through the server", "[postgres]") {
  pg_fixture f("basic");
  REQUIRE_FALSE(f.write(events("a", 1, 3, {"t1", "t2"})));
  REQUIRE_FALSE(f.write(events("b", 1, 2)));
  const auto a = f.read("a");
  REQUIRE(a);
  REQUIRE(a->size() == 3);
  CHECK(a->at(2).sequence_nr == 3);
  CHECK(a->at(2).payload.data == event("a", 3).payload.data);
  CHECK(a->at(2).payload.version == 2);
  CHECK(a->at(2).tags == std::vector<std::string>{"t1", "t2"});
  CHECK(a->at(2).timestamp_ms == event("a", 3).timestamp_ms);

  const auto gap = f.write(events("a", 5, 1));
  REQUIRE(gap);
  CHECK(gap->what == store_error::kind::conflict);
  CHECK_THAT(gap->message, Catch::Contains("\"a\"") && Catch::Contains("5"));

  REQUIRE_FALSE(await<done_t>([&](auto cb) { f.j().delete_to("a", 10, cb); }));
  CHECK(f.read("a")->empty());
  CHECK(*f.highest("a") == 3);
  CHECK(f.by_tag("t1", 0)->empty());
  REQUIRE_FALSE(f.write(events("a", 4, 1)));
  CHECK(f.read("a")->size() == 1);

  auto ids = await<expected<std::vector<std::string>, store_error>>(
      [&](auto cb) { f.j().persistence_ids("", 10, cb); });
  REQUIRE(ids);
  CHECK(*ids == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a NULL column is corrupt, naming the id and sequence number", "[postgres]") {
  pg_fixture f("corrupt");
  REQUIRE_FALSE(f.write(events("c", 1, 3)));
  admin_connection admin(f.connection());
  admin.exec("ALTER TABLE \"" + f.schema() + "\".journal ALTER COLUMN manifest DROP NOT NULL");
  admin.exec("UPDATE \"" + f.schema() + "\".journal SET manifest = NULL WHERE persistence_id = 'c' AND sequence_nr = 2");
  const auto r = f.read("c");
  REQUIRE_FALSE(r);
  CHECK(r.error().what == store_error::kind::corrupt);
  CHECK_THAT(r.error().message, Catch::Contains("\"c\"") && Catch::Contains("sequence number 2"));
}

TEST_CASE("a write that another process got to first rolls back alone", "[postgres]") {
  // Another session inserts x/1 and holds it uncommitted; the plugin's batch (x/1, y/1, z/1
  // on one connection) reads highest 0 for x, so its fast path INSERT waits on that row and
  // then hits the unique key: the batch is redone with a savepoint per write.
  pg_fixture f("race", 1);
  admin_connection other(f.connection());
  admin_connection watcher(f.connection());
  const std::string schema = "\"" + f.schema() + "\"";
  other.exec("BEGIN");
  other.exec("INSERT INTO " + schema +
             ".journal (persistence_id, sequence_nr, serializer, manifest, version, payload, tags, writer_uuid, "
             "timestamp_ms) VALUES ('x', 1, 1, 'm', 1, '\\x00', '{}', 'other', 0)");
  std::vector<std::future<done_t>> results;
  for (const char* id : {"x", "y", "z"}) {
    auto p = std::make_shared<std::promise<done_t>>();
    results.push_back(p->get_future());
    f.j().write(events(id, 1, 2), [p](done_t d) { p->set_value(std::move(d)); });
  }
  // The plugin's INSERT waits on the uncommitted row: then the other session commits.
  REQUIRE(eventually([&] {
    return watcher.exec("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE "
                        "'%INSERT INTO journal%'") != "0";
  }));
  other.exec("COMMIT");
  std::vector<done_t> done;
  for (auto& r : results) {
    REQUIRE(r.wait_for(call_deadline) == std::future_status::ready);
    done.push_back(r.get());
  }
  REQUIRE(done[0]);
  CHECK(done[0]->what == store_error::kind::conflict);
  CHECK_THAT(done[0]->message, Catch::Contains("\"x\"") && Catch::Contains("sequence number 1"));
  CHECK_FALSE(done[1]);
  CHECK_FALSE(done[2]);
  CHECK(*f.highest("x") == 1);
  CHECK(f.read("y")->size() == 2);
  CHECK(f.read("z")->size() == 2);
}

TEST_CASE("what a connection knows of an id it wrote never decides against the database", "[postgres]") {
  // Two plugins on one schema, as two nodes: each connection thread knows the highest of
  // the ids it wrote last, and the other node writes behind its back.
  pg_fixture f("known", 1);
  plugin other = f.open_again(1);
  const auto other_write = [&](std::vector<persistent_repr> evs) {
    return await<done_t>([&](auto cb) { other.journal->write(std::move(evs), cb); });
  };
  REQUIRE_FALSE(f.write(events("a", 1, 1)));     // this node knows: highest 1
  REQUIRE_FALSE(other_write(events("a", 2, 2)));  // the entity moved: 2..3 elsewhere

  SECTION("a write that follows the database, not what the thread knew, succeeds") {
    REQUIRE_FALSE(f.write(events("a", 4, 1)));  // the entity came back and recovered 3
    CHECK(*f.highest("a") == 4);
  }
  SECTION("a stale incarnation's write that follows what the thread knew is refused") {
    const auto d = f.write(events("a", 2, 1));
    REQUIRE(d);
    CHECK(d->what == store_error::kind::conflict);
    CHECK(*f.highest("a") == 3);
    REQUIRE_FALSE(f.write(events("a", 4, 1)));  // and the database decides the next one
  }
}

TEST_CASE("tag offsets resume without gaps while many connections write", "[postgres]") {
  // Writers on two plugins (eight connections) tag every event; a reader resumes after the
  // last offset it saw. If a smaller offset could commit after a larger one was read, the
  // reader would miss it.
  pg_fixture f("tags", 4);
  plugin second = f.open_again(4);
  constexpr int ids = 40, writes_per_id = 10;
  std::atomic<int> acked{0}, failed{0};
  std::function<void(journal*, std::string, std::int64_t)> chain = [&](journal* j, std::string id, std::int64_t seq) {
    j->write({event(id, seq, {"all"}), event(id, seq + 1, {"all"})}, [&, j, id, seq](done_t d) {
      if (d) {
        ++failed;
        return;
      }
      acked += 2;
      if (seq + 2 <= 2 * writes_per_id) chain(j, id, seq + 2);
    });
  };
  for (int i = 0; i < ids; ++i) chain(i % 2 == 0 ? f.stores().journal.get() : second.journal.get(), "id" + std::to_string(i), 1);

  std::set<std::pair<std::string, std::int64_t>> seen;
  std::int64_t after = 0;
  const auto deadline = std::chrono::steady_clock::now() + 50s;
  while (std::chrono::steady_clock::now() < deadline && failed == 0) {
    const bool all_acked = acked.load() == ids * writes_per_id * 2;
    auto page = f.by_tag("all", after, 100);
    REQUIRE(page);
    for (const auto& t : *page) {
      CHECK(t.offset > after);
      after = t.offset;
      CHECK(seen.emplace(t.event.persistence_id, t.event.sequence_nr).second);
    }
    if (all_acked && page->empty()) break;
  }
  CHECK(failed == 0);
  CHECK(seen.size() == std::size_t(ids * writes_per_id * 2));
}

TEST_CASE("durable state is written revision by revision", "[postgres]") {
  pg_fixture f("state");
  auto& states = *f.stores().states;
  auto upsert = [&](std::int64_t revision, std::string tag) {
    state_repr s;
    s.persistence_id = "s";
    s.revision = revision;
    s.payload.data = {1, 2, 3};
    s.payload.manifest = "m";
    s.tag = std::move(tag);
    return await<done_t>([&](auto cb) { states.upsert(s, cb); });
  };
  CHECK(upsert(2, "x")->what == store_error::kind::conflict);
  CHECK_FALSE(upsert(1, "x"));
  CHECK(upsert(1, "x")->what == store_error::kind::conflict);
  CHECK_FALSE(upsert(2, "y"));
  const auto got = await<expected<std::optional<state_repr>, store_error>>([&](auto cb) { states.get("s", cb); });
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->revision == 2);
  CHECK((*got)->tag == "y");
  CHECK(await<done_t>([&](auto cb) { states.remove("s", 1, cb); })->what == store_error::kind::conflict);
  CHECK_FALSE(await<done_t>([&](auto cb) { states.remove("s", 2, cb); }));
  CHECK_FALSE(await<done_t>([&](auto cb) { states.remove("s", 0, cb); }));
}

TEST_CASE("a server stopped mid-batch keeps every acknowledged write and no half write", "[postgres]") {
  // 1. A server of the case's own; 60 ids, each a chain of atomic writes of 3 events.
  own_server server;
  pg_fixture f("crash", 4, server.connection());
  constexpr int ids = 60;
  std::mutex m;
  std::map<std::string, std::int64_t> acked;           // highest acknowledged per id
  std::map<std::string, store_error::kind> stopped_by;  // why each chain ended
  std::atomic<int> total{0}, running{ids};
  std::function<void(std::string, std::int64_t)> chain = [&](std::string id, std::int64_t first) {
    f.j().write(events(id, first, 3), [&, id, first](done_t d) {
      if (d) {
        {
          std::lock_guard lock(m);
          stopped_by[id] = d->what;
        }
        --running;
        return;
      }
      {
        std::lock_guard lock(m);
        acked[id] = first + 2;
      }
      ++total;
      chain(id, first + 3);
    });
  };
  for (int i = 0; i < ids; ++i) chain("p" + std::to_string(i), 1);

  // 2. Once writes flow, the server stops at once (no shutdown checkpoint) with writes in flight.
  REQUIRE(eventually([&] { return total.load() >= 300; }));
  REQUIRE(server.script("crash"));

  // 3. Every chain ends with `unavailable` (none hangs), and so do new calls.
  REQUIRE(eventually([&] { return running.load() == 0; }));
  for (const auto& [id, kind] : stopped_by) {
    INFO(id);
    CHECK(kind == store_error::kind::unavailable);
  }
  const auto during = f.write(events("new", 1, 3));
  REQUIRE(during);
  CHECK(during->what == store_error::kind::unavailable);
  CHECK_THAT(during->message, Catch::Contains("PostgreSQL server"));
  const auto h = f.highest("p0");
  REQUIRE_FALSE(h);
  CHECK(h.error().what == store_error::kind::unavailable);

  // 4. Restarted (it replays its WAL): the same plugin reconnects.
  REQUIRE(server.script("resume"));
  REQUIRE(eventually([&] { return bool(f.highest("p0")); }));
  for (int i = 0; i < ids; ++i) {
    const std::string id = "p" + std::to_string(i);
    INFO(id);
    const auto highest = f.highest(id);
    REQUIRE(highest);
    CHECK(*highest >= acked[id]);
    CHECK(*highest % 3 == 0);
    const auto all = f.read(id);
    REQUIRE(all);
    REQUIRE(std::int64_t(all->size()) == *highest);
    for (std::size_t k = 0; k < all->size(); ++k) CHECK(all->at(k).sequence_nr == std::int64_t(k) + 1);
  }
  REQUIRE_FALSE(f.write(events("new", 1, 3)));
}

TEST_CASE("throughput: 1,000 ids x 100 events of 100 bytes", "[.][postgres-bench]") {
  pg_fixture f("bench", 4);
  constexpr int ids = 1000, per_id = 100;
  std::atomic<int> done{0}, failed{0};
  std::function<void(std::string, std::int64_t)> chain = [&](std::string id, std::int64_t seq) {
    std::vector<persistent_repr> one{event(id, seq, {}, 100)};
    f.j().write(std::move(one), [&, id, seq](done_t d) {
      if (d) {
        ++failed;
        return;
      }
      if (++done, seq < per_id) chain(id, seq + 1);
    });
  };
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < ids; ++i) chain("b" + std::to_string(i), 1);
  REQUIRE(eventually([&] { return done.load() + failed.load() >= ids * per_id || failed > 0; }, 300s));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(failed == 0);
  WARN("events/s: " << static_cast<long>(ids * per_id / seconds) << " (" << seconds << " s)");
}
