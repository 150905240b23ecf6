// store_conformance: the rules of troupe/persistence/store.hpp, checked on every plugin by
// one suite. A test file defines its fixtures and tags, then includes this header:
//
//   struct sqlite_fixture {
//     troupe::persistence::plugin make();    // an empty store (called once per test case)
//     troupe::persistence::plugin reopen();  // the same data, opened again
//   };
//   using troupe_store_fixtures = std::tuple<in_memory_fixture, sqlite_fixture>;
//   #define TROUPE_STORE_TAGS "[unit][persistence]"
//   #include "persistence/store_conformance.hpp"
//
// The fixture contract:
// - A fixture is default-constructible; each test case constructs one and calls `make()`
//   once, first; the data it opens is the test case's own (a fresh file, schema, ...) and
//   is gone when the fixture is destroyed.
// - `reopen()` opens the data `make()` opened again, as a restarted process would. The
//   test drops every copy of the previous plugin before it calls `reopen()`, so a plugin
//   that owns threads or connections has closed them by then. A plugin without storage
//   (in-memory) may hand back the plugin it keeps.
// - The plugin's callbacks may run on any thread; the suite waits for each with a 10 s
//   deadline (`await` in store/store_calls.hpp) and FAILs when it passes. Nothing here
//   sleeps. Each case takes well under a second on a local database.
//
// The cases are named "store: ..." and tagged TROUPE_STORE_TAGS plus "[store]".
#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "persistence/store/store_calls.hpp"
#include "troupe/persistence/store.hpp"

#ifndef TROUPE_STORE_TAGS
#error "define TROUPE_STORE_TAGS (the Catch tags of the suite's cases) before including store_conformance.hpp"
#endif

// ---------------------------------------------------------------------------------------
// The cases.

TEMPLATE_LIST_TEST_CASE("store: a written event reads back whole", TROUPE_STORE_TAGS "[store]", troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();

  auto first = event("round-trip", 1, {"green", "blue"}, 1000);
  first.payload.serializer = 4000000000u;
  first.payload.version = 7;
  first.payload.manifest = std::string("app.Event\0with-nul", 18);
  first.writer_uuid = "3f0c6a0e-2b7e-4a8e-9d5e-0123456789ab";
  auto empty = event("round-trip", 2, {}, 0);
  empty.payload.manifest = "";
  empty.timestamp_ms = -5;
  auto odd_tags = event("round-trip", 3, {"", "with:colon", std::string("nul\0tag", 7)}, 1);

  REQUIRE_FALSE(write(p, first));
  REQUIRE_FALSE(write(p, empty));
  REQUIRE_FALSE(write(p, odd_tags));

  const auto got = read(p, "round-trip");
  REQUIRE(got.size() == 3);
  require_same(got[0], first);
  require_same(got[1], empty);
  require_same(got[2], odd_tags);
  CHECK(read(p, "another-id").empty());
}

TEMPLATE_LIST_TEST_CASE("store: highest_sequence_nr", TROUPE_STORE_TAGS "[store]", troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();

  CHECK(highest(p, "h") == 0);
  REQUIRE_FALSE(write(p, events("h", 1, 1)));
  CHECK(highest(p, "h") == 1);
  REQUIRE_FALSE(write(p, events("h", 2, 4)));
  CHECK(highest(p, "h") == 4);
  CHECK(highest(p, "h-other") == 0);
}

TEMPLATE_LIST_TEST_CASE("store: read ranges and limit", TROUPE_STORE_TAGS "[store]", troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  REQUIRE_FALSE(write(p, events("r", 1, 10)));
  REQUIRE_FALSE(write(p, events("r-neighbour", 1, 3)));

  CHECK(seqs(read(p, "r")) == range(1, 10));
  CHECK(seqs(read(p, "r", 3, 6)) == range(3, 6));
  CHECK(seqs(read(p, "r", 3, 6, 2)) == range(3, 4));
  CHECK(seqs(read(p, "r", 8, 100)) == range(8, 10));
  CHECK(seqs(read(p, "r", 0, 2)) == range(1, 2));
  CHECK(seqs(read(p, "r", 5, 5)) == range(5, 5));
  CHECK(read(p, "r", 11, 20).empty());
  CHECK(read(p, "r", 6, 5).empty());
  CHECK(read(p, "r", 1, 10, 0).empty());
}

