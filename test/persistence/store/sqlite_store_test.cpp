// The SQLite plugin's own cases, beyond the conformance suite: rows that cannot be read
// back, paths that cannot be opened, a plugin dropped by its own callback, and (hidden,
// [.bench]) a throughput figure for group commit.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <catch2/catch.hpp>

#include "persistence/store/store_calls.hpp"
#include "support/temp_files.hpp"
#include "troupe/persistence/settings.hpp"

namespace {

using namespace troupe::persistence;
using namespace troupe::persistence::conformance;
using troupe::expected;

/// A database in a directory of its own, with the plugin open on it.
struct sqlite_db {
  troupe::test_support::temp_dir dir{"troupe-sqlite-own"};
  std::string path = (dir.path() / "store.db").string();

  plugin open() const {
    sqlite_settings s;
    s.path = path;
    auto p = open_sqlite_plugin(s);
    if (!p) FAIL(p.error());
    return std::move(p).value();
  }

  /// Runs `sql` on a connection of its own, as another program damaging the file would.
  void exec(const std::string& sql) const {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* message = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
    const std::string why = message ? message : "";
    sqlite3_free(message);
    sqlite3_close(db);
    INFO(sql << ": " << why);
    REQUIRE(rc == SQLITE_OK);
  }
};

void require_corrupt(const store_error& e, const std::vector<std::string>& words) {
  INFO("message: " << e.message);
  CHECK(e.what == store_error::kind::corrupt);
  for (const auto& w : words) CHECK(e.message.find(w) != std::string::npos);
}

}  // namespace

TEST_CASE("sqlite: a row that cannot be read back is corrupt, naming the id and sequence number", "[unit][persistence]") {
  sqlite_db db;
  plugin p = db.open();
  REQUIRE_FALSE(write(p, events("bad", 1, 1)));
  const std::string row = "INSERT INTO journal (persistence_id, sequence_nr, serializer, manifest, version, payload, "
                          "tags, writer_uuid, timestamp_ms) VALUES ('bad', 2, ";

  SECTION("a payload of the wrong type") {
    db.exec(row + "1, 'm', 1, 42, '', 'w', 0)");
    auto r = read_result(p, "bad");
    REQUIRE_FALSE(r.has_value());
    require_corrupt(r.error(), {"\"bad\"", "2", "payload"});
  }
  SECTION("a version that is text") {
    db.exec(row + "1, 'm', 'one', x'00', '', 'w', 0)");
    auto r = read_result(p, "bad");
    REQUIRE_FALSE(r.has_value());
    require_corrupt(r.error(), {"\"bad\"", "2", "version"});
  }
  SECTION("a serializer out of range") {
    db.exec(row + "-1, 'm', 1, x'00', '', 'w', 0)");
    auto r = read_result(p, "bad");
    REQUIRE_FALSE(r.has_value());
    require_corrupt(r.error(), {"\"bad\"", "2", "serializer"});
  }
  SECTION("tags that are not in the stored form") {
    db.exec(row + "1, 'm', 1, x'00', '9:short', 'w', 0)");
    auto r = read_result(p, "bad");
    REQUIRE_FALSE(r.has_value());
    require_corrupt(r.error(), {"\"bad\"", "2", "tags"});
  }
  SECTION("a tagged event whose journal row is gone") {
    db.exec("INSERT INTO event_tag (persistence_id, sequence_nr, tag) VALUES ('bad', 7, 'lost')");
    auto r = await<expected<std::vector<tagged_event>, store_error>>(
        [&](auto cb) { p.journal->events_by_tag("lost", 0, 10, cb); });
    REQUIRE_FALSE(r.has_value());
    require_corrupt(r.error(), {"\"bad\"", "7"});
  }
  SECTION("a snapshot and a state of the wrong type") {
    db.exec("INSERT INTO snapshot VALUES ('bad', 5, 0, 1, 'm', 1, 7)");
    auto s = await<expected<std::optional<snapshot_repr>, store_error>>(
        [&](auto cb) { p.snapshots->load("bad", 100, cb); });
    REQUIRE_FALSE(s.has_value());
    require_corrupt(s.error(), {"\"bad\"", "5", "payload"});
    db.exec("INSERT INTO durable_state VALUES ('bad', 3, 1, x'6d', 1, x'00', '')");
    auto g = await<expected<std::optional<state_repr>, store_error>>([&](auto cb) { p.states->get("bad", cb); });
    REQUIRE_FALSE(g.has_value());
    require_corrupt(g.error(), {"\"bad\"", "3", "manifest"});
  }
}

