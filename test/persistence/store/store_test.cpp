// The plugin conformance suite (../store_conformance.hpp) on the in-memory plugin and on the
// SQLite plugin (a fresh database file in a temporary directory per test case).
#include <tuple>

#include <catch2/catch.hpp>

#include "support/temp_files.hpp"
#include "troupe/persistence/settings.hpp"
#include "troupe/persistence/store.hpp"

namespace {

/// The in-memory plugin: `reopen` hands back the same plugin (it has no storage to reopen).
struct in_memory_fixture {
  troupe::persistence::plugin make() { return kept_ = troupe::persistence::make_in_memory_plugin(); }
  troupe::persistence::plugin reopen() { return kept_; }

 private:
  troupe::persistence::plugin kept_;
};

/// The SQLite plugin on `store.db` in a directory of the test case's own.
struct sqlite_fixture {
  troupe::persistence::plugin make() { return open(); }
  troupe::persistence::plugin reopen() { return open(); }

 private:
  troupe::persistence::plugin open() {
    troupe::persistence::sqlite_settings s;
    s.path = (dir_.path() / "store.db").string();
    auto p = troupe::persistence::open_sqlite_plugin(s);
    if (!p) FAIL(p.error());
    return std::move(p).value();
  }

  troupe::test_support::temp_dir dir_{"troupe-sqlite-store"};
};

}  // namespace

using troupe_store_fixtures = std::tuple<in_memory_fixture, sqlite_fixture>;
#define TROUPE_STORE_TAGS "[unit][persistence]"
#include "persistence/store_conformance.hpp"