TEMPLATE_LIST_TEST_CASE("store: an atomic write is kept whole", TROUPE_STORE_TAGS "[store]", troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();

  REQUIRE_FALSE(write(p, events("a", 1, 5)));
  CHECK(seqs(read(p, "a")) == range(1, 5));
  CHECK(highest(p, "a") == 5);

  SECTION("events that are not consecutive are invalid, and nothing of them is kept") {
    auto gap = events("a", 6, 7);
    gap.push_back(event("a", 9));
    require_error(write(p, gap), store_error::kind::invalid, {"a"});
    auto mixed = events("a", 6, 7);
    mixed.push_back(event("b", 8));
    require_error(write(p, mixed), store_error::kind::invalid, {"a"});
    require_error(write(p, std::vector<persistent_repr>{}), store_error::kind::invalid);
    require_error(write(p, event("", 1)), store_error::kind::invalid);
    CHECK(highest(p, "a") == 5);
    CHECK(read(p, "b").empty());
    CHECK(seqs(read(p, "a")) == range(1, 5));
  }
  SECTION("a conflicting atomic write keeps none of its events") {
    require_error(write(p, events("a", 5, 8)), store_error::kind::conflict, {"\"a\"", "5"});
    CHECK(highest(p, "a") == 5);
    CHECK(seqs(read(p, "a")) == range(1, 5));
  }
}

TEMPLATE_LIST_TEST_CASE("store: a taken sequence number or a gap is a conflict", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  REQUIRE_FALSE(write(p, events("c", 1, 3)));
  const auto before = read(p, "c");

  auto rival = event("c", 3);
  rival.writer_uuid = "rival";
  rival.payload.data = {9, 9, 9};
  require_error(write(p, rival), store_error::kind::conflict, {"\"c\"", "3"});
  require_error(write(p, event("c", 1)), store_error::kind::conflict, {"\"c\"", "1"});
  require_error(write(p, events("c", 5, 6)), store_error::kind::conflict, {"\"c\"", "5"});
  require_error(write(p, event("fresh", 2)), store_error::kind::conflict, {"\"fresh\"", "2"});
  require_error(write(p, event("fresh", 0)), store_error::kind::conflict, {"\"fresh\"", "0"});

  const auto after = read(p, "c");
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) require_same(after[i], before[i]);
  CHECK(highest(p, "c") == 3);
  CHECK(highest(p, "fresh") == 0);
  REQUIRE_FALSE(write(p, event("c", 4)));
  CHECK(seqs(read(p, "c")) == range(1, 4));
}

TEMPLATE_LIST_TEST_CASE("store: two concurrent writers of one id", TROUPE_STORE_TAGS "[store]", troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  constexpr std::int64_t n = 200;

  // Each writer tries every sequence number 1..n in turn, waiting for each outcome: the
  // first attempt at a number wins it, the other gets a conflict. Catch's assertions are
  // not thread-safe, so the threads only record and the test checks afterwards.
  struct outcome {
    std::vector<std::int64_t> won;
    std::vector<std::int64_t> lost;
    std::vector<std::string> unexpected;  // other errors and timeouts
  };
  const auto writer = [&](const std::string& uuid, outcome& out) {
    for (std::int64_t s = 1; s <= n; ++s) {
      auto e = event("contended", s);
      e.writer_uuid = uuid;
      auto promise = std::make_shared<std::promise<write_result>>();
      auto future = promise->get_future();
      p.journal->write({std::move(e)}, [promise](write_result r) { promise->set_value(std::move(r)); });
      if (future.wait_for(callback_deadline) != std::future_status::ready) {
        out.unexpected.push_back("timeout at " + std::to_string(s));
        return;
      }
      const auto r = future.get();
      if (!r) {
        out.won.push_back(s);
      } else if (r->what == store_error::kind::conflict) {
        out.lost.push_back(s);
      } else {
        out.unexpected.push_back(r->message);
      }
    }
  };
  outcome a, b;
  std::thread ta(writer, "writer-a", std::ref(a));
  std::thread tb(writer, "writer-b", std::ref(b));
  ta.join();
  tb.join();

  CHECK(a.unexpected.empty());
  CHECK(b.unexpected.empty());
  CHECK(a.won.size() + b.won.size() == std::size_t(n));
  CHECK(a.lost.size() + b.lost.size() == std::size_t(n));
  const auto stored = read(p, "contended");
  CHECK(seqs(stored) == range(1, n));
  std::map<std::int64_t, std::string> winner;
  for (auto s : a.won) winner[s] = "writer-a";
  for (auto s : b.won) winner[s] = "writer-b";
  REQUIRE(winner.size() == std::size_t(n));
  for (const auto& e : stored) CHECK(e.writer_uuid == winner[e.sequence_nr]);
  CHECK(highest(p, "contended") == n);
}