TEST_CASE("sqlite: a path that cannot be opened is an error naming it", "[unit][persistence]") {
  troupe::test_support::temp_dir dir{"troupe-sqlite-path"};
  for (const auto& path : std::vector<std::string>{"/nonexistent-troupe-dir/sub/store.db", dir.path().string()}) {
    sqlite_settings s;
    s.path = path;
    const auto p = open_sqlite_plugin(s);
    REQUIRE_FALSE(p.has_value());
    INFO(p.error());
    CHECK(p.error().find(path) != std::string::npos);
  }
  sqlite_settings s;
  s.path = (dir.path() / "store.db").string();
  s.synchronous = "sometimes";
  const auto p = open_sqlite_plugin(s);
  REQUIRE_FALSE(p.has_value());
  CHECK(p.error().find("synchronous") != std::string::npos);
}

TEST_CASE("sqlite: a callback may drop the last reference to the plugin", "[unit][persistence]") {
  sqlite_db db;
  auto held = std::make_shared<plugin>(db.open());
  auto done = std::make_shared<std::promise<write_result>>();
  auto result = done->get_future();
  auto journal = held->journal;
  journal->write(events("last-ref", 1, 2), [held, done](write_result r) mutable {
    held.reset();
    done->set_value(std::move(r));
  });
  held.reset();
  journal.reset();  // the callback now holds the last copy, and drops it on the writer thread
  REQUIRE(result.wait_for(callback_deadline) == std::future_status::ready);
  CHECK_FALSE(result.get().has_value());
  // The writer thread finishes by itself; the data is there for the next opener.
  plugin p = db.open();
  CHECK(seqs(read(p, "last-ref")) == range(1, 2));
}

TEST_CASE("sqlite: throughput of many writes in flight", "[.bench][persistence]") {
  sqlite_db db;
  plugin p = db.open();
  constexpr int id_count = 1000;
  constexpr int per_id = 100;
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  auto left = std::make_shared<std::atomic<int>>(id_count * per_id);
  auto failed = std::make_shared<std::atomic<int>>(0);
  const auto start = std::chrono::steady_clock::now();
  for (int s = 1; s <= per_id; ++s) {
    for (int i = 0; i < id_count; ++i) {
      p.journal->write({event("bench-" + std::to_string(i), s, {}, 100)}, [done, left, failed](write_result r) {
        if (r) ++*failed;
        if (--*left == 0) done->set_value();
      });
    }
  }
  REQUIRE(finished.wait_for(std::chrono::seconds(120)) == std::future_status::ready);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(*failed == 0);
  std::printf("sqlite: %d events of 100 bytes (%d ids x %d) in %.2f s: %.0f events/s\n", id_count * per_id, id_count,
              per_id, seconds, id_count * per_id / seconds);
}

TEST_CASE("sqlite: a write that fails after it has changed the batch is undone alone", "[unit][persistence]") {
  sqlite_db db;
  plugin p = db.open();
  // Another program left a row at sequence number 2 of "taken" without recording it as
  // the highest: the check of a write of 1..3 passes, and its second insert fails.
  db.exec("INSERT INTO journal (persistence_id, sequence_nr, serializer, manifest, version, payload, tags, "
          "writer_uuid, timestamp_ms) VALUES ('taken', 2, 1, 'm', 1, x'00', '', 'other', 0)");
  // Both writes in flight at once, so that the plugin usually puts them in one batch.
  auto first = std::make_shared<std::promise<write_result>>();
  auto second = std::make_shared<std::promise<write_result>>();
  p.journal->write(events("taken", 1, 3), [first](write_result r) { first->set_value(std::move(r)); });
  p.journal->write(events("free", 1, 3), [second](write_result r) { second->set_value(std::move(r)); });
  auto f1 = first->get_future();
  auto f2 = second->get_future();
  REQUIRE(f1.wait_for(callback_deadline) == std::future_status::ready);
  REQUIRE(f2.wait_for(callback_deadline) == std::future_status::ready);
  const auto failed = f1.get();
  REQUIRE(failed);
  CHECK(failed->what == store_error::kind::conflict);
  CHECK(failed->message.find("\"taken\"") != std::string::npos);
  CHECK_FALSE(f2.get());
  CHECK(seqs(read(p, "free")) == range(1, 3));
  CHECK(seqs(read(p, "taken")) == std::vector<std::int64_t>{2});  // the other program's row only
}