TEMPLATE_LIST_TEST_CASE("store: delete_to keeps the highest sequence number", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  std::vector<persistent_repr> evs;
  for (std::int64_t s = 1; s <= 5; ++s) evs.push_back(event("d", s, {"deleted-tag"}));
  REQUIRE_FALSE(write(p, evs));

  REQUIRE_FALSE(delete_to(p, "d", 3));
  CHECK(seqs(read(p, "d")) == range(4, 5));
  CHECK(highest(p, "d") == 5);
  CHECK(names(by_tag(p, "deleted-tag")) == std::vector<std::string>{"d:4", "d:5"});

  REQUIRE_FALSE(delete_to(p, "d", 100));
  CHECK(read(p, "d").empty());
  CHECK(highest(p, "d") == 5);
  CHECK(by_tag(p, "deleted-tag").empty());
  CHECK(ids(p) == std::vector<std::string>{"d"});

  require_error(write(p, event("d", 1)), store_error::kind::conflict, {"\"d\"", "1"});
  REQUIRE_FALSE(write(p, event("d", 6)));
  CHECK(seqs(read(p, "d")) == range(6, 6));
  REQUIRE_FALSE(delete_to(p, "never-written", 10));
  CHECK(highest(p, "never-written") == 0);
}

TEMPLATE_LIST_TEST_CASE("store: events_by_tag in offset order, resumable, limited", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  REQUIRE_FALSE(write(p, event("t1", 1, {"red"})));
  REQUIRE_FALSE(write(p, event("t2", 1, {"red", "blue"})));
  REQUIRE_FALSE(write(p, event("t1", 2, {})));
  REQUIRE_FALSE(write(p, std::vector<persistent_repr>{event("t1", 3, {"blue"}), event("t1", 4, {"red"})}));
  REQUIRE_FALSE(write(p, event("t0", 1, {"red"})));

  const auto red = by_tag(p, "red");
  CHECK(names(red) == std::vector<std::string>{"t1:1", "t2:1", "t1:4", "t0:1"});
  for (std::size_t i = 1; i < red.size(); ++i) CHECK(red[i - 1].offset < red[i].offset);
  REQUIRE(red.size() == 4);
  require_same(red[1].event, event("t2", 1, {"red", "blue"}));
  CHECK(names(by_tag(p, "blue")) == std::vector<std::string>{"t2:1", "t1:3"});
  CHECK(by_tag(p, "green").empty());

  // A read model resumes after the last offset it saw, a page at a time.
  std::vector<std::string> paged;
  std::int64_t after = 0;
  for (int page = 0; page < 10; ++page) {
    const auto got = by_tag(p, "red", after, 3);
    CHECK(got.size() <= 3);
    if (got.empty()) break;
    for (const auto& t : got) paged.push_back(t.event.persistence_id + ":" + std::to_string(t.event.sequence_nr));
    after = got.back().offset;
  }
  CHECK(paged == names(red));
  CHECK(names(by_tag(p, "red", red[1].offset)) == std::vector<std::string>{"t1:4", "t0:1"});
  CHECK(by_tag(p, "red", red.back().offset).empty());
  CHECK(by_tag(p, "red", 0, 0).empty());

  REQUIRE_FALSE(write(p, event("t2", 2, {"red"})));
  const auto later = by_tag(p, "red", red.back().offset);
  CHECK(names(later) == std::vector<std::string>{"t2:2"});
}

TEMPLATE_LIST_TEST_CASE("store: persistence_ids ascending, after, limit", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  CHECK(ids(p).empty());
  for (const char* id : {"m", "b", "z", "a", "ab"}) REQUIRE_FALSE(write(p, event(id, 1)));
  REQUIRE_FALSE(write(p, event("b", 2)));

  CHECK(ids(p) == std::vector<std::string>{"a", "ab", "b", "m", "z"});
  CHECK(ids(p, "ab") == std::vector<std::string>{"b", "m", "z"});
  CHECK(ids(p, "", 2) == std::vector<std::string>{"a", "ab"});
  CHECK(ids(p, "b", 2) == std::vector<std::string>{"m", "z"});
  CHECK(ids(p, "z").empty());
  CHECK(ids(p, "", 0).empty());
}

TEMPLATE_LIST_TEST_CASE("store: snapshots save, load the latest, delete_to", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  CHECK_FALSE(load(p, "s").has_value());
  for (std::int64_t seq : {10, 20, 30}) REQUIRE_FALSE(save(p, snapshot("s", seq)));
  REQUIRE_FALSE(save(p, snapshot("s-other", 25)));

  auto latest = load(p, "s");
  REQUIRE(latest.has_value());
  CHECK(latest->persistence_id == "s");
  CHECK(latest->sequence_nr == 30);
  CHECK(latest->timestamp_ms == snapshot("s", 30).timestamp_ms);
  require_same(latest->payload, snapshot("s", 30).payload);
  CHECK(load(p, "s", 29)->sequence_nr == 20);
  CHECK(load(p, "s", 20)->sequence_nr == 20);
  CHECK_FALSE(load(p, "s", 9).has_value());

  auto replacement = snapshot("s", 20, 5);
  replacement.payload.manifest = "test.state.v2";
  REQUIRE_FALSE(save(p, replacement));
  require_same(load(p, "s", 25)->payload, replacement.payload);

  REQUIRE_FALSE(delete_snapshots(p, "s", 20));
  CHECK_FALSE(load(p, "s", 25).has_value());
  CHECK(load(p, "s")->sequence_nr == 30);
  CHECK(load(p, "s-other")->sequence_nr == 25);
  REQUIRE_FALSE(delete_snapshots(p, "s", 1000));
  CHECK_FALSE(load(p, "s").has_value());
}

TEMPLATE_LIST_TEST_CASE("store: durable state get, upsert by revision, remove", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  CHECK_FALSE(get(p, "st").has_value());

  require_error(upsert(p, state("st", 2)), store_error::kind::conflict, {"\"st\"", "2"});
  REQUIRE_FALSE(upsert(p, state("st", 1, "carts")));
  auto got = get(p, "st");
  REQUIRE(got.has_value());
  CHECK(got->persistence_id == "st");
  CHECK(got->revision == 1);
  CHECK(got->tag == "carts");
  require_same(got->payload, state("st", 1).payload);

  REQUIRE_FALSE(upsert(p, state("st", 2)));
  require_error(upsert(p, state("st", 2, "stale")), store_error::kind::conflict, {"\"st\"", "2"});
  require_error(upsert(p, state("st", 1)), store_error::kind::conflict, {"\"st\"", "1"});
  got = get(p, "st");
  REQUIRE(got.has_value());
  CHECK(got->revision == 2);
  CHECK(got->tag.empty());
  require_same(got->payload, state("st", 2).payload);
  require_error(upsert(p, state("", 1)), store_error::kind::invalid);

  require_error(remove(p, "st", 1), store_error::kind::conflict, {"\"st\"", "1"});
  CHECK(get(p, "st").has_value());
  REQUIRE_FALSE(remove(p, "st", 2));
  CHECK_FALSE(get(p, "st").has_value());
  REQUIRE_FALSE(upsert(p, state("st", 1)));
  CHECK(get(p, "st")->revision == 1);
}

TEMPLATE_LIST_TEST_CASE("store: reopening keeps everything", TROUPE_STORE_TAGS "[store]", troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  std::int64_t last_offset = 0;
  {
    plugin p = fixture.make();
    std::vector<persistent_repr> evs;
    for (std::int64_t s = 1; s <= 6; ++s) evs.push_back(event("keep", s, {"kept"}, 300));
    REQUIRE_FALSE(write(p, evs));
    REQUIRE_FALSE(write(p, events("gone", 1, 2)));
    REQUIRE_FALSE(delete_to(p, "keep", 2));
    REQUIRE_FALSE(delete_to(p, "gone", 2));
    REQUIRE_FALSE(save(p, snapshot("keep", 4)));
    REQUIRE_FALSE(upsert(p, state("keep-state", 1, "t")));
    REQUIRE_FALSE(upsert(p, state("keep-state", 2, "t")));
    last_offset = by_tag(p, "kept").back().offset;
  }
  plugin p = fixture.reopen();

  const auto evs = read(p, "keep");
  REQUIRE(seqs(evs) == range(3, 6));
  for (const auto& e : evs) require_same(e, event("keep", e.sequence_nr, {"kept"}, 300));
  CHECK(highest(p, "keep") == 6);
  CHECK(highest(p, "gone") == 2);
  CHECK(read(p, "gone").empty());
  CHECK(ids(p) == std::vector<std::string>{"gone", "keep"});
  CHECK(names(by_tag(p, "kept")) == std::vector<std::string>{"keep:3", "keep:4", "keep:5", "keep:6"});
  CHECK(load(p, "keep")->sequence_nr == 4);
  CHECK(get(p, "keep-state")->revision == 2);

  require_error(write(p, event("keep", 6)), store_error::kind::conflict, {"\"keep\"", "6"});
  REQUIRE_FALSE(write(p, event("keep", 7, {"kept"})));
  const auto resumed = by_tag(p, "kept", last_offset);
  REQUIRE(names(resumed) == std::vector<std::string>{"keep:7"});
  CHECK(resumed[0].offset > last_offset);
  require_error(upsert(p, state("keep-state", 2)), store_error::kind::conflict, {"\"keep-state\""});
}

TEMPLATE_LIST_TEST_CASE("store: many writes in flight at once are all kept", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  plugin p = fixture.make();
  constexpr int id_count = 200;
  constexpr int writes_per_id = 10;
  constexpr int total = id_count * writes_per_id;

  // All issued without waiting: per id in sequence order, so every one must succeed (a
  // plugin that batches them commits them in groups).
  struct tally {
    std::mutex mutex;
    std::vector<std::string> failures;
    int acknowledged = 0;
    std::promise<void> all_done;
  };
  auto t = std::make_shared<tally>();
  auto all_done = t->all_done.get_future();
  for (int w = 1; w <= writes_per_id; ++w) {
    for (int i = 0; i < id_count; ++i) {
      const std::string id = "many-" + std::to_string(i);
      p.journal->write({event(id, w, w % 3 == 0 ? std::vector<std::string>{"third"} : std::vector<std::string>{}, 100)},
                       [t, id, w](write_result r) {
                         std::lock_guard lock(t->mutex);
                         if (r) t->failures.push_back(id + ":" + std::to_string(w) + " " + r->message);
                         if (++t->acknowledged == total) t->all_done.set_value();
                       });
    }
  }
  REQUIRE(all_done.wait_for(callback_deadline) == std::future_status::ready);
  {
    std::lock_guard lock(t->mutex);
    CHECK(t->failures.empty());
    if (!t->failures.empty()) FAIL("first failure: " << t->failures.front());
  }
  for (int i = 0; i < id_count; ++i) {
    const std::string id = "many-" + std::to_string(i);
    const auto evs = read(p, id);
    REQUIRE(seqs(evs) == range(1, writes_per_id));
    require_same(evs.back(), event(id, writes_per_id, {}, 100));
  }
  CHECK(ids(p).size() == std::size_t(id_count));
  CHECK(by_tag(p, "third").size() == std::size_t(id_count * (writes_per_id / 3)));
}

TEMPLATE_LIST_TEST_CASE("store: dropping the plugin finishes the calls in flight", TROUPE_STORE_TAGS "[store]",
                        troupe_store_fixtures) {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  TestType fixture;
  constexpr int count = 300;
  struct tally {
    std::mutex mutex;
    int kept = 0;
    int unavailable = 0;
    std::vector<std::string> other;
  };
  auto t = std::make_shared<tally>();
  {
    plugin p = fixture.make();
    for (int s = 1; s <= count; ++s) {
      p.journal->write({event("in-flight", s)}, [t](write_result r) {
        std::lock_guard lock(t->mutex);
        if (!r) {
          ++t->kept;
        } else if (r->what == store_error::kind::unavailable) {
          ++t->unavailable;
        } else {
          t->other.push_back(r->message);
        }
      });
    }
  }
  // Every callback has run by the time the last copy of the plugin is gone: each write was
  // kept or failed as unavailable, and the kept ones are the first ones.
  int kept = 0;
  {
    std::lock_guard lock(t->mutex);
    CHECK(t->kept + t->unavailable == count);
    CHECK(t->other.empty());
    kept = t->kept;
  }
  plugin p = fixture.reopen();
  CHECK(seqs(read(p, "in-flight")) == range(1, kept));
}
